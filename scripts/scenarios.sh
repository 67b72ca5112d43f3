#!/usr/bin/env bash
# The CI scenario set in --quick form on one database backend:
#   scripts/scenarios.sh sqlite                 # embedded, a temp file per cell
#   scripts/scenarios.sh mysql://USER@IP:PORT   # a running server, a fresh database per cell
#   scripts/scenarios.sh mariadb-local          # a throwaway server poolstorm starts itself
#   scripts/scenarios.sh postgres-local         # a throwaway PostgreSQL poolstorm starts itself
#   scripts/scenarios.sh postgres://USER@IP:PORT
# The managed scenarios run with --db; blackbox.toml runs against a target-app started here on
# the same backend (a file for sqlite, database `blackbox` on a server). Results: results/.
set -euo pipefail
db=${1:?usage: scripts/scenarios.sh sqlite|mariadb-local|postgres-local|mysql://USER@IP:PORT|postgres://USER@IP:PORT}
bin=${POOLSTORM_BIN:-target/release}
out=${POOLSTORM_OUT:-results}

scripts/venv.sh examples/fastapi-sqlalchemy   # fastapi-sqlalchemy.toml runs it
status=0
# pgbouncer.toml puts pgbouncer in front of PostgreSQL: it runs on PostgreSQL backends only.
pooled=()
case "$db" in postgres-local|postgres://*|postgresql://*) pooled=(scenarios/pgbouncer.toml) ;; esac
"$bin/poolstorm" run --quick --db "$db" --out "$out" --progress plain \
  scenarios/mode1-threadpool.toml scenarios/mode1-sweep.toml \
  scenarios/mode2-sequence.toml scenarios/mode2-sweep.toml scenarios/fastapi-sqlalchemy.toml \
  "${pooled[@]}" || status=$?

case "$db" in
  sqlite) app_db=() ;;
  mysql://*|mariadb://*|postgres://*|postgresql://*) app_db=(--database-url "${db%/}/blackbox") ;;
  *) echo "scenarios: blackbox.toml needs sqlite or a server's URL, skipping it for $db" >&2; exit "$status" ;;
esac
log=$(mktemp)
"$bin/target-app" "${app_db[@]}" --pool-max 10 --threads 40 >"$log" 2>"$log.err" &
app=$!
trap 'kill "$app" 2>/dev/null || true; wait "$app" 2>/dev/null || true; rm -f "$log" "$log.err"' EXIT
for _ in $(seq 100); do grep -q listening "$log" && break; sleep 0.1; done
url=$(sed 's/listening on //' "$log")
"$bin/poolstorm" run --quick --out "$out" --progress plain --set "target.url=$url" scenarios/blackbox.toml || status=$?
exit "$status"
