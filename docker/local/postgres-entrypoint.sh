#!/bin/sh
# First start: initdb with the superuser and password asked for (or trust, when
# POSTGRES_HOST_AUTH_METHOD=trust), connections from anywhere, and the database asked for;
# then the server in the foreground.
set -eu
user=${POSTGRES_USER:-postgres}
password=${POSTGRES_PASSWORD:-}
method=${POSTGRES_HOST_AUTH_METHOD:-}
if [ -z "$password" ] && [ "$method" != trust ]; then
  echo "set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust)" >&2
  exit 1
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "${password:-unused}" > "$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  rm -f "$pwfile"
  echo "host all all all ${method:-scram-sha-256}" >> "$PGDATA/pg_hba.conf"
  db=${POSTGRES_DB:-$user}
  if [ "$db" != postgres ]; then
    postgres --single -D "$PGDATA" postgres >/dev/null <<SQL
CREATE DATABASE "$db";
SQL
  fi
fi
exec "$@" -c listen_addresses='*' -c max_connections=1000
