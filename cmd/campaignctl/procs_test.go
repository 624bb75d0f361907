package main

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestServeProcs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec            string
		envSet, dbLocal bool
		current, want   int
		why             string
	}{
		{"auto", false, true, 2, 1, "half of the CPUs"},
		{"auto", false, true, 8, 4, "half of the CPUs"},
		{"auto", false, true, 7, 3, "half of the CPUs"},
		{"auto", false, true, 1, 1, "all of the CPUs"}, // never 0
		{"auto", false, false, 8, 8, "all of the CPUs"},
		{"auto", true, true, 5, 5, "$GOMAXPROCS"}, // the variable wins over auto
		{"3", true, true, 8, 3, "--procs"},        // the flag wins over the variable
		{"12", false, false, 2, 12, "--procs"},
	} {
		flag, err := parseProcs(tc.spec)
		n, why := serveProcs(flag, tc.envSet, tc.current, tc.dbLocal)
		if err != nil || n != tc.want || !strings.HasPrefix(why, tc.why) {
			t.Errorf("--procs %q, env %v, %d CPUs, local %v: %d, %q, %v; want %d, %q…", tc.spec, tc.envSet, tc.current, tc.dbLocal, n, why, err, tc.want, tc.why)
		}
	}
	for _, bad := range []string{"0", "-1", "half", "", "2.5"} {
		if _, err := parseProcs(bad); err == nil || !strings.Contains(err.Error(), "want auto or a number") {
			t.Errorf("parseProcs(%q): err %v, want one naming what --procs takes", bad, err)
		}
	}
}

// A daemon beside its database (the test cluster is on 127.0.0.1) takes half
// of the CPUs unless $GOMAXPROCS or --procs says otherwise, and says which in
// its "daemon started" line.
func TestServeTakesHalfOfTheCPUsBesideItsDatabase(t *testing.T) {
	t.Parallel()
	e := setupE2EOneCampaign(t)
	mustRun(t, 0, "apply", "--db", e.url, e.plan)
	current := runtime.GOMAXPROCS(0)
	half := max(1, current/2)
	halfWhy := "half of the CPUs: the database runs on this machine"
	if current == 1 {
		halfWhy = "all of the CPUs"
	}
	for _, tc := range []struct {
		env  env
		args []string
		want string
	}{
		{env{"GOMAXPROCS": ""}, nil, fmt.Sprintf(`procs=%d procs_from="%s"`, half, halfWhy)},
		{env{"GOMAXPROCS": "5"}, nil, fmt.Sprintf(`procs=%d procs_from=$GOMAXPROCS`, current)},
		{env{"GOMAXPROCS": "5"}, []string{"--procs", "3"}, `procs=3 procs_from=--procs`},
	} {
		tc.env["CAMPAIGNCTL_SECRET"] = testSecret
		args := append(append(serveArgs(e), "--public-url", "http://mail.test"), tc.args...)
		code, stdout, stderr, ok := tc.env.runBounded(t, 2*time.Minute, args...)
		if !ok {
			return
		}
		if code != 0 {
			t.Fatalf("serve %v: exit %d\nstdout:\n%s\nstderr:\n%s", tc.args, code, stdout, stderr)
		}
		var line string
		for _, l := range strings.Split(stderr, "\n") {
			if strings.Contains(l, `msg="daemon started"`) {
				line = l
			}
		}
		if !strings.Contains(line, tc.want) {
			t.Errorf("serve %v with GOMAXPROCS=%q: %q has no %s", tc.args, tc.env["GOMAXPROCS"], line, tc.want)
		}
	}
}
