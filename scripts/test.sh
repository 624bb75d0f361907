#!/usr/bin/env bash
# Runs the whole test suite (or, with "bench", the benchmarks) against a private,
# throw-away Postgres cluster that this script starts and stops. Database tests
# never skip here: CAMPAIGNCTL_REQUIRE_DB=1 turns a missing database into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"

mode=${1:-test}
# -trimpath keeps the checkout's directory out of what is compiled, so a fresh
# clone (CI, another worktree) reuses the build cache for unchanged packages
# instead of compiling (and race-instrumenting) all of them again: about 70 s
# of CPU per run on the 2-core machine. It reaches the binaries the tests
# build too (go build, go run), through GOFLAGS.
export GOFLAGS="-trimpath${GOFLAGS:+ $GOFLAGS}"
# -ldflags=-w: no DWARF in the test binaries (and the binaries the tests
# build). The suite links about 60 of them, -race and not; linking without
# DWARF saves about a fifth of that (go test -run none over the race set: 35
# core-seconds against 31; the plain set: 46 against 36). Stack traces, race
# reports and profiles read the symbol table, which stays. Not for bench:
# its profiles are read with pprof, which is happier with DWARF.
if [ "$mode" != bench ]; then
  export GOFLAGS="$GOFLAGS -ldflags=-w"
fi
export CAMPAIGNCTL_PG_PORT=${CAMPAIGNCTL_TEST_PG_PORT:-55433}
# Names this user's checkout in /dev/shm (below), and what /dev/shm has free
# (KiB; 0 when it is missing or not writable).
checkout_id=$(id -u)-$(printf '%s' "$PWD" | cksum | cut -d' ' -f1)
shm_free_kb=0
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  shm_free_kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
  shm_free_kb=${shm_free_kb:-0}
fi
# The cluster lives in memory (/dev/shm) when the machine has room there, else
# in .data/pg-test. The tests create and drop about 300 databases (a copy of a
# migrated template each, 443 files): on ext4, creating and unlinking the files
# cost about 85 ms of Postgres CPU more per database than on tmpfs (30 CREATE
# and DROP DATABASE of a small template: 3.1 s of CPU against 0.55 s). The cluster
# is throw-away and runs with fsync off either way; it stays between runs, as
# .data/pg-test does, and takes about 200 MB.
# make bench keeps the cluster on disk: its figures compare the send path,
# Postgres included, with smtp-source, and were measured that way.
if [ -z "${CAMPAIGNCTL_TEST_PG_DIR:-}" ]; then
  CAMPAIGNCTL_TEST_PG_DIR=$PWD/.data/pg-test
  shm=/dev/shm/campaignctl-pg-test-$checkout_id
  if [ "$mode" != bench ] && [ "$shm_free_kb" -ge 2097152 ] && [ ! -L "$shm" ]; then
    # Only a directory this user made (or, as root, handed to postgres) is
    # reused: /dev/shm is writable by every user.
    owner=$(stat -c %U "$shm" 2>/dev/null || id -un)
    if [ "$owner" = "$(id -un)" ] || { [ "$(id -u)" = 0 ] && [ "$owner" = postgres ]; }; then
      CAMPAIGNCTL_TEST_PG_DIR=$shm
    fi
  fi
fi
export CAMPAIGNCTL_PG_DIR=$CAMPAIGNCTL_TEST_PG_DIR

if [ "$mode" = clean ]; then
  # make clean: stop the test cluster and, when it is in memory, remove it.
  bash scripts/pg.sh stop >/dev/null 2>&1 || true
  case "$CAMPAIGNCTL_PG_DIR" in /dev/shm/campaignctl-pg-test-*) rm -rf "$CAMPAIGNCTL_PG_DIR" ;; esac
  # Temporary directories of runs that were killed before they removed theirs.
  find /dev/shm -maxdepth 1 -name "campaignctl-tmp-$checkout_id-*" -user "$(id -un)" -exec rm -rf {} + 2>/dev/null || true
  exit 0
fi

# Temporary files go to memory too, for the run's duration, when /dev/shm has
# 4 GiB free: the go command's work directory (it links the suite's ~60 test
# binaries there, 3-50 MB each), every t.TempDir, the capture servers' .eml
# files, cmd/chaos's own cluster. This machine's disk is ext4 mounted with
# discard, where creating a file costs about 165 us of CPU: the e2e test that
# writes 10,213 .eml files spent a third of its CPU in os.CreateTemp, and took
# 5.4-7.2 s of CPU here against 9.8-10.7 s on disk (and its Postgres 9.4-12.1 s
# against 12.8-14.2). TMPDIR set by the caller is kept; bench keeps the disk.
run_tmp=
if [ "$mode" != bench ] && [ -z "${TMPDIR:-}" ] && [ "$shm_free_kb" -ge 4194304 ]; then
  # 711: the postgres user (pg.sh runs the server as postgres under root) must
  # reach cmd/chaos's cluster inside it.
  run_tmp=$(mktemp -d "/dev/shm/campaignctl-tmp-$checkout_id-XXXXXXXX") && chmod 711 "$run_tmp" && export TMPDIR=$run_tmp
fi
# The cluster starts in the background (an initdb on a fresh clone, then
# waiting for the server) while make test runs its checks below, each a
# process on one core; db_ready waits for it.
pg_out=$(mktemp "${TMPDIR:-/tmp}/campaignctl-pg-url-XXXXXX")
bash scripts/pg.sh start >"$pg_out" &
pg_start=$!
cleanup() {
  wait "$pg_start" 2>/dev/null || true
  bash scripts/pg.sh stop >/dev/null 2>&1 || true
  rm -f "$pg_out"
  if [ -n "${bin_dir:-}" ]; then rm -rf "$bin_dir"; fi
  if [ -n "$run_tmp" ]; then rm -rf "$run_tmp"; fi
}
trap cleanup EXIT
db_ready() {
  if ! wait "$pg_start"; then
    echo "test.sh: the test cluster did not start (scripts/pg.sh start said why above)" >&2
    exit 1
  fi
  export CAMPAIGNCTL_TEST_PG
  CAMPAIGNCTL_TEST_PG=$(cat "$pg_out")
}
export CAMPAIGNCTL_REQUIRE_DB=1

if [ "$mode" = short ]; then
  db_ready
  # The inner loop: no race detector, the slowest end-to-end tests skipped
  # (testing.Short). make test runs everything.
  go test -short -count=1 ./...
  exit
fi

if [ "$mode" = bench ]; then
  db_ready
  go test -run '^$' -bench "${BENCH:-.}" -benchmem -benchtime "${BENCHTIME:-1x}" ./...
  exit
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.data/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed on: $unformatted" >&2
  exit 1
fi
# go vet and the two list checks below run at the same time, and with the
# cluster's start; the tests start once all of them have passed.
go vet ./... &
vet=$!
# The campaignctl binary that cmd/campaignctl's daemon tests and cmd/chaos
# start as processes, built once from this tree for the run (a link of about
# 4 s of CPU, which each of those three test binaries made on its own).
bin_dir=$(mktemp -d "${TMPDIR:-/tmp}/campaignctl-bin-XXXXXX")
go build -o "$bin_dir/campaignctl" ./cmd/campaignctl &
bin_build=$!
# Chromium for the status page's browser test, and Prometheus (prometheus and
# promtool, one Debian package) for the metrics and dashboard tests of two
# packages, installed (if missing) before the packages' tests run in
# parallel, so their apt-get never race each other for the dpkg lock; a
# failure here fails those tests, which say what to install.
bash scripts/chromium.sh >/dev/null || true
bash scripts/prometheus.sh >/dev/null || true

# The race detector costs several times the CPU, so it runs on the packages
# where goroutines run concurrently (their code or their tests start them; see
# scripts/race-check.sh, which fails below when a package that does is missing
# here or a listed one is gone), and the rest run without it. The two sets run
# at the same time: most tests wait (on Postgres, SMTP, a daemon's interval)
# more than they compute, so four test binaries keep two cores busier than two.
race_packages=(
  cmd/campaignctl
  cmd/chaos
  compiler/check
  compiler/diff/gitsrc
  compiler/hclsrc
  deploy/grafana/gen
  runtime/engine
  runtime/events
  runtime/httpapi
  runtime/inbound
  runtime/mailer
  runtime/mailer/smtpcapture
  runtime/mailer/smtptest
  runtime/segment
  runtime/store
  runtime/store/storetest
  schemas
)
bash scripts/race-check.sh "${race_packages[@]}" &
race_check=$!
mod=$(go list -m)
race=() plain=()
for d in "${race_packages[@]}"; do race+=("$mod/$d"); done
for p in $(go list ./...); do
  case " ${race[*]} " in *" $p "*) ;; *) plain+=("$p") ;; esac
done
# Tests of the race packages that run smaller under the race detector, or
# not at all (they say why, see where they call internal/racetest: what they add
# is sequential, raced by other tests, or runs in processes of its own built
# without -race, like the daemons of cmd/campaignctl's ownProcess tests), run
# at full size without it:
# package, -run pattern. They go in one go test (the patterns joined: a name
# one of them matches in another of the packages runs there too, twice in
# all, which is harmless), started with the plain packages so the long ones
# start early.
plain_also=(
  "runtime/segment ^TestDifferentialPushdownVsInProcess$"
  "runtime/mailer ^(TestAppendQuotedPrintableMatchesStdlib|TestAppendBytesMatchesPreviousEncoderRandom)$"
  "cmd/campaignctl ^(TestDaemonRunsUnderTheLeastPrivilegeRole|TestTwoDaemonsAtOnceSendEachMessageOnce|TestSeedCampaignSendsToExactlyTheMatchingLeads|TestDashboardQueriesOnRealPrometheus|TestMetricsLiveScrapePassesPromtool|TestServeMetricsOnTheirOwnListenerAndRateLimit|TestServeProbesAnswerWhileTheDatabaseIsAway|TestServeUILive|TestPreferenceCenterWithoutJavaScript|TestPreferenceCenterChromium|TestDoubleOptInThroughTheDaemon|TestScripts|TestKillNineSendsAtMostTheDefaultWindowTwice)$"
  "schemas ^(TestJSONSchema|TestManyMistakesStayCheap)$"
  "runtime/inbound ^TestInboundOversizeMessageIsRefused$"
)
# Fails when a test that skips itself under -race is matched by none of the
# patterns above: it would never run.
bash scripts/plain-also-check.sh "${plain_also[@]}" &
also_check=$!
for check in "$vet" "$race_check" "$also_check"; do
  wait "$check" || { echo "test.sh: FAIL (go vet or a check of the lists above, said why above)" >&2; exit 1; }
done
wait "$bin_build" || { echo "test.sh: FAIL (go build ./cmd/campaignctl, said why above)" >&2; exit 1; }
export CAMPAIGNCTL_TEST_BINARY=$bin_dir/campaignctl
db_ready
also_pkgs=() also_run=()
for t in "${plain_also[@]}"; do
  also_pkgs+=("./${t%% *}")
  also_run+=("${t#* }")
done
# The plain runs' output is kept apart and shown when they end, so the
# runs' failure reports never interleave.
plain_log=$(mktemp)
also_log=$(mktemp)
trap 'rm -f "$plain_log" "$also_log"; cleanup' EXIT
# -vet=off: go vet ./... above ran every analyzer already; go test's own vet
# is a subset of them.
run_plain() {
  local status=0 also_pid
  go test -vet=off -count=1 -timeout 20m -run "$(IFS='|'; echo "${also_run[*]}")" "${also_pkgs[@]}" >"$also_log" 2>&1 &
  also_pid=$!
  go test -vet=off -count=1 -timeout 20m "${plain[@]}" || status=$?
  wait "$also_pid" || status=$?
  return "$status"
}
run_plain >"$plain_log" 2>&1 &
plain_pid=$!
race_status=0
go test -vet=off -race -count=1 -timeout 20m -p 4 "${race[@]}" || race_status=$?
plain_status=0
wait "$plain_pid" || plain_status=$?
cat "$plain_log" "$also_log"
if [ "$race_status" -ne 0 ] || [ "$plain_status" -ne 0 ]; then
  echo "test.sh: FAIL (with -race: exit $race_status; without: exit $plain_status)" >&2
  exit 1
fi
