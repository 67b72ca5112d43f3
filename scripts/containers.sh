#!/usr/bin/env bash
# Every container path, run for real against a local Docker engine:
#   1. `docker build .` (make docker-build) to an image that runs `poolstorm --version` and
#      `target-app --help`;
#   2. `make compose-up`, `make compose-run` with a quick scenario whose results land on the
#      bind mount (./results), on MySQL and with DB=postgres on PostgreSQL, then
#      `make compose-down`;
#   3. the runnable steps of .github/workflows/scenarios.yml: its MySQL service container
#      (health command and all), the CI scenario set against it, and the job summary.
# (`--db container`, through testcontainers, is a test of `make test`: tests/it/containers.rs.)
# With LOCAL_IMAGES=1 (what .ci/run sets) the images scripts/local-images.sh builds from
# Debian's packages stand in for the registry's. Every container and network made here is
# removed at the end, also on failure. Traffic goes only to these containers.
#
# usage: [LOCAL_IMAGES=1] scripts/containers.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/docker-engine.sh
make_args=()
if [[ "${LOCAL_IMAGES:-}" == 1 ]]; then
  scripts/local-images.sh
  make_args=(LOCAL_IMAGES=1)
  service_image=poolstorm-local/mariadb:10.11
else
  service_image=mysql:8.4
fi
bin=${POOLSTORM_BIN:-target/debug}
service=poolstorm-ci-mysql-$$
cleanup() {
  make --no-print-directory compose-down "${make_args[@]}" >/dev/null 2>&1 || true
  docker rm -f "$service" >/dev/null 2>&1 || true
}
trap cleanup EXIT
step() { printf '\n---- containers: %s\n' "$*"; }

step "docker build ."
started=$SECONDS
make --no-print-directory docker-build "${make_args[@]}"
echo "built in $((SECONDS - started)) s"
docker run --rm poolstorm:local --version
# Whole output first, then its head: `| head` can close the pipe while docker still writes,
# and docker then fails with "broken pipe" (it did once in CI).
help=$(docker run --rm --entrypoint target-app poolstorm:local --help)
head -n 3 <<<"$help"

step "make compose-up / compose-run / compose-down"
compose_containers() { docker ps -aq --filter label=com.docker.compose.service | sort; }
existing=$(compose_containers)
make --no-print-directory compose-up "${make_args[@]}"
scenario=scenarios/mode1-threadpool.toml
mkdir -p results   # counted before compose-run makes it: find fails on a missing folder
before=$(find results -name report.json | wc -l)
make --no-print-directory compose-run "${make_args[@]}" SCENARIO=$scenario ARGS=--quick
after=$(find results -name report.json 2>/dev/null | wc -l)
if ((after <= before)); then
  echo "containers: compose-run wrote no report.json into ./results" >&2
  exit 1
fi
echo "compose-run: $(find results -path '*mode1-threadpool*' -name report.json | sort | tail -n 1)"
before=$after
make --no-print-directory compose-run "${make_args[@]}" DB=postgres SCENARIO=$scenario ARGS=--quick
after=$(find results -name report.json 2>/dev/null | wc -l)
if ((after <= before)); then
  echo "containers: compose-run DB=postgres wrote no report.json into ./results" >&2
  exit 1
fi
echo "compose-run DB=postgres: $(find results -path '*mode1-threadpool*' -name report.json | sort | tail -n 1)"
make --no-print-directory compose-down "${make_args[@]}"
left=$(comm -13 <(echo "$existing") <(compose_containers) | grep . || true)
if [[ -n "$left" ]]; then
  echo "containers: compose-down left containers: $left" >&2
  exit 1
fi

step ".github/workflows/scenarios.yml, job scenarios (db: mysql), with its service container"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
docker run -d --name "$service" -e MYSQL_ROOT_PASSWORD=poolstorm -p "127.0.0.1:$port:3306" \
  --health-cmd "mysqladmin ping -h 127.0.0.1 -uroot -ppoolstorm --silent" \
  --health-interval 2s --health-timeout 5s --health-retries 60 "$service_image" >/dev/null
for _ in $(seq 120); do
  [[ "$(docker inspect --format '{{.State.Health.Status}}' "$service")" == healthy ]] && break
  sleep 1
done
[[ "$(docker inspect --format '{{.State.Health.Status}}' "$service")" == healthy ]] || {
  echo "containers: the service container never became healthy" >&2
  docker logs "$service" | tail -n 20 >&2
  exit 1
}
out=$(mktemp -d)
POOLSTORM_BIN=$bin POOLSTORM_OUT=$out scripts/scenarios.sh "mysql://root:poolstorm@127.0.0.1:$port"
summary=$(mktemp)
GITHUB_STEP_SUMMARY=$summary
for report in "$out"/*/*/report.md; do
  [ -f "$report" ] && { cat "$report"; echo; } >> "$GITHUB_STEP_SUMMARY"
done
echo "job summary: $(grep -c '^## ' "$summary") scenario reports, $(wc -c < "$summary") bytes"
grep -q '^## ' "$summary"
rm -rf "$out" "$summary"
step "every container path ran"
