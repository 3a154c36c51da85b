#!/usr/bin/env bash
# Creates .venv beside the project and installs myonion (editable) with the given extras.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-gui}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[$extras]"
