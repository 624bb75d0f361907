// Command gen writes campaignctl's Grafana dashboards as JSON from their Go
// definitions (dashboards.go), built with the Grafana Foundation SDK, so a
// dashboard change is reviewed as code and its JSON is only ever generated:
//
//	go generate ./deploy/grafana/gen   (or: make dashboards)
//
// The files it writes are the ones deploy/grafana/provisioning loads. Its test
// fails when they differ from what this program produces, and
// cmd/campaignctl TestDashboardQueriesOnRealPrometheus runs every panel query
// against a real Prometheus scraping a daemon that sent mail.
//
// It defines panels, not metrics: every expression reads metrics that
// runtime/metrics (and the tracker in runtime/httpapi) export; what the
// dashboards cannot show because no metric carries it is listed in
// deploy/grafana/README.md.
package main

//go:generate go run . -out ../dashboards

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", "deploy/grafana/dashboards", "directory to write the dashboards' JSON to")
	flag.Parse()
	files, err := render()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(*out, name), data, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "gen: %v (does %s exist? run from the repository root or pass -out)\n", err, *out)
			os.Exit(1)
		}
	}
}

// render returns every dashboard's JSON by file name: indented, with a
// trailing newline, and byte-for-byte the same on every run.
func render() (map[string][]byte, error) {
	out := map[string][]byte{}
	for name, build := range map[string]func() (any, error){
		"campaignctl-overview.json": overview,
		"campaignctl-object.json":   object,
	} {
		d, err := build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = b.Bytes()
	}
	return out, nil
}
