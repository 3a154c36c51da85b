#!/usr/bin/env bash
# The heavy tests CI leaves out (long runs under emulation, see tests/heavy.py): an armhf site,
# and the pi-iot-gateway stack bundled here for arm64, loaded and brought up by myonion running
# as an aarch64 program. Arguments go to pytest (e.g. -k armhf). Takes 20-40 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export MYONION_NETWORK=local
pidfile=$(mktemp -u /tmp/myonion-dockerd.XXXXXX)
export MYONION_DOCKERD_PIDFILE=$pidfile
wheels=$(mktemp -d /tmp/myonion-pi-wheels.XXXXXX)
cleanup() {
    rm -rf "$wheels"
    if [ -s "$pidfile" ]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    fi
}
trap cleanup EXIT
scripts/setup-host.sh --emulate arm64 --emulate armhf
scripts/venv.sh test
.venv/bin/myonion base build
# the wheels a Pi with no network installs myonion from (this machine downloads them)
scripts/pi-wheels.sh "$wheels"
export MYONION_PI_WHEELS=$wheels
.venv/bin/python -m pytest -p no:cacheprovider --heavy -m heavy "$@"
