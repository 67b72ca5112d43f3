#!/usr/bin/env bash
# Runs a command with POOLSTORM_POSTGRES_URL pointing at a PostgreSQL server.
#
# When POOLSTORM_POSTGRES_URL is already set, the command runs against that server. Otherwise a
# throwaway server is started from the machine's PostgreSQL (Debian's `postgresql` package):
# `initdb` into a temp dir, a private port on 127.0.0.1 and a private socket directory, run as
# the unprivileged `postgres` user when this runs as root (initdb and postgres refuse root),
# stopped and removed when the command ends, also on failure or Ctrl-C. Exits 1 with what to
# install when there is none.
#
# usage: scripts/with-postgres.sh COMMAND [ARGS...]
set -euo pipefail
# shellcheck source=scripts/throwaway.sh
source "$(dirname "$0")/throwaway.sh"

if [[ -n "${POOLSTORM_POSTGRES_URL:-}" ]]; then
  echo "with-postgres: using POOLSTORM_POSTGRES_URL=${POOLSTORM_POSTGRES_URL}" >&2
  exec "$@"
fi

bin=""
for candidate in /usr/lib/postgresql/*/bin "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")"; do
  if [[ -x "$candidate/initdb" && -x "$candidate/postgres" ]]; then bin="$candidate"; fi
done
if [[ -z "$bin" ]]; then
  cat >&2 <<'MSG'
with-postgres: the PostgreSQL tests need a PostgreSQL server and none was found.
  Install one:   sudo apt-get install postgresql     (Debian/Ubuntu)
                 brew install postgresql             (macOS)
  or point the tests at a running server:
                 POOLSTORM_POSTGRES_URL=postgres://USER:PASS@127.0.0.1:5432 make test
MSG
  exit 1
fi

as_owner=()
owner=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
  owner=postgres
  id postgres >/dev/null 2>&1 || { echo "with-postgres: running as root needs the user postgres (the package makes it)" >&2; exit 1; }
  as_owner=(runuser -u postgres --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/poolstorm-postgres.XXXXXX")
chmod 755 "$dir"
[[ $(id -u) -eq 0 ]] && chown postgres "$dir"
pid=""
cleanup() {
  # The postmaster's own pid (runuser's child when run as root) is the first line of its pid file.
  local postmaster
  postmaster=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null || true)
  for p in $postmaster $pid; do
    kill -INT "$p" 2>/dev/null || true   # SIGINT: PostgreSQL's fast shutdown
  done
  for p in $postmaster $pid; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }

port=$(free_port)

"${as_owner[@]}" "$bin/postgres" -D "$dir/data" -h 127.0.0.1 -p "$port" -k "$dir" \
  -c max_connections=500 -c fsync=off -c synchronous_commit=off >"$dir/server.log" 2>&1 &
pid=$!

wait_ready with-postgres "$dir/server.log" "ready to accept connections" "$pid"

export POOLSTORM_POSTGRES_URL="postgres://postgres@127.0.0.1:$port"
echo "with-postgres: throwaway $("$bin/postgres" --version) (run as $owner) at $POOLSTORM_POSTGRES_URL" >&2
set +e
"$@"
status=$?
set -e
exit "$status"
