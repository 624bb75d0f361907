// Package storetest gives each test its own, empty Postgres database on the private
// test cluster, so tests can run in parallel and never see each other's rows.
//
// The cluster itself is started by `make test` (or by hand with
// `bash scripts/pg.sh start`), which exports its admin URL as CAMPAIGNCTL_TEST_PG.
// NewDatabase creates a uniquely named database with CREATE DATABASE and drops it
// WITH (FORCE) when the test ends; Open does the same and also hands back a pinged
// *sqlx.DB that is closed before the drop.
//
// Without CAMPAIGNCTL_TEST_PG a database test is skipped, unless
// CAMPAIGNCTL_REQUIRE_DB=1 is set (as `make test` does): then the missing cluster is
// a failure, so a broken setup can never turn into a green run of skipped tests.
//
// The package does not start or stop the cluster, apply migrations or load
// fixtures; callers run their own migrations on the database they get.
package storetest
