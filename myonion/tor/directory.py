"""The directory copy: one tor of a network keeps the network's directory current and writes a
copy of it where every new service's tor of that network reads it on start, so that a new
service does not download the directory itself (on the public network: megabytes, per
service).

What is copied are public documents only, the same for every client of the network: the
consensus, the authorities' certificates and the relays' microdescriptors. Nothing of the
keeping tor's own (its state, its guards, keys of private services it may hold) is copied, and
a service's container reads the copy through a read-only mount, so the copy carries nothing
secret and no way from one service to another.

The keeping side is :data:`KEEPER_SCRIPT`: the test network's client runs it around its tor, and
so does a directory keeper (:mod:`myonion.services.keeper`; the public network's);
the reading side is the entry script of every service's tor
(containers/_runtime/myonion-tor), which copies the files into its DataDirectory when they
are newer than its own.
"""

from __future__ import annotations

import os

#: the files copied: public directory documents, never a tor's state or keys
FILES = ("cached-certs", "cached-microdesc-consensus", "cached-microdescs",
         "cached-microdescs.new")

#: the environment variable that tells a service's tor where the copy is (unset: none)
ENVIRONMENT = "MYONION_DIRECTORY"

#: the folder of the copy in the volume that holds it: on the local test network the
#: services' include (the network's client keeps it), else a directory keeper's volume
#: (myonion.services.keeper); a service mounts that volume read-only
SUBDIR = "directory"

#: how often (s) the keeper looks for a newer document to copy
INTERVAL = 2

#: ``bash -c KEEPER_SCRIPT keeper DATA SEED TOR-COMMAND...``: runs the tor command, and while
#: it runs copies each of :data:`FILES` that tor has written anew from DATA into SEED
#: (through a temporary name, so a reader sees a whole file or the previous one); passes
#: SIGTERM and SIGHUP on to tor and ends with tor's status.
KEEPER_SCRIPT = f"""
data=$1; seed=$2; shift 2
tor=
# set before tor starts, so that no signal finds this script without them
trap '[ -n "$tor" ] && kill -TERM "$tor" 2>/dev/null' TERM INT
# SIGHUP is tor's (it reads its ClientOnionAuthDir again): passed on, never the end of this
trap '[ -n "$tor" ] && kill -HUP "$tor" 2>/dev/null' HUP
"$@" &
tor=$!
while kill -0 "$tor" 2>/dev/null; do
    for f in {' '.join(FILES)}; do
        if [ -f "$data/$f" ] && [ "$data/$f" -nt "$seed/$f" ]; then
            cp "$data/$f" "$seed/.$f.tmp" 2>/dev/null && mv -f "$seed/.$f.tmp" "$seed/$f"
        fi
    done
    sleep {INTERVAL} & wait $!
done
wait "$tor"
"""


def keeper_command(data: str, seed: str, tor: list[str]) -> list[str]:
    """The command that runs ``tor`` (its argv) and keeps a copy of its directory, which it
    keeps in ``data``, in ``seed``."""
    return ["bash", "-c", KEEPER_SCRIPT, "myonion-directory", data, seed, *tor]


def enabled() -> bool:
    """Whether new services' tors start from the copy: yes unless ``MYONION_DIRECTORY_COPY=0``
    (then every new tor downloads its own directory, as the benches' *own* rows measure)."""
    return os.environ.get("MYONION_DIRECTORY_COPY", "1").strip() != "0"
