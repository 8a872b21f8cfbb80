#!/usr/bin/env bash
# Source this: it makes (once) the project's virtual environment and activates it.
#
# The environment lives under $QLLM_HOME/venvs/<hash of requirements.lock>, so every clone and
# every CI run on a machine shares one install per dependency set; a changed lock makes a new one.
# The project itself is not installed into it: the repo root goes on PYTHONPATH.
QLLM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export QLLM_HOME=${QLLM_HOME:-$HOME/.cache/qllm}

qllm_python() {
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))'; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: Python 3.11 or 3.12 is required (found: $(python3 --version 2>&1))" >&2
  echo "  fix: install python3.11 (Debian: apt-get install -y python3.11 python3.11-venv)" >&2
  return 1
}

qllm_venv() {
  local lock="$QLLM_ROOT/compose/requirements.lock" py hash venv
  py=$(qllm_python) || return 1
  hash=$( { cat "$lock"; "$py" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)
  venv="$QLLM_HOME/venvs/$hash"
  if [ ! -f "$venv/.complete" ]; then
    echo "==> creating the Python environment in $venv (first run: downloads torch, takes minutes)" >&2
    rm -rf "$venv"
    mkdir -p "$QLLM_HOME/venvs"
    "$py" -m venv "$venv" || return 1
    "$venv/bin/pip" install -q --upgrade pip >&2 || return 1
    "$venv/bin/pip" install -r "$lock" >&2 || { rm -rf "$venv"; return 1; }
    touch "$venv/.complete"
  fi
  echo "$venv"
}

QLLM_VENV=$(qllm_venv) || return 1 2>/dev/null || exit 1
export QLLM_VENV

# the `qllm` console script for this checkout (pip install . gives the same one from pyproject)
mkdir -p "$QLLM_ROOT/.qllm/bin"
printf '#!/bin/sh\nexec "%s/bin/python" -m cli "$@"\n' "$QLLM_VENV" > "$QLLM_ROOT/.qllm/bin/qllm"
chmod +x "$QLLM_ROOT/.qllm/bin/qllm"

export PATH="$QLLM_ROOT/.qllm/bin:$QLLM_VENV/bin:$PATH"
export PYTHONPATH="$QLLM_ROOT${PYTHONPATH:+:$PYTHONPATH}"
