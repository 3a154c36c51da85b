#!/bin/bash
# Before and after in one run: one bench script, run alternately with the code of two commits
# (each checked out in a worktree of its own, its myonion imported through PYTHONPATH), so that
# both arms meet the same machine and the same test network.
#
#   MYONION_NETWORK=local flock -x /tmp/myonion-engine.lock \
#       bench/ab.sh OLD NEW ROUNDS bench/scale.py --single-runs 5 --cli-runs 1 --steps ""
#
# Each run writes bench/results/<name>-<old|new>-<round>.json and .md (the script's --output;
# <name> is $AB_NAME, default ab), copied here from the worktree; rounds are numbered from
# $AB_FIRST (default 1). The test network is the one running (each arm's script brings it up
# if it is down, with its own code); with AB_FRESH_NETWORK=1 it is removed before each run, so
# that each arm runs on a network its own code made (for a change to the network itself).
# Never uses the public Tor network.
set -euo pipefail
[ "${MYONION_NETWORK:-}" = local ] || {
    echo "set MYONION_NETWORK=local: benchmarks never use the public Tor network" >&2; exit 2; }
[ $# -ge 4 ] || { echo "usage: bench/ab.sh OLD NEW ROUNDS SCRIPT [ARGS...]" >&2; exit 2; }
old=$1 new=$2 rounds=$3 script=$4
shift 4
repo=$(cd "$(dirname "$0")/.." && pwd)
python=$repo/.venv/bin/python
declare -A tree
for arm in old new; do
    commit=$(git -C "$repo" rev-parse --verify "${!arm}^{commit}")
    tree[$arm]=$(mktemp -d "/tmp/myonion-ab-$arm-XXXXXX")
    git -C "$repo" worktree add --quiet --detach "${tree[$arm]}" "$commit"
    echo "$arm: $commit in ${tree[$arm]}" >&2
done
cleanup() {
    for arm in old new; do git -C "$repo" worktree remove --force "${tree[$arm]}" || true; done
}
trap cleanup EXIT
first=${AB_FIRST:-1}
name=${AB_NAME:-ab}
for round in $(seq "$first" $((first + rounds - 1))); do
    for arm in old new; do
        if [ "${AB_FRESH_NETWORK:-0}" = 1 ]; then
            (cd /tmp && PYTHONPATH=${tree[$arm]} "$python" -m myonion.cli testnet down >&2)
        fi
        # from /tmp: the current directory would come first on the module path
        (cd /tmp && PYTHONPATH=${tree[$arm]} "$python" "${tree[$arm]}/$script" "$@" \
            --output "$name-$arm-$round")
        cp "${tree[$arm]}/bench/results/$name-$arm-$round".{json,md} "$repo/bench/results/"
    done
done
