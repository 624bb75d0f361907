#!/usr/bin/env bash
# race-check.sh — keeps the race list of scripts/test.sh right.
#
#   bash scripts/race-check.sh DIR...     DIR: the package directories test.sh runs with -race
#
# make test runs the race detector only on packages where goroutines run
# concurrently: a package whose own (non-test) code has a `go` statement, or
# whose tests start goroutines or call t.Parallel. Goroutines a package
# merely calls into (compiler/check's schema validation, say) are raced in the
# package that starts them, where their tests live.
#
# This script fails, naming the file and line, when a package of the module
# meets that rule but is not in the list, or when the list names a directory
# that is not a package of the module (renamed or removed): the list cannot
# rot silently in either direction. It is a text search (a `go` statement
# at the start of a line), so it errs on the side of racing: a line in a raw
# string that looks like one adds a package, never removes one.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"

declare -A listed=()
for d in "$@"; do listed[${d%/}]=1; done

mod=$(go list -m)
# `go f(`, `go obj.f(`, `go func(`: a go statement, the only way to start a goroutine.
go_stmt='^[[:space:]]*go (func[[:space:]]*\(|[A-Za-z_][A-Za-z0-9_.]*\()'
status=0
declare -A known=()
while IFS=' ' read -r pkg files; do
	dir=${pkg#"$mod"}
	dir=${dir#/}
	[ -n "$dir" ] || dir=.
	known[$dir]=1
	why=""
	for f in $files; do
		case $f in
		*_test.go) hit=$(grep -nE "$go_stmt|t\.Parallel\(\)" "$dir/$f" | head -1 || true) ;;
		*) hit=$(grep -nE "$go_stmt" "$dir/$f" | head -1 || true) ;;
		esac
		if [ -n "$hit" ]; then
			why="$dir/$f:${hit%%:*}: ${hit#*:}"
			why=${why//$'\t'/ }
			break
		fi
	done
	if [ -n "$why" ] && [ -z "${listed[$dir]:-}" ]; then
		echo "race-check: $dir starts goroutines ($why) but is not in race_packages of scripts/test.sh; add it there so make test runs it with -race" >&2
		status=1
	fi
done < <(go list -f '{{.ImportPath}} {{join .GoFiles " "}} {{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' ./...)

for d in "${!listed[@]}"; do
	if [ -z "${known[$d]:-}" ]; then
		echo "race-check: race_packages of scripts/test.sh names $d, which is not a package of $mod (renamed or removed?); fix the list" >&2
		status=1
	fi
done
exit $status
