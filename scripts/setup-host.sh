#!/usr/bin/env bash
# Installs what myonion needs on a Debian host and makes sure a Docker engine answers.
# Idempotent; needs root. Prints the PID of a dockerd it started to $MYONION_DOCKERD_PIDFILE.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# docker.io brings the docker command the tests use (Debian's 20.10 is enough; nothing needs a
# newer one). The tests also run: ip (iproute2), systemd-analyze (systemd), useradd (passwd),
# mount (mount), curl, nc (netcat-openbsd), ssh/ssh-keygen (openssh-client), docker-compose.
PACKAGES=(docker.io docker-compose debootstrap python3-venv python3-pip curl netcat-openbsd
          openssh-client iproute2 systemd passwd mount
          libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0)

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-host: run as root (e.g. sudo $0)" >&2
    exit 1
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
