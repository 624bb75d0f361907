package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campaignctl/campaignctl/runtime/metrics"
)

// deploy/prometheus/rules.yml is valid, its promtool unit tests pass, and
// every campaignctl metric it reads is one the daemon exports, so renaming a
// metric breaks this test rather than an alert nobody sees again.
func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	promtool := findPromtool(t)
	for _, args := range [][]string{{"check", "rules", "rules.yml"}, {"test", "rules", "rules_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "../../deploy/prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
	rules, err := os.ReadFile("../../deploy/prometheus/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	// Every collector the daemon registers, described (vectors without
	// samples are not gathered, so Describe rather than Gather).
	rec := &recordingRegisterer{}
	metrics.New(rec)
	rec.MustRegister(metrics.NewStoreCollector(nil), metrics.NewBuildInfo())
	descs := make(chan *prometheus.Desc, 1024)
	go func() {
		for _, c := range rec.cs {
			c.Describe(descs)
		}
		close(descs)
	}()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	var exported []string
	for d := range descs {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			exported = append(exported, m[1])
		}
	}
	read := regexp.MustCompile(`\bcampaignctl_[a-z_]+`).FindAllString(string(rules), -1)
	if len(read) == 0 {
		t.Fatal("rules.yml reads no campaignctl metric")
	}
	for _, name := range read {
		if !slices.Contains(exported, name) {
			t.Errorf("rules.yml reads %s, which the daemon does not export", name)
		}
	}
}

// The unit test of CampaignctlOutcomesGivenUp fails when the rule is broken
// in ways a reader could mistake for equivalent: a shorter window, one
// replica's series only, a threshold above a small loss. Each mutant is run
// against rules_test.yml as it stands; replica b, which gives up alone later,
// is what catches them.
func TestOutcomesGivenUpRuleTestCatchesBrokenRules(t *testing.T) {
	t.Parallel()
	promtool := findPromtool(t)
	rules, err := os.ReadFile("../../deploy/prometheus/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("../../deploy/prometheus/rules_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	const expr = "sum(increase(campaignctl_outcomes_given_up_total[10m])) > 0"
	if !strings.Contains(string(rules), expr) {
		t.Fatalf("rules.yml has no %q: update the mutants", expr)
	}
	for _, broken := range []string{
		"sum(increase(campaignctl_outcomes_given_up_total[5m])) > 0",
		`sum(increase(campaignctl_outcomes_given_up_total{instance="a"}[10m])) > 0`,
		"sum(increase(campaignctl_outcomes_given_up_total[10m])) > 5",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(strings.Replace(string(rules), expr, broken, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "rules_test.yml"), tests, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(promtool, "test", "rules", "rules_test.yml")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "alertname: CampaignctlOutcomesGivenUp") {
			t.Errorf("with the rule broken as %s, promtool test rules: %v\n%s", broken, err, out)
		}
	}
}

// recordingRegisterer keeps what is registered with it.
type recordingRegisterer struct{ cs []prometheus.Collector }

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.cs = append(r.cs, c)
	return nil
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) { r.cs = append(r.cs, cs...) }

func (r *recordingRegisterer) Unregister(prometheus.Collector) bool { return false }
