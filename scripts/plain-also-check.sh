#!/usr/bin/env bash
# plain-also-check.sh — keeps plain_also of scripts/test.sh right.
#
#   bash scripts/plain-also-check.sh "DIR PATTERN"...   as plain_also lists them
#
# A test of a race package that skips itself under the race detector
# (racetest.Skip, or a helper of its package that calls it) runs in make test
# only through plain_also: without -race, with its package's -run pattern.
# This script fails, naming the file and line, when such a test's name is not
# matched by a pattern given for its package: it would be skipped under -race
# and never run at all. It is a text search: a test counts as skipping when a
# line of its body calls racetest.Skip or a function of its package whose body
# does.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A pattern=()
for entry in "$@"; do
	dir=${entry%% *}
	pat=${entry#* }
	if [ -n "${pattern[$dir]:-}" ]; then
		pattern[$dir]="${pattern[$dir]}|$pat"
	else
		pattern[$dir]=$pat
	fi
done

status=0
# Directories with a test file that calls racetest.Skip.
for dir in $(grep -l 'racetest\.Skip(' --include='*_test.go' -r . | xargs -n1 dirname | sort -u); do
	dir=${dir#./}
	# Helpers: non-test functions of the package's test files whose body
	# calls racetest.Skip.
	helpers=$(awk '
		/^func [A-Za-z_][A-Za-z0-9_]*\(/ { name = $2; sub(/\(.*/, "", name) }
		/^}/ { name = "" }
		/racetest\.Skip\(/ && name != "" && name !~ /^Test/ { print name }
	' "$dir"/*_test.go | sort -u | paste -sd'|' -)
	calls='racetest\.Skip\('
	[ -n "$helpers" ] && calls="$calls|(^|[^A-Za-z0-9_.])($helpers)\("
	while IFS=: read -r file line name; do
		pat=${pattern[$dir]:-}
		if [ -z "$pat" ] || ! printf '%s\n' "$name" | grep -qE "$pat"; then
			echo "plain-also-check: $file:$line: $name skips itself under -race, but no plain_also pattern of scripts/test.sh for $dir matches it: make test would never run it; add it there" >&2
			status=1
		fi
	done < <(awk -v calls="$calls" '
		/^func Test[A-Za-z0-9_]*\(t \*testing\.T\)/ { name = $2; sub(/\(.*/, "", name); start = FNR; next }
		/^}/ { name = "" }
		name != "" && $0 ~ calls { print FILENAME ":" start ":" name; name = "" }
	' "$dir"/*_test.go)
done
exit $status
