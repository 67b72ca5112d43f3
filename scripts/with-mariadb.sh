#!/usr/bin/env bash
# Runs a command with POOLSTORM_MYSQL_URL pointing at a MySQL/MariaDB server.
#
# When POOLSTORM_MYSQL_URL is already set, the command runs against that server. Otherwise a
# throwaway server is started from the machine's `mariadbd` (or MySQL's `mysqld`): fresh
# datadir in a temp dir, private port and socket on 127.0.0.1, stopped and removed when the
# command ends, also on failure or Ctrl-C. Exits 1 with what to install when there is none.
#
# usage: scripts/with-mariadb.sh COMMAND [ARGS...]
set -euo pipefail
# shellcheck source=scripts/throwaway.sh
source "$(dirname "$0")/throwaway.sh"

if [[ -n "${POOLSTORM_MYSQL_URL:-}" ]]; then
  echo "with-mariadb: using POOLSTORM_MYSQL_URL=${POOLSTORM_MYSQL_URL}" >&2
  exec "$@"
fi

find_bin() {
  local name
  for name in "$@"; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    for dir in /usr/sbin /usr/local/sbin /usr/local/mysql/bin /opt/homebrew/bin /usr/local/bin; do
      if [[ -x "$dir/$name" ]]; then echo "$dir/$name"; return 0; fi
    done
  done
  return 1
}

if ! server=$(find_bin mariadbd mysqld); then
  cat >&2 <<'MSG'
with-mariadb: the MySQL tests need a MySQL or MariaDB server and none was found.
  Install one:   sudo apt-get install mariadb-server     (Debian/Ubuntu; ~15 s)
                 brew install mariadb                    (macOS)
  or point the tests at a running server:
                 POOLSTORM_MYSQL_URL=mysql://USER:PASS@127.0.0.1:3306 make test
MSG
  exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/poolstorm-mariadb.XXXXXX")
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

user_flag="--user=$(id -un)"
if installer=$(find_bin mariadb-install-db mysql_install_db) && [[ "$server" == *mariadbd* || "$installer" == *mariadb* ]]; then
  "$installer" --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
    --skip-test-db "$user_flag" >"$dir/install.log" 2>&1 \
    || { cat "$dir/install.log" >&2; exit 1; }
else
  "$server" --no-defaults --initialize-insecure --datadir="$dir/data" "$user_flag" >"$dir/install.log" 2>&1 \
    || { cat "$dir/install.log" >&2; exit 1; }
fi

port=$(free_port)

"$server" --no-defaults --datadir="$dir/data" --bind-address=127.0.0.1 --port="$port" \
  --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" \
  --skip-name-resolve --innodb-buffer-pool-size=128M --max-connections=1000 "$user_flag" 2>"$dir/stderr.log" &
pid=$!

wait_ready with-mariadb "$dir/error.log" "ready for connections" "$pid"

export POOLSTORM_MYSQL_URL="mysql://root@127.0.0.1:$port"
echo "with-mariadb: throwaway $("$server" --version | head -1) at $POOLSTORM_MYSQL_URL" >&2
set +e
"$@"
status=$?
set -e
exit "$status"
