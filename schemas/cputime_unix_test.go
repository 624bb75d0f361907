//go:build unix

package schemas

import (
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used. Benchmarks report it next
// to wall time because the machines they run on are shared: wall time says
// how busy the machine was as much as what Complete costs.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
