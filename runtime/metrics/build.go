package metrics

import (
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// NewBuildInfo returns campaignctl_build_info{version, go_version} 1, the
// usual way to put a binary's version on a dashboard and to join it to other
// series (`* on (instance) group_left(version)`). version is the module
// version the binary was built at, or for a development build the VCS
// revision Go stamped into it ("devel" when there is none).
func NewBuildInfo() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "campaignctl_build_info",
		Help:        "Always 1; the labels say which campaignctl build runs.",
		ConstLabels: prometheus.Labels{"version": buildVersion(), "go_version": runtime.Version()},
	})
	g.Set(1)
	return g
}

func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// ObserveAudience records a materialization that started at start; nil-safe,
// so the engine can write `defer e.Metrics.ObserveAudience(time.Now())`.
func (m *Metrics) ObserveAudience(start time.Time) {
	if m != nil && m.AudienceSeconds != nil {
		m.AudienceSeconds.Observe(time.Since(start).Seconds())
	}
}
