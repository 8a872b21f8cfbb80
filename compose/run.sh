#!/usr/bin/env bash
# The run command: environment, the local stack, then the service's processes in the foreground.
# Ctrl-C stops the service processes; `python -m compose.stack down` stops the stack too.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=compose/env.sh
source compose/env.sh || exit 1
python -m compose.stack up || exit 1
exec python -m compose.serve "$@"
