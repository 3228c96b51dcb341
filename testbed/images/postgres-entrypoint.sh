#!/bin/bash
# Entrypoint of the test bed's PostgreSQL images. It reproduces the parts of the official
# postgres image's entrypoint that cutover relies on, nothing more:
#   - an empty PGDATA is initialised from POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB;
#   - password (scram-sha-256) auth over TCP from anywhere, trust only on the local socket;
#   - listens on all addresses, logs to stdout/stderr;
#   - the server runs as the postgres user (we start as root only to fix ownership);
#   - SIGTERM and SIGINT both give a *fast* shutdown (postgres alone treats SIGTERM as "smart",
#     which waits for every client to leave: a stop would then hang on the worker's connection);
#   - POSTGRES_PASSWORD, POSTGRES_USER, POSTGRES_DB and POSTGRES_INITDB_ARGS may each come from
#     a file named by the same variable with _FILE appended (a Compose or Swarm secret).
# A non-empty PGDATA is used as is, so the "after" image starts on the "before" image's volume.
set -Eeuo pipefail

# Any other command (psql, pg_dump, bash ...) runs unchanged, as in the official image.
if [ "${1:-postgres}" != "postgres" ]; then
	exec "$@"
fi
shift || true

# NAME from NAME_FILE, as upstream reads its settings: giving both is an error; the file is
# read with $(< file), which drops its trailing newlines; NAME is exported and NAME_FILE unset,
# so the re-exec as postgres below (which may not read the file) gets the value, and never
# both. Read here, as root, before privileges are dropped: a secret may be readable by root only.
setting_from_file() {
	local name=$1 fallback=${2:-} file_var="${1}_FILE"
	local value=${!name:-} file=${!file_var:-}
	if [ -n "$value" ] && [ -n "$file" ]; then
		echo "error: both $name and $file_var are set; give one of them" >&2
		exit 1
	fi
	if [ -n "$file" ]; then
		value=$(<"$file")
	fi
	export "$name=${value:-$fallback}"
	unset "$file_var"
}
setting_from_file POSTGRES_PASSWORD
setting_from_file POSTGRES_USER postgres
setting_from_file POSTGRES_DB "$POSTGRES_USER"
setting_from_file POSTGRES_INITDB_ARGS

: "${PGDATA:=/var/lib/postgresql/data}"

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /run/postgresql
	chmod 0700 "$PGDATA"
	chmod 2777 /run/postgresql
	chown -R postgres:postgres "$PGDATA" /run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo "error: database is uninitialized and POSTGRES_PASSWORD is not set" >&2
		exit 1
	fi
	echo "entrypoint: initialising $PGDATA for user $POSTGRES_USER"
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, as upstream.
	initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
		--auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 \
		${POSTGRES_INITDB_ARGS:-} >/dev/null
	rm -f "$pwfile"
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

	# A private, socket-only server for the first-run setup, like upstream.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
	if [ "$POSTGRES_DB" != postgres ]; then
		# psql interpolates :"db" (quoted identifier) only in script input, not with -c.
		echo 'CREATE DATABASE :"db"' | psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" \
			--dbname postgres -v db="$POSTGRES_DB" >/dev/null
	fi
	for f in /docker-entrypoint-initdb.d/*.sql; do
		[ -e "$f" ] || continue
		echo "entrypoint: running $f"
		psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f"
	done
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo "entrypoint: initialisation complete"
fi

# Run postgres as a child so SIGTERM can be turned into SIGINT (fast shutdown).
postgres -D "$PGDATA" "$@" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || true' TERM INT
# `wait` returns early when a trapped signal arrives: keep waiting until postgres is gone,
# then ask once more, which yields the server's own exit status.
while kill -0 "$pid" 2>/dev/null; do
	wait "$pid" || true
done
status=0
wait "$pid" || status=$?
exit "$status"
