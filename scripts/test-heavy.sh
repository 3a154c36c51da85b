#!/usr/bin/env bash
# The heavy tests CI leaves out (long runs under emulation, see tests/heavy.py): an armhf site,
# and the pi-iot-gateway stack bundled here for arm64, loaded and brought up by myonion running
# as an aarch64 program. Arguments go to pytest (e.g. -k armhf). Takes 20-40 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export MYONION_NETWORK=local
pidfile=$(mktemp -u /tmp/myonion-dockerd.XXXXXX)
export MYONION_DOCKERD_PIDFILE=$pidfile
cleanup() {
    if [ -s "$pidfile" ]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    fi
}
trap cleanup EXIT
scripts/setup-host.sh --emulate arm64 --emulate armhf
scripts/venv.sh test
.venv/bin/myonion base build
.venv/bin/python -m pytest -p no:cacheprovider --heavy -m heavy "$@"
