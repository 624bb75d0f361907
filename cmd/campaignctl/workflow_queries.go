package main

import (
	_ "embed"

	"github.com/campaignctl/campaignctl/runtime/store"
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

// parseNamedQueries splits SQL at its "-- name: NAME" lines, as the store's
// own query file is split.
func parseNamedQueries(src string) map[string]string { return store.ParseNamedQueries(src) }
