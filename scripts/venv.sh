#!/usr/bin/env bash
# Makes DIR/.venv from PyPI with DIR/requirements.txt, again whenever that file changes. Needs
# python3 with the venv module. DIR: examples/fastapi-sqlalchemy (the example service) or
# tools (what the tests check poolstorm against: the `hdrhistogram` package, an independent
# HdrHistogram, and `kubernetes-validate`, Kubernetes' schemas offline).
#
# usage: scripts/venv.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/venv.sh DIR (examples/fastapi-sqlalchemy or tools)}
if cmp -s "$dir/requirements.txt" "$dir/.venv/requirements.txt" 2>/dev/null; then
  exit 0
fi
echo "venv: making $dir/.venv from PyPI ($dir/requirements.txt)" >&2
rm -rf "$dir/.venv"
python3 -m venv "$dir/.venv" \
  || { echo "venv: python3 -m venv failed; install python3 and python3-venv" >&2; exit 1; }
"$dir/.venv/bin/pip" install -q --disable-pip-version-check -r "$dir/requirements.txt" \
  || { echo "venv: pip could not install $dir/requirements.txt (is PyPI reachable?)" >&2; exit 1; }
cp "$dir/requirements.txt" "$dir/.venv/requirements.txt"
