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
	"testing"
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

// cpuSample: the cluster's and smtp-sink's CPU, and the whole machine's busy
// and idle time (all cores).
type cpuSample struct{ pg, sink, busy, idle time.Duration }

func (m cpuMeter) sample() (cpuSample, error) {
	pg, err := clusterCPU(m.postmaster)
	if err != nil {
		return cpuSample{}, err
	}
	sink, _, err := procTimes(m.sink, true)
	if err != nil {
		return cpuSample{}, err
	}
	busy, idle, err := machineTimes()
	if err != nil {
		return cpuSample{}, err
	}
	return cpuSample{pg: pg, sink: sink, busy: busy, idle: idle}, nil
}

func (s cpuSample) sub(t cpuSample) cpuSample {
	return cpuSample{pg: s.pg - t.pg, sink: s.sink - t.sink, busy: s.busy - t.busy, idle: s.idle - t.idle}
}

// idleShare is the share of the machine's cores (0-1) that sat idle.
func (s cpuSample) idleShare() float64 {
	if s.busy+s.idle <= 0 {
		return 0
	}
	return float64(s.idle) / float64(s.busy+s.idle)
}

// machineTimes reads the machine's busy and idle time, all cores summed,
// from /proc/stat's first line: idle is idle plus iowait; busy is the rest
// up to steal (guest time is inside user).
func machineTimes() (busy, idle time.Duration, err error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	return parseCPULine(line)
}

// parseCPULine reads /proc/stat's aggregate "cpu" line (USER_HZ ticks).
func parseCPULine(line string) (busy, idle time.Duration, err error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var ticks [8]int64
	for i := range ticks {
		if ticks[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %q: %w", line, err)
		}
	}
	// user nice system idle iowait irq softirq steal
	b := ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
	i := ticks[3] + ticks[4]
	return time.Duration(b) * time.Second / clockTicks, time.Duration(i) * time.Second / clockTicks, nil
}

func TestParseCPULine(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	busy, idle, err := parseCPULine("cpu  1000 20 300 5000 40 5 6 7 100 0")
	if err != nil {
		t.Fatal(err)
	}
	if want := 1338 * time.Second / clockTicks; busy != want {
		t.Errorf("busy %v, want %v", busy, want)
	}
	if want := 5040 * time.Second / clockTicks; idle != want {
		t.Errorf("idle %v, want %v", idle, want)
	}
	if s := (cpuSample{busy: busy, idle: idle}).idleShare(); s < 0.790 || s > 0.791 {
		t.Errorf("idle share %.4f, want 5040/6378", s)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 x 4 5 6 7 8"} {
		if _, _, err := parseCPULine(bad); err == nil {
			t.Errorf("parseCPULine(%q) gave no error", bad)
		}
	}
}
