#!/usr/bin/env bash
# Runs the whole test suite (or, with "bench", the benchmarks) against a private,
# throw-away Postgres cluster that this script starts and stops. Database tests
# never skip here: CAMPAIGNCTL_REQUIRE_DB=1 turns a missing database into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"

mode=${1:-test}
export CAMPAIGNCTL_PG_PORT=${CAMPAIGNCTL_TEST_PG_PORT:-55433}
export CAMPAIGNCTL_PG_DIR=${CAMPAIGNCTL_TEST_PG_DIR:-$PWD/.data/pg-test}

url=$(bash scripts/pg.sh start)
trap 'bash scripts/pg.sh stop >/dev/null 2>&1 || true' EXIT
export CAMPAIGNCTL_TEST_PG="$url"
export CAMPAIGNCTL_REQUIRE_DB=1

if [ "$mode" = short ]; then
  # The inner loop: no race detector, the slowest end-to-end tests skipped
  # (testing.Short). make test runs everything.
  go test -short -count=1 ./...
  exit
fi

if [ "$mode" = bench ]; then
  go test -run '^$' -bench "${BENCH:-.}" -benchmem -benchtime "${BENCHTIME:-1x}" ./...
  exit
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.data/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed on: $unformatted" >&2
  exit 1
fi
go vet ./...
# Chromium for the status page's browser test, and Prometheus (prometheus and
# promtool, one Debian package) for the metrics and dashboard tests of two
# packages, installed (if missing) before the packages' tests run in
# parallel, so their apt-get never race each other for the dpkg lock; a
# failure here fails those tests, which say what to install.
bash scripts/chromium.sh >/dev/null || true
bash scripts/prometheus.sh >/dev/null || true
go test -race -count=1 -timeout 20m ./...
