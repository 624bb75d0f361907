//go:build !unix

package schemas

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
