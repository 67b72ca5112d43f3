#!/usr/bin/env bash
# What the test suite needs besides Rust, checked before any test runs:
#   a MariaDB/MySQL server binary (or POOLSTORM_MYSQL_URL)  mariadb-server
#   PostgreSQL's initdb and postgres (or POOLSTORM_POSTGRES_URL)  postgresql
#   pgbouncer, the pool in front of PostgreSQL                pgbouncer
#   HdrHistogram's Java tools, for the interval-log test     libhdrhistogram-java default-jre-headless
#   docker-compose, to check docker-compose.yml              docker-compose
#   tmux, to drive the dashboard in a real terminal          tmux
#   Chromium, to render report.html                          chromium
#   Python 3 with venv, for the example service              python3 python3-venv
#   nginx, an independent HTTP/2 and TLS server                nginx-light
# Missing packages are installed with apt-get when running as root on Debian/Ubuntu (as CI
# does); otherwise this prints the exact command to run and exits 1.
# Then the virtual environments are made: the example service's (examples/fastapi-sqlalchemy/.venv)
# and the tools' the tests check against (tools/.venv: hdrhistogram, kubernetes-validate), each
# from PyPI, again whenever its requirements.txt changes, and a Docker engine must answer with
# the MariaDB image the container backend's test runs (scripts/docker-engine.sh starts dockerd
# as root, installing Debian's docker.io; scripts/local-images.sh builds the image from
# Debian's packages, with debootstrap).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]]; }
if [[ -z "${POOLSTORM_MYSQL_URL:-}" ]] && ! have mariadbd && ! have mysqld; then missing+=(mariadb-server); fi
if [[ -z "${POOLSTORM_POSTGRES_URL:-}" ]] && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! have initdb; then
  missing+=(postgresql)
fi
have pgbouncer || missing+=(pgbouncer)
[[ -f /usr/share/java/hdrhistogram.jar ]] || missing+=(libhdrhistogram-java)
have java || missing+=(default-jre-headless)
have docker-compose || missing+=(docker-compose)
have tmux || missing+=(tmux)
have nginx || missing+=(nginx-light)
have chromium || have chromium-browser || missing+=(chromium)
if ! have python3; then
  missing+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi

if ((${#missing[@]} > 0)); then
  if [[ $EUID -eq 0 ]] && have apt-get; then
    echo "test-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    printf '%s\n' "test-deps: the tests need packages this machine does not have:" \
      "    sudo apt-get install ${missing[*]}" \
      "(elsewhere: a MariaDB or MySQL server, HdrHistogram's Java tools with a JRE, docker-compose," \
      "tmux, nginx, Chromium and Python 3 with venv; POOLSTORM_MYSQL_URL=mysql://USER:PASS@IP:PORT can stand" \
      "in for MariaDB)" >&2
    exit 1
  fi
fi

scripts/venv.sh examples/fastapi-sqlalchemy
scripts/venv.sh tools
scripts/local-images.sh mariadb postgres
