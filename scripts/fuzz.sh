#!/usr/bin/env bash
# fuzz.sh — run every fuzz target of the repository, one after the other, for
# FUZZTIME each (default 1m; the issue's acceptance runs use FUZZTIME=10m).
#
#   bash scripts/fuzz.sh                 # every target (make fuzz)
#   FUZZ=Token bash scripts/fuzz.sh      # targets whose name matches a regexp
#   FUZZ_SAVE=1 bash scripts/fuzz.sh     # then copy what each run found
#                                        # interesting into its package's
#                                        # testdata/fuzz/<Target>/ (the corpus
#                                        # kept in git, replayed by go test)
#   FUZZ_PARALLEL=1 bash scripts/fuzz.sh # workers per target (default: GOMAXPROCS);
#                                        # two shards with one worker each keep
#                                        # both cores busy with two targets at once
#
# Targets are found, not listed: every `func FuzzX(f *testing.F)` in a
# _test.go file. A failure stops the run; Go saves the failing input under the
# package's testdata/fuzz/<Target>/ and prints how to replay it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"

fuzztime=${FUZZTIME:-1m}
filter=${FUZZ:-.}
cache=$(go env GOCACHE)/fuzz
module=$(go list -m)

mapfile -t targets < <(git ls-files '*_test.go' | xargs grep -l -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' |
	sed 's|^|./|' | sort | while read -r file; do
		dir=$(dirname "$file")
		grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //' | while read -r name; do
			printf '%s %s\n' "$dir" "$name"
		done
	done | grep -E " .*${filter}" || true)

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz target matches FUZZ=$filter" >&2
	exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, $fuzztime each"

# Some targets run against Postgres (FuzzPaths compares the SQL pushdown with
# the in-process evaluation): a private cluster, as for make test, and a
# missing database fails the target instead of skipping it.
if [ -z "${CAMPAIGNCTL_TEST_PG:-}" ]; then
	export CAMPAIGNCTL_PG_PORT=${CAMPAIGNCTL_FUZZ_PG_PORT:-55439}
	export CAMPAIGNCTL_PG_DIR=${CAMPAIGNCTL_FUZZ_PG_DIR:-$PWD/.data/pg-fuzz}
	CAMPAIGNCTL_TEST_PG=$(bash scripts/pg.sh start)
	export CAMPAIGNCTL_TEST_PG
	trap 'bash scripts/pg.sh stop >/dev/null 2>&1 || true' EXIT
fi
export CAMPAIGNCTL_REQUIRE_DB=1
start=$SECONDS
for t in "${targets[@]}"; do
	dir=${t% *}
	name=${t#* }
	echo "==> $dir $name"
	log=$(mktemp)
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" ${FUZZ_PARALLEL:+-parallel "$FUZZ_PARALLEL"} "$dir" >"$log" 2>&1; then
		if grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written to' "$log"; then
			# Go 1.26's fuzz coordinator can fail a target at the -fuzztime
			# boundary with this message and no input (golang/go#75804, fixed
			# in Go 1.27): the run found nothing. A real failure always writes
			# its input.
			echo "    $name: 'context deadline exceeded' at the end of -fuzztime with no failing input: Go's coordinator race (golang/go#75804), not a finding"
		else
			cat "$log" # the failing input, its panic or message, and how to replay it
			rm -f "$log"
			echo "fuzz.sh: $name failed; the input is saved under $dir/testdata/fuzz/$name/" >&2
			exit 1
		fi
	fi
	tail -n 3 "$log"
	if ! grep -q '^fuzz: elapsed' "$log"; then
		# A target that skipped (or returned before f.Fuzz) passes without
		# fuzzing anything: that is a failure of this run, not a pass.
		cat "$log"
		rm -f "$log"
		echo "fuzz.sh: $name did not fuzz (it skipped or never reached f.Fuzz)" >&2
		exit 1
	fi
	rm -f "$log"
	if [ "${FUZZ_SAVE:-}" = 1 ]; then
		pkg=$module/${dir#./}
		if [ -d "$cache/$pkg/$name" ]; then
			mkdir -p "$dir/testdata/fuzz/$name"
			cp -n "$cache/$pkg/$name"/* "$dir/testdata/fuzz/$name/" 2>/dev/null || true
			echo "    corpus: $(ls "$dir/testdata/fuzz/$name" | wc -l) inputs in $dir/testdata/fuzz/$name"
		fi
	fi
done
echo "fuzz.sh: every target ran $fuzztime without a failure ($((SECONDS - start)) s in all)"
