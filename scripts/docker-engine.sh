#!/usr/bin/env bash
# Makes sure a Docker engine answers: when none does and this runs as root on a machine with
# Debian's docker.io (installed here with apt-get when missing), starts `dockerd` in the
# background (log: /var/log/poolstorm-dockerd.log) and waits until it answers. Otherwise
# says exactly what is missing and exits 1.
#
# usage: scripts/docker-engine.sh
set -euo pipefail

answers() { timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && answers; then
  exit 0
fi
if [[ $EUID -ne 0 ]]; then
  echo "docker-engine: no Docker engine answers; start one (sudo systemctl start docker, or sudo dockerd &) or set DOCKER_HOST" >&2
  exit 1
fi
if ! command -v dockerd >/dev/null 2>&1 && [[ ! -x /usr/sbin/dockerd ]]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "docker-engine: no Docker engine here and no apt-get to install Debian's docker.io" >&2
    exit 1
  fi
  echo "docker-engine: installing docker.io from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi
dockerd=$(command -v dockerd || echo /usr/sbin/dockerd)
echo "docker-engine: starting $dockerd" >&2
nohup "$dockerd" >/var/log/poolstorm-dockerd.log 2>&1 &
for _ in $(seq 120); do
  if answers; then exit 0; fi
  sleep 0.5
done
echo "docker-engine: dockerd did not answer within 60 s; its log ends:" >&2
tail -n 20 /var/log/poolstorm-dockerd.log >&2
exit 1
