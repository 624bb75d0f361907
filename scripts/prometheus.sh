#!/usr/bin/env bash
# prometheus.sh — find the Prometheus server binary for the dashboard test
# (cmd/campaignctl TestDashboardQueriesOnRealPrometheus, which starts its own
# Prometheus on a loopback port with a temporary config and data directory);
# prints its path, and nothing else, on stdout.
#
#   prometheus=$(bash scripts/prometheus.sh)
#
# When it is missing and we are root on a machine with apt-get, the Debian
# package prometheus is installed non-interactively WITHOUT starting its
# service: a temporary /usr/sbin/policy-rc.d forbids invoke-rc.d to start any
# service (an existing policy-rc.d is left alone), so no Prometheus listens on
# :9090 afterwards. Running it again is a no-op once the binary is there.
# Otherwise it fails saying what to install, and the test fails under
# CAMPAIGNCTL_REQUIRE_DB=1 (make test) instead of passing silently.
set -euo pipefail

say() { printf 'prometheus.sh: %s\n' "$*" >&2; }
die() {
	printf 'prometheus.sh: error: %s\n' "$*" >&2
	exit 1
}

find_prometheus() {
	local p
	if p=$(command -v prometheus 2>/dev/null); then
		printf '%s\n' "$p"
		return 0
	fi
	for p in /usr/bin/prometheus /usr/local/bin/prometheus; do
		if [ -x "$p" ]; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}

if find_prometheus; then
	exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	die "prometheus not found; install the Prometheus server (Debian: apt-get install prometheus, as root) and retry"
fi

say "prometheus not found; installing package prometheus with apt-get (its service is not started)"
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	trap 'rm -f "$policy"' EXIT
	printf '#!/bin/sh\n# temporary, from campaignctl scripts/prometheus.sh: start no service\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
else
	say "keeping the existing $policy"
fi
apt-get update -qq >&2 || die "apt-get update failed"
apt-get install -y -qq --no-install-recommends prometheus >&2 || die "apt-get install prometheus failed"
find_prometheus || die "package prometheus installed but the prometheus binary is still not found"
