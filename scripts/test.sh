#!/usr/bin/env bash
# The whole test suite, as CI runs it: unit, template, GUI and integration tests on a real
# Docker engine and the private Tor network. Starts dockerd if none answers and stops it after.
set -euo pipefail
cd "$(dirname "$0")/.."
export MYONION_NETWORK=local
export QT_QPA_PLATFORM=offscreen
pidfile=$(mktemp -u /tmp/myonion-dockerd.XXXXXX)
export MYONION_DOCKERD_PIDFILE=$pidfile
cleanup() {
    if [ -s "$pidfile" ]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    fi
}
trap cleanup EXIT
# arm64 through emulation: the arm64 site is proven end to end in every run
scripts/setup-host.sh --emulate arm64
scripts/venv.sh test
.venv/bin/ruff check myonion gui tests bench
.venv/bin/mypy
.venv/bin/myonion base build
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "test.sh: pytest collected no tests; that is a failure" >&2
    exit 1
fi
exit "$status"
