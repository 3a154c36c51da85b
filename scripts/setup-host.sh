#!/usr/bin/env bash
# Installs what myonion needs on a Debian host and makes sure a Docker engine answers.
# Idempotent; needs root. Prints the PID of a dockerd it started to $MYONION_DOCKERD_PIDFILE.
#
#   scripts/setup-host.sh [--emulate ARCH]...    (or MYONION_EMULATE="arm64 armhf")
#
# --emulate arm64|armhf: also make this machine run that architecture's programs (images and
# services for a Raspberry Pi built and run here): qemu-user-static and binfmt-support, with
# their interpreters registered in the kernel's binfmt_misc. Installed only when asked for.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
EMULATE=(${MYONION_EMULATE:-})
while [ "$#" -gt 0 ]; do
    case "$1" in
        --emulate) EMULATE+=("${2:?--emulate needs an architecture (arm64 or armhf)}"); shift 2 ;;
        --emulate=*) EMULATE+=("${1#--emulate=}"); shift ;;
        *) echo "setup-host: unknown argument '$1' (use --emulate ARCH)" >&2; exit 2 ;;
    esac
done
# docker.io brings the docker command the tests use (Debian's 20.10 is enough; nothing needs a
# newer one). The tests also run: ip (iproute2), systemd-analyze (systemd), useradd (passwd),
# mount (mount), curl, nc (netcat-openbsd), ssh/ssh-keygen (openssh-client), docker-compose,
# mosquitto_pub (mosquitto-clients) and a headless chromium (the IoT gateway's end-to-end test:
# a device over MQTT/TLS, a screenshot of the dashboard through tor).
PACKAGES=(docker.io docker-compose debootstrap python3-venv python3-pip curl netcat-openbsd
          openssh-client iproute2 systemd passwd mount mosquitto-clients chromium
          libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0)
# the desktop app's real window: what Qt's xcb platform plugin links (the same list as
# XCB_LIBRARIES in gui/myonion_gui/preflight.py), and a virtual X server for its tests
PACKAGES+=(libx11-6 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0
           libxcb-keysyms1 libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0
           libxcb-shm0 libxcb-sync1 libxcb-util1 libxcb-xfixes0 libxcb-xkb1 libxkbcommon-x11-0
           xvfb xauth)

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-host: run as root (e.g. sudo $0)" >&2
    exit 1
fi
# another architecture's programs need qemu-user-static and binfmt-support (this machine runs
# its own, and a 64-bit ARM one its 32-bit programs, itself): scripts/emulation.sh says which
if [ "${#EMULATE[@]}" -gt 0 ] && ! "$(dirname "$0")/emulation.sh" --check-only "${EMULATE[@]}" \
        >/dev/null 2>&1; then
    PACKAGES+=(qemu-user-static binfmt-support)
fi
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup-host: installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    if [ -d /run/systemd/system ] && systemctl start docker 2>/dev/null; then
        echo "setup-host: started docker with systemd"
    else
        echo "setup-host: starting dockerd"
        nohup dockerd >/var/log/myonion-dockerd.log 2>&1 &
        echo $! > "${MYONION_DOCKERD_PIDFILE:-/run/myonion-dockerd.pid}"
    fi
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        echo "setup-host: the Docker engine did not start; see /var/log/myonion-dockerd.log" >&2
        tail -n 20 /var/log/myonion-dockerd.log >&2 || true
        exit 1
    fi
fi
echo "setup-host: Docker $(docker version --format '{{.Server.Version}}') is running"

if [ "${#EMULATE[@]}" -gt 0 ]; then
    "$(dirname "$0")/emulation.sh" "${EMULATE[@]}"
fi
