#!/usr/bin/env bash
# postfix.sh — find Postfix's smtp-sink and smtp-source test programs for the send
# benchmark (cmd/campaignctl/sendbench_test.go); prints the directory that holds
# both, and nothing else, on stdout.
#
#   dir=$(bash scripts/postfix.sh)
#
# When they are missing and we are root on a machine with apt-get, the Debian
# package postfix is installed non-interactively WITHOUT starting the mail system:
# debconf is told "No configuration" and a temporary /usr/sbin/policy-rc.d forbids
# invoke-rc.d to start any service (an existing policy-rc.d is left alone). The
# benchmark uses only the two test programs; no Postfix daemon ever runs.
# Running it again is a no-op once the programs are there.
set -euo pipefail

say() { printf 'postfix.sh: %s\n' "$*" >&2; }
die() {
	printf 'postfix.sh: error: %s\n' "$*" >&2
	exit 1
}

# find_dir prints the first directory holding both programs: PATH, then the
# Debian location /usr/sbin (not on a normal user's PATH).
find_dir() {
	local p d
	if p=$(command -v smtp-sink 2>/dev/null); then
		d=$(dirname "$p")
		if [ -x "$d/smtp-source" ]; then
			printf '%s\n' "$d"
			return 0
		fi
	fi
	for d in /usr/sbin /usr/local/sbin /usr/lib/postfix/sbin; do
		if [ -x "$d/smtp-sink" ] && [ -x "$d/smtp-source" ]; then
			printf '%s\n' "$d"
			return 0
		fi
	done
	return 1
}

if find_dir; then
	exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	die "smtp-sink and smtp-source not found (PATH, /usr/sbin); install Postfix's test programs (Debian: apt-get install postfix, as root) and retry"
fi

say "smtp-sink/smtp-source not found; installing package postfix with apt-get (no daemon is started)"
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	# Only a policy file this run created is removed again.
	trap 'rm -f "$policy"' EXIT
	printf '#!/bin/sh\n# temporary, from campaignctl scripts/postfix.sh: start no service\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
else
	say "keeping the existing $policy"
fi
if command -v debconf-set-selections >/dev/null 2>&1; then
	echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections >&2
fi
{
	apt-get update &&
		apt-get install -y --no-install-recommends postfix
} >&2 || die "apt-get install postfix failed; install smtp-sink and smtp-source by hand"

find_dir || die "package postfix is installed but smtp-sink/smtp-source are still not found in PATH or /usr/sbin"
