package main

import (
	_ "embed"
	"strings"
)

//go:embed workflow_queries.sql
var workflowQueriesSQL string

// workflowQueries holds the blocks of workflow_queries.sql by name.
var workflowQueries = parseNamedQueries(workflowQueriesSQL)

// workflowQuery returns the query named name; a name the file does not hold
// is a programming error.
func workflowQuery(name string) string {
	s, ok := workflowQueries[name]
	if !ok {
		panic("campaignctl: no workflow query named " + name)
	}
	return s
}

// parseNamedQueries splits SQL at its "-- name: NAME" lines; each query runs
// to the next name line, comments included (Postgres ignores them).
func parseNamedQueries(src string) map[string]string {
	out := map[string]string{}
	var name string
	var body strings.Builder
	flush := func() {
		if name != "" {
			out[name] = strings.TrimSpace(body.String())
		}
		body.Reset()
	}
	for _, line := range strings.Split(src, "\n") {
		if n, ok := strings.CutPrefix(strings.TrimSpace(line), "-- name:"); ok {
			flush()
			name = strings.TrimSpace(n)
			continue
		}
		body.WriteString(line)
		body.WriteByte('\n')
	}
	flush()
	return out
}
