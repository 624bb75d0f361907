#!/usr/bin/env bash
# pg.sh — a private, throw-away PostgreSQL cluster for tests and the demo.
#
#   bash scripts/pg.sh start    start (initdb on first use); prints the admin URL on stdout
#   bash scripts/pg.sh stop     fast shutdown; fine if nothing runs
#   bash scripts/pg.sh url      print the admin URL
#   bash scripts/pg.sh status   exit 0 if running, 3 if not (like pg_ctl status)
#   bash scripts/pg.sh restart fast|immediate
#                               pg_ctl restart with that shutdown mode (immediate = a
#                               crash: recovery runs on the way up), then wait until
#                               the server accepts connections again; fails if it
#                               was not running
#
# Environment:
#   CAMPAIGNCTL_PG_DIR      cluster area (default <repo>/.data/pg)
#   CAMPAIGNCTL_PG_PORT     TCP port on 127.0.0.1 (default 55432)
#   CAMPAIGNCTL_PG_TIMEOUT  seconds to wait for the server to accept connections (default 30)
#
# Layout of the cluster area:
#   data/        PGDATA
#   run/         unix socket directory (never /var/run: we must not need root's paths)
#   server.log   server log (its tail is shown when start fails)
#   cluster-path present only when the area is unreachable for the postgres user;
#                holds the path of the real area under /tmp (see resolve_area)
#
# The cluster is for throw-away test data only: it trusts every connection from
# loopback and the socket, is tuned for speed (fsync=off, ...) and loses data on a crash.
# Only the URL goes to stdout so callers can do URL=$(bash scripts/pg.sh start).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
PG_DIR=${CAMPAIGNCTL_PG_DIR:-$REPO/.data/pg}
PG_PORT=${CAMPAIGNCTL_PG_PORT:-55432}
PG_TIMEOUT=${CAMPAIGNCTL_PG_TIMEOUT:-30}
POINTER_NAME=cluster-path

say() { printf 'pg.sh: %s\n' "$*" >&2; }
die() {
	printf 'pg.sh: error: %s\n' "$*" >&2
	exit 1
}

case "$PG_PORT" in
'' | *[!0-9]*) die "CAMPAIGNCTL_PG_PORT=$PG_PORT is not a port number; set it to e.g. 55432" ;;
esac
if [ "$PG_PORT" -lt 1 ] || [ "$PG_PORT" -gt 65535 ]; then
	die "CAMPAIGNCTL_PG_PORT=$PG_PORT is outside 1..65535"
fi
case "$PG_TIMEOUT" in
'' | *[!0-9]*) die "CAMPAIGNCTL_PG_TIMEOUT=$PG_TIMEOUT is not a number of seconds" ;;
esac
# Relative paths would break once we cd / before running server commands.
case "$PG_DIR" in
/*) ;;
*) PG_DIR=$PWD/$PG_DIR ;;
esac

is_root() { [ "$(id -u)" = 0 ]; }

# as_pg runs a command as the user that owns the cluster. Postgres refuses to run
# as root, so root hands the work to the postgres system user. We cd / first because
# root's cwd (e.g. /root) is usually unreadable for postgres and initdb/pg_ctl
# complain about it. fd 9 (the start lock) is closed so a postmaster started here
# does not inherit it and hold the lock for its whole life.
as_pg() {
	if is_root; then
		(cd / && runuser -u postgres -- "$@") 9>&-
	else
		(cd / && "$@") 9>&-
	fi
}

url() {
	printf 'postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable\n' "$PG_PORT"
}

# find_bindir prints the directory holding initdb/pg_ctl, or returns 1.
find_bindir() {
	local d
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			printf '%s\n' "$d"
			return 0
		fi
	fi
	# Debian/Ubuntu keep server binaries out of PATH, one directory per major version.
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
		printf '%s\n' "$d"
		return 0
	fi
	return 1
}

# need_bindir sets BINDIR, installing the server packages as a last resort: CI runs on
# clean machines that should have them, but a missing package should not fail a build
# when we are allowed to fix it.
need_bindir() {
	if BINDIR=$(find_bindir); then
		return 0
	fi
	if is_root && command -v apt-get >/dev/null 2>&1; then
		say "no PostgreSQL server binaries found; installing package postgresql with apt-get"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update >&2 && apt-get install -y postgresql >&2 ||
			die "apt-get install postgresql failed; install the PostgreSQL server (initdb, pg_ctl) by hand"
		if BINDIR=$(find_bindir); then
			return 0
		fi
	fi
	die "no PostgreSQL server binaries (initdb, pg_ctl) found via pg_config or /usr/lib/postgresql/*/bin; install PostgreSQL 15 (Debian: apt-get install postgresql) and retry"
}

# postgres_can_use reports whether the postgres user can reach and write dir.
# runuser resolves the full path as postgres, so a root-only 0700 parent fails here.
postgres_can_use() {
	runuser -u postgres -- test -d "$1" -a -x "$1" -a -w "$1" 2>/dev/null
}

# resolve_area sets AREA, the directory that holds data/, run/ and server.log.
# With create=1 (PG_DIR must exist; created=1 when this run made it) it prepares
# what start needs; otherwise it only looks.
#
# Normally AREA is PG_DIR. When root runs us and PG_DIR sits below a directory the
# postgres user cannot traverse (e.g. /root or a 0700 dir under /tmp), we do not
# loosen the user's permissions; the cluster lives in /tmp/campaignctl-pg-<port>
# instead and PG_DIR keeps a pointer file so stop/url/status find it.
resolve_area() {
	local create=$1 created=${2:-0} pointer=$PG_DIR/$POINTER_NAME
	if [ -f "$pointer" ]; then
		AREA=$(head -n 1 "$pointer")
		[ -n "$AREA" ] || die "pointer file $pointer is empty; delete it and run start again"
		if [ "$create" = 1 ]; then
			prepare_fallback "$AREA"
		fi
		return 0
	fi
	AREA=$PG_DIR
	[ "$create" = 1 ] || return 0

	is_root || return 0

	# Hand the area to postgres only when it is ours to hand: freshly created or
	# still empty (but for our lock file). Someone else's directory keeps its owner.
	if [ "$created" = 1 ] || [ -z "$(ls -A "$PG_DIR" | grep -vx '.lock' || true)" ]; then
		chown postgres:postgres "$PG_DIR"
		chmod 0700 "$PG_DIR"
	fi
	if postgres_can_use "$PG_DIR"; then
		return 0
	fi
	AREA=/tmp/campaignctl-pg-$PG_PORT
	say "user postgres cannot reach or write $PG_DIR (e.g. a parent directory is closed to it); using $AREA and recording it in $pointer"
	prepare_fallback "$AREA"
	printf '%s\n' "$AREA" >"$pointer.tmp"
	mv -f "$pointer.tmp" "$pointer"
}

# prepare_fallback creates dir owned by postgres, refusing anything another user
# could have planted in /tmp (a symlink, or a directory owned by someone else).
prepare_fallback() {
	local dir=$1
	if [ -L "$dir" ]; then
		die "$dir is a symlink; refusing to use it. Remove it and run start again"
	fi
	if [ ! -d "$dir" ]; then
		mkdir -m 0700 "$dir" || die "cannot create $dir"
		chown postgres:postgres "$dir"
	fi
	local owner
	owner=$(stat -c %U "$dir")
	if [ "$owner" != postgres ]; then
		die "$dir is owned by $owner, not postgres; refusing to use it. Remove it and run start again"
	fi
	postgres_can_use "$dir" || die "user postgres cannot write $dir"
}

# running reports whether a postmaster serves $AREA/data.
running() {
	[ -f "$AREA/data/PG_VERSION" ] || return 1
	[ -f "$AREA/data/postmaster.pid" ] || return 1
	local bindir
	bindir=$(find_bindir) || return 1
	as_pg "$bindir/pg_ctl" -D "$AREA/data" status >/dev/null 2>&1
}

# running_port prints the port recorded by the running postmaster (line 4 of postmaster.pid).
running_port() {
	sed -n 4p "$AREA/data/postmaster.pid" 2>/dev/null || true
}

# port_busy reports whether something already accepts TCP connections on the port.
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null
}

show_log_tail() {
	if [ -f "$AREA/server.log" ]; then
		say "last lines of $AREA/server.log:"
		tail -n 25 "$AREA/server.log" | sed 's/^/    /' >&2
	fi
}

init_cluster() {
	say "creating a new cluster in $AREA/data"
	local out
	# --no-sync: nothing here is worth an fsync, and it saves seconds on slow disks.
	if ! out=$(as_pg "$BINDIR/initdb" -D "$AREA/data" -U postgres -E UTF8 --locale=C \
		--auth=trust --no-sync 2>&1); then
		printf '%s\n' "$out" | sed 's/^/    /' >&2
		die "initdb failed for $AREA/data (output above)"
	fi
	# Replace the generated rules: loopback and our own socket only, trusted because
	# the cluster holds nothing but throw-away test data.
	as_pg tee "$AREA/data/pg_hba.conf" >/dev/null <<'EOF'
# campaignctl throw-away test cluster: trust loopback and the private socket only.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF
	printf "\ninclude_if_exists = 'campaignctl.conf'\n" | as_pg tee -a "$AREA/data/postgresql.conf" >/dev/null
}

# write_settings regenerates the settings we own on every start, so a changed port or
# a moved area takes effect without a new initdb.
write_settings() {
	local sockdir=$AREA/run sock_setting
	# A unix socket path is limited to ~107 bytes; past that postgres refuses to
	# start, so fall back to TCP only rather than fail.
	if [ $((${#sockdir} + 20)) -gt 100 ]; then
		say "path $sockdir is too long for a unix socket; the cluster listens on TCP only"
		sock_setting="''"
	else
		sock_setting="'${sockdir//\'/\'\'}'"
	fi
	as_pg tee "$AREA/data/campaignctl.conf" >/dev/null <<EOF
# Written by scripts/pg.sh on every start; edits are lost.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = $sock_setting
max_connections = 200
# Throw-away cluster: trade durability for speed.
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

wait_ready() {
	local deadline=$((SECONDS + PG_TIMEOUT))
	while :; do
		if "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -t 2; then
			return 0
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			show_log_tail
			die "server in $AREA/data did not accept connections on 127.0.0.1:$PG_PORT within ${PG_TIMEOUT}s (log tail above)"
		fi
		sleep 0.1
	done
}

cmd_start() {
	need_bindir
	local created=0
	if [ ! -d "$PG_DIR" ]; then
		mkdir -p "$PG_DIR" || die "cannot create $PG_DIR; set CAMPAIGNCTL_PG_DIR to a writable directory"
		created=1
	fi
	# Serialise concurrent starts (e.g. two make targets at once) on one area.
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$PG_DIR/.lock"
		flock 9
	fi
	resolve_area 1 "$created"

	if running; then
		local p
		p=$(running_port)
		if [ -n "$p" ] && [ "$p" != "$PG_PORT" ]; then
			die "the cluster in $AREA/data already runs on port $p, not $PG_PORT; run 'CAMPAIGNCTL_PG_PORT=$p bash scripts/pg.sh stop' first"
		fi
		say "already running on 127.0.0.1:$PG_PORT ($AREA/data)"
		wait_ready
		url
		return 0
	fi

	if port_busy; then
		die "port $PG_PORT on 127.0.0.1 is already used by another process; stop it or set CAMPAIGNCTL_PG_PORT to a free port"
	fi

	if [ ! -f "$AREA/data/PG_VERSION" ]; then
		if [ -e "$AREA/data" ] && [ -n "$(ls -A "$AREA/data" 2>/dev/null)" ]; then
			die "$AREA/data exists but is not a PostgreSQL data directory; remove it and run start again"
		fi
		init_cluster
	fi
	if is_root; then
		mkdir -p "$AREA/run" && chown postgres:postgres "$AREA/run" && chmod 0700 "$AREA/run"
	else
		mkdir -p -m 0700 "$AREA/run"
	fi
	write_settings
	# The log must be writable by postgres; create it through as_pg so it owns it.
	as_pg touch "$AREA/server.log"

	say "starting PostgreSQL on 127.0.0.1:$PG_PORT ($AREA/data)"
	if ! as_pg "$BINDIR/pg_ctl" -D "$AREA/data" -l "$AREA/server.log" -w -t "$PG_TIMEOUT" start >/dev/null 2>&1; then
		show_log_tail
		die "pg_ctl could not start the server in $AREA/data (log tail above)"
	fi
	wait_ready
	url
}

cmd_stop() {
	resolve_area 0
	if ! running; then
		say "not running ($AREA/data)"
		return 0
	fi
	local bindir
	bindir=$(find_bindir)
	if ! as_pg "$bindir/pg_ctl" -D "$AREA/data" -m fast -w -t "$PG_TIMEOUT" stop >/dev/null 2>&1; then
		show_log_tail
		die "pg_ctl could not stop the server in $AREA/data (log tail above)"
	fi
	say "stopped ($AREA/data)"
}

cmd_restart() {
	local mode=${1:-}
	case "$mode" in
	fast | immediate) ;;
	*) die "restart needs a shutdown mode: bash scripts/pg.sh restart fast|immediate" ;;
	esac
	need_bindir
	resolve_area 0
	if ! running; then
		die "not running ($AREA/data); use start"
	fi
	local p
	p=$(running_port)
	if [ -n "$p" ] && [ "$p" != "$PG_PORT" ]; then
		die "the cluster in $AREA/data runs on port $p, not $PG_PORT; set CAMPAIGNCTL_PG_PORT=$p"
	fi
	say "restarting PostgreSQL on 127.0.0.1:$PG_PORT ($AREA/data), shutdown mode $mode"
	# Output to /dev/null and the server's own log: the new postmaster must not
	# inherit our stdout, or a caller reading it would wait for the server's exit.
	if ! as_pg "$BINDIR/pg_ctl" -D "$AREA/data" -l "$AREA/server.log" -m "$mode" -w -t "$PG_TIMEOUT" restart >/dev/null 2>&1; then
		show_log_tail
		die "pg_ctl could not restart the server in $AREA/data (log tail above)"
	fi
	wait_ready
	url
}

cmd_status() {
	resolve_area 0
	if running; then
		say "running on 127.0.0.1:$(running_port) ($AREA/data)"
		return 0
	fi
	say "not running ($AREA/data)"
	return 3
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
url) url ;;
status) cmd_status ;;
restart) cmd_restart "${2:-}" ;;
*)
	printf 'usage: bash scripts/pg.sh start|stop|url|status|restart fast|immediate\n' >&2
	exit 2
	;;
esac
