#!/usr/bin/env bash
# The test command: environment, a private stack on its own ports, lint, types, the whole suite,
# stack down. Exit code: pytest's (0 only when tests ran and passed; "no tests" fails).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=compose/env.sh
source compose/env.sh || exit 1

# a private stack, so a running dev stack (default ports) is never touched
export QLLM_STACK_DIR=${QLLM_TEST_STACK_DIR:-$ROOT/.qllm/test-stack}
export QLLM_PORTS__KAFKA=${QLLM_PORTS__KAFKA:-19092}
export QLLM_PORTS__KAFKA_CONTROLLER=${QLLM_PORTS__KAFKA_CONTROLLER:-19093}
export QLLM_PORTS__CASSANDRA_CQL=${QLLM_PORTS__CASSANDRA_CQL:-19042}
export QLLM_PORTS__CASSANDRA_STORAGE=${QLLM_PORTS__CASSANDRA_STORAGE:-17000}
export QLLM_PORTS__REDIS=${QLLM_PORTS__REDIS:-16390}

step() { printf '\n==> %s\n' "$*"; }

step "browser for the dashboard test"
if ! command -v chromium >/dev/null 2>&1 && [ -z "${QLLM_CHROMIUM:-}" ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || exit 1
  else
    echo "chromium is missing: as root, apt-get install -y chromium (or set QLLM_CHROMIUM)" >&2
  fi
fi
command -v chromium || echo "${QLLM_CHROMIUM:-none}"

step "lint and format (ruff)"
ruff check . && ruff format --check . || exit 1
step "types (mypy)"
packages=$(for p in compose schemas producers consumers streams api kernels model sdk cli; do
  [ -f "$p/__init__.py" ] && echo "$p"; done)
# shellcheck disable=SC2086
mypy $packages || exit 1

step "stack up ($QLLM_STACK_DIR)"
trap 'step "stack down"; python -m compose.stack down --wipe' EXIT
python -m compose.stack up || exit 1

step "tests"
python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no tests; that is a failure, not a pass" >&2
  rc=1
fi
exit "$rc"
