#!/usr/bin/env bash
# promtool.sh — find Prometheus' promtool for the metrics tests
# (runtime/metrics, cmd/campaignctl TestMetrics…); prints its path, and nothing
# else, on stdout.
#
#   promtool=$(bash scripts/promtool.sh)
#
# When promtool is missing and we are root on a machine with apt-get, the
# Debian package prometheus (which ships promtool) is installed
# non-interactively WITHOUT starting its server: a temporary
# /usr/sbin/policy-rc.d forbids invoke-rc.d to start any service (an existing
# policy-rc.d is left alone). Running it again is a no-op once promtool is
# there. Otherwise it fails saying what to install, and the tests that need
# promtool fail under CAMPAIGNCTL_REQUIRE_DB=1 (make test) instead of passing
# silently.
set -euo pipefail

say() { printf 'promtool.sh: %s\n' "$*" >&2; }
die() {
	printf 'promtool.sh: error: %s\n' "$*" >&2
	exit 1
}

find_promtool() {
	local p
	if p=$(command -v promtool 2>/dev/null); then
		printf '%s\n' "$p"
		return 0
	fi
	for p in /usr/bin/promtool /usr/local/bin/promtool; do
		if [ -x "$p" ]; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}

if find_promtool; then
	exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	die "promtool not found; install Prometheus' promtool (Debian: apt-get install prometheus, as root) and retry"
fi

say "promtool not found; installing package prometheus with apt-get (no server is started)"
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	trap 'rm -f "$policy"' EXIT
	printf '#!/bin/sh\n# temporary, from campaignctl scripts/promtool.sh: start no service\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
else
	say "keeping the existing $policy"
fi
apt-get update -qq >&2 || die "apt-get update failed"
apt-get install -y -qq --no-install-recommends prometheus >&2 || die "apt-get install prometheus failed"
find_promtool || die "package prometheus installed but promtool is still not found"
