#!/usr/bin/env bash
# The wheels that install myonion on a Raspberry Pi with no network: myonion's own, built here,
# and its dependencies for the Pi's Python (3.11, Raspberry Pi OS bookworm) and architecture,
# downloaded here through pip (this machine needs the package index, the Pi does not).
#
#   scripts/pi-wheels.sh [--arch arm64|armhf] OUT_DIR
#
# Then on the Pi:  python3 -m venv ~/myonion-venv
#                  ~/myonion-venv/bin/pip install --no-index --find-links OUT_DIR myonion
# armhf: PyPI has 32-bit ARM wheels of few of the dependencies; where one is missing this says
# so (install Debian's python3-… package on the Pi, or use piwheels there).
set -euo pipefail
cd "$(dirname "$0")/.."
arch=arm64
if [ "${1:-}" = "--arch" ]; then
    arch=${2:?--arch needs arm64 or armhf}
    shift 2
fi
out=${1:?give the folder to put the wheels in}
case "$arch" in
    arm64) platforms=(manylinux_2_34_aarch64 manylinux_2_28_aarch64 manylinux_2_17_aarch64
                      manylinux2014_aarch64 linux_aarch64) ;;
    armhf) platforms=(manylinux_2_31_armv7l manylinux_2_17_armv7l manylinux2014_armv7l
                      linux_armv7l) ;;
    *) echo "pi-wheels: no wheels for '$arch' (arm64 or armhf)" >&2; exit 2 ;;
esac
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
mkdir -p "$out"
"$python" -m pip wheel -q --no-deps -w "$out" .
wheel=$(ls -t "$out"/myonion-*.whl | head -n1)
# stem is published as source only; it is pure Python, so a wheel built here serves any Pi
"$python" -m pip wheel -q --no-deps -w "$out" "stem>=1.8.2,<2" 2>&1 | grep -v "^WARNING: Location" || true
"$python" -m pip download -q --only-binary=:all: --python-version 3.11 --implementation cp \
    --abi cp311 --abi abi3 --abi none $(printf -- '--platform %s ' "${platforms[@]}") \
    --find-links "$out" -d "$out" "$wheel" 2>&1 | grep -v "^WARNING: Location" || true
if ! ls "$out"/cryptography-*.whl >/dev/null 2>&1; then
    echo "pi-wheels: not every dependency has a wheel for $arch (see above)" >&2
    exit 1
fi
echo "pi-wheels: $(ls "$out" | wc -l) wheels for $arch in $out"
