#!/usr/bin/env bash
# Re-resolve pyproject.toml's dependencies (+ dev extra) into compose/requirements.lock.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 -m venv "$TMP/venv"
"$TMP/venv/bin/python" - "$ROOT/pyproject.toml" > "$TMP/reqs.txt" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["dev"]))
PY
"$TMP/venv/bin/pip" install -q -r "$TMP/reqs.txt"
{
  sed -n '1,3p' "$ROOT/compose/requirements.lock"
  "$TMP/venv/bin/pip" freeze | grep -v '^-e'
} > "$TMP/lock" && mv "$TMP/lock" "$ROOT/compose/requirements.lock"
echo "wrote compose/requirements.lock"
