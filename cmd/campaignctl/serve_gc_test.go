package main

import "testing"

// TestServeMemoryLimitFollowsTheCgroup: GOGC=400 lets the heap grow to five
// times the live heap, so the soft limit is half a container's memory when
// that is below the default.
func TestServeMemoryLimitFollowsTheCgroup(t *testing.T) {
	for _, c := range []struct {
		file string
		want int64
	}{
		{"max\n", defaultServeMemoryLimit},                 // cgroup v2, no limit
		{"9223372036854771712\n", defaultServeMemoryLimit}, // cgroup v1, no limit
		{"268435456\n", 128 << 20},                         // a 256 MiB container
		{"4294967296\n", defaultServeMemoryLimit},          // 4 GiB: the default is lower
		{"", defaultServeMemoryLimit},                      // unreadable
		{"garbage", defaultServeMemoryLimit},
	} {
		if got := serveMemoryLimit(parseCgroupMemoryMax(c.file)); got != c.want {
			t.Errorf("memory limit for cgroup file %q = %d, want %d", c.file, got, c.want)
		}
	}
}
