#!/usr/bin/env bash
# chromium.sh — find a headless-capable Chromium for the status page's browser
# test (cmd/campaignctl TestUIChromium…); prints its path, and nothing else, on
# stdout.
#
#   chromium=$(bash scripts/chromium.sh)
#
# When Chromium is missing and we are root on a machine with apt-get, the
# Debian package chromium is installed non-interactively WITHOUT starting any
# service its dependencies ship: a temporary /usr/sbin/policy-rc.d forbids
# invoke-rc.d to start one (an existing policy-rc.d is left alone). Running it
# again is a no-op once Chromium is there. Otherwise it fails saying what to
# install, and the browser test fails under CAMPAIGNCTL_REQUIRE_DB=1 (make
# test) instead of passing silently.
set -euo pipefail

say() { printf 'chromium.sh: %s\n' "$*" >&2; }
die() {
	printf 'chromium.sh: error: %s\n' "$*" >&2
	exit 1
}

find_chromium() {
	local p
	for p in chromium chromium-browser google-chrome-stable google-chrome; do
		if p=$(command -v "$p" 2>/dev/null); then
			printf '%s\n' "$p"
			return 0
		fi
	done
	for p in /usr/bin/chromium /usr/lib/chromium/chromium; do
		if [ -x "$p" ]; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}

if find_chromium; then
	exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	die "Chromium not found; install it (Debian: apt-get install chromium, as root) and retry, or put its directory on PATH"
fi

say "Chromium not found; installing package chromium with apt-get (no service is started)"
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	trap 'rm -f "$policy"' EXIT
	printf '#!/bin/sh\n# temporary, from campaignctl scripts/chromium.sh: start no service\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
else
	say "keeping the existing $policy"
fi
apt-get update -qq >&2 || die "apt-get update failed"
apt-get install -y -qq --no-install-recommends chromium >&2 || die "apt-get install chromium failed"
find_chromium || die "package chromium installed but no chromium binary is found"
