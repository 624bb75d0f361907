package main

import _ "embed"

//go:embed report_queries.sql
var reportQueriesSQL string

// reportQueries holds the blocks of report_queries.sql by name.
var reportQueries = parseNamedQueries(reportQueriesSQL)

// reportQuery returns the query named name; a name the file does not hold is
// a programming error.
func reportQuery(name string) string {
	s, ok := reportQueries[name]
	if !ok {
		panic("campaignctl: no report query named " + name)
	}
	return s
}
