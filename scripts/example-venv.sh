#!/usr/bin/env bash
# Makes the example service's virtual environment (examples/fastapi-sqlalchemy/.venv) from PyPI,
# again whenever its requirements.txt changes. Needs python3 with the venv module.
set -euo pipefail
cd "$(dirname "$0")/.."
example=examples/fastapi-sqlalchemy
if cmp -s "$example/requirements.txt" "$example/.venv/requirements.txt" 2>/dev/null; then
  exit 0
fi
echo "example-venv: making $example/.venv from PyPI ($example/requirements.txt)" >&2
rm -rf "$example/.venv"
python3 -m venv "$example/.venv" \
  || { echo "example-venv: python3 -m venv failed; install python3 and python3-venv" >&2; exit 1; }
"$example/.venv/bin/pip" install -q --disable-pip-version-check -r "$example/requirements.txt" \
  || { echo "example-venv: pip could not install $example/requirements.txt (is PyPI reachable?)" >&2; exit 1; }
cp "$example/requirements.txt" "$example/.venv/requirements.txt"
