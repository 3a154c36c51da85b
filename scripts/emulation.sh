#!/usr/bin/env bash
# Makes this machine run other architectures' programs in containers, or says why it cannot:
#
#   scripts/emulation.sh [--check-only] ARCH...     (ARCH: arm64 or armhf; needs root)
#
# Needs qemu-user-static and binfmt-support (scripts/setup-host.sh --emulate ARCH installs
# them and runs this). Mounts binfmt_misc if it is not, registers each interpreter, and checks
# that the kernel has it enabled with the F flag: the kernel then keeps the interpreter open,
# so a container, which does not have it in its own files, can use it. --check-only changes
# nothing and only says whether every ARCH runs here already (exit 0) or not (exit 1).
# Exit 2: an architecture myonion does not build for.
set -euo pipefail
binfmt=${MYONION_BINFMT_DIR:-/proc/sys/fs/binfmt_misc}
check_only=0
if [ "${1:-}" = "--check-only" ]; then
    check_only=1
    shift
fi
native=$(dpkg --print-architecture 2>/dev/null || uname -m)
status=0
for arch in "$@"; do
    case "$arch" in
        arm64|aarch64) arch=arm64 qemu=qemu-aarch64 ;;
        armhf|armv7l) arch=armhf qemu=qemu-arm ;;
        amd64|x86_64) arch=amd64 qemu=qemu-x86_64 ;;
        *) echo "emulation: cannot emulate '$arch' (myonion builds for amd64, arm64, armhf)" >&2
           exit 2 ;;
    esac
    if [ "$arch" = "$native" ] || { [ "$native" = arm64 ] && [ "$arch" = armhf ]; }; then
        echo "emulation: $arch programs run natively here ($native)"
        continue
    fi
    entry="$binfmt/$qemu"
    if [ "$check_only" = 1 ]; then
        if [ -e "$entry" ] && head -n1 "$entry" | grep -qx enabled \
                && grep -q '^flags:.*F' "$entry"; then
            echo "emulation: $arch programs run here through $qemu"
        else
            echo "emulation: $arch programs do not run here yet"
            status=1
        fi
        continue
    fi
    if [ ! -e "$binfmt/status" ] \
            && ! mount -t binfmt_misc binfmt_misc "$binfmt" 2>/tmp/myonion-binfmt.err; then
        echo "emulation: this kernel cannot register binfmt interpreters here: mounting" \
             "binfmt_misc on $binfmt failed ($(tr -d '\n' </tmp/myonion-binfmt.err))." >&2
        echo "emulation: $arch programs cannot run on this machine. It needs a kernel with" \
             "binfmt_misc (CONFIG_BINFMT_MISC) and, inside a container or VM, the privilege" \
             "to mount it; or build on an $arch machine (e.g. the Pi itself)." >&2
        exit 1
    fi
    if [ ! -e "$entry" ] && ! update-binfmts --enable "$qemu" >/dev/null 2>&1; then
        echo "emulation: $qemu could not be registered with the kernel's binfmt_misc" \
             "(\`update-binfmts --enable $qemu\` failed: are qemu-user-static and" \
             "binfmt-support installed?); $arch programs cannot run here." >&2
        exit 1
    fi
    if ! head -n1 "$entry" | grep -qx enabled || ! grep -q '^flags:.*F' "$entry"; then
        echo "emulation: $qemu is registered, but $(head -n1 "$entry") with flags" \
             "'$(sed -n 's/^flags: //p' "$entry")': containers need it enabled with the F" \
             "flag (as Debian's qemu-user-static registers it)." >&2
        exit 1
    fi
    echo "emulation: $arch programs run here through $(sed -n 's/^interpreter //p' "$entry")" \
         "(binfmt_misc $qemu, flags $(sed -n 's/^flags: //p' "$entry"))"
done
exit "$status"
