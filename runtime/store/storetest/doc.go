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
// OpenFromTemplate hands out copies of a template database instead: the caller's
// setup (its migrations, say) runs once per test binary on the template, and each
// test gets a copy of the result, which is several times faster than migrating
// every test's database (14 migrations: about a second each time on the 2-core
// test machine, against a few tenths for the copy).
//
// The package does not start or stop the cluster, and knows no migrations or
// fixtures; callers pass their own setup, or run it on the database they get.
package storetest
