//go:build linux

package main

// CPU accounting for BenchmarkServeVsSMTPSink: on a 2-core machine the send
// path is CPU-bound, and the wall-clock ratio moves with whatever else the
// machine runs. The CPU each side spends per message does not (much), so the
// benchmark also reports it for every process on the path: serve, Postgres
// (every process of the test cluster, exited backends included) and smtp-sink
// for the candidate; smtp-source and smtp-sink for the reference.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procTimes reads utime+stime (and, with children, cutime+cstime: the reaped
// children's) of a process from /proc, and its parent's pid.
func procTimes(pid int, children bool) (cpu time.Duration, ppid int, err error) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: the
	// fields after its last ')' start at field 3 (state).
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no ')' in %q", pid, s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	num := func(k int) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	ppid = int(num(1))         // field 4
	ticks := num(11) + num(12) // utime, stime: fields 14, 15
	if children {
		ticks += num(13) + num(14) // cutime, cstime: fields 16, 17
	}
	return time.Duration(ticks) * time.Second / clockTicks, ppid, nil
}

// postmasterPID finds the test cluster's postmaster: the parent of its
// checkpointer, which every running cluster has.
func postmasterPID(ctx context.Context, db *sqlx.DB) (int, error) {
	var pid int
	if err := db.GetContext(ctx, &pid, `SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'`); err != nil {
		return 0, fmt.Errorf("finding the checkpointer: %w", err)
	}
	_, ppid, err := procTimes(pid, false)
	if err != nil {
		return 0, fmt.Errorf("the cluster runs on another machine or in another PID namespace: %w", err)
	}
	return ppid, nil
}

// clusterCPU is the CPU time of a postmaster and all its processes: the live
// ones, and those already exited (counted in the postmaster's children times).
func clusterCPU(postmaster int) (time.Duration, error) {
	total, _, err := procTimes(postmaster, true)
	if err != nil {
		return 0, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == postmaster {
			continue
		}
		cpu, ppid, err := procTimes(pid, true)
		if err != nil || ppid != postmaster {
			continue // gone since the listing, or not the cluster's
		}
		total += cpu
	}
	return total, nil
}

// cpuMeter samples the CPU of the cluster and of smtp-sink around a run.
type cpuMeter struct {
	postmaster, sink int
}

type cpuSample struct{ pg, sink time.Duration }

func (m cpuMeter) sample() (cpuSample, error) {
	pg, err := clusterCPU(m.postmaster)
	if err != nil {
		return cpuSample{}, err
	}
	sink, _, err := procTimes(m.sink, true)
	if err != nil {
		return cpuSample{}, err
	}
	return cpuSample{pg: pg, sink: sink}, nil
}

func (s cpuSample) sub(t cpuSample) cpuSample {
	return cpuSample{pg: s.pg - t.pg, sink: s.sink - t.sink}
}
