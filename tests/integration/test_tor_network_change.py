"""A kept tor DataDirectory that last ran on another network starts without that network's
state: the entry script of every service's tor (containers/_runtime/myonion-tor), run in the
real tor image with a stand-in ``tor`` that lists what it would start with.

Why it matters: a persistent service keeps its tor's data across `testnet down` and `up`, and
each new test network has new authorities and relays. tor keeps guards it no longer finds
for weeks; once its sample is full of them it finds no first hop (bootstrap stops at 75 %).
The onion key must survive the change.
"""

from __future__ import annotations

import subprocess

import pytest

from myonion.build import images
from myonion.runtime.docker import DockerRuntime

pytestmark = [pytest.mark.integration]

#: run as root in a throw-away container: a network's include, a kept data directory with a
#: state, a cached consensus and an onion key, and three starts of myonion-tor (the same
#: network, then another one, then no include at all: the public network)
SCRIPT = r"""
set -eu
mkdir -p /run/myonion/ctl /etc/tor/torrc.d /tmp/bin /var/lib/tor/hs
cat > /tmp/bin/tor <<'EOF'
#!/bin/sh
echo "start: $(ls /var/lib/tor/data | tr '\n' ' ')key=$(cat /var/lib/tor/hs/hs_ed25519_secret_key)"
EOF
chmod +x /tmp/bin/tor
export PATH=/tmp/bin:$PATH
network() { echo "DirAuthority $1 orport=5000 v3ident=$2 10.0.0.$3:7000 $2" \
              > /etc/tor/torrc.d/testnet.conf; }
seed() { echo "Guard in=default rsa_id=$1" > /var/lib/tor/data/state
         echo consensus > /var/lib/tor/data/cached-microdesc-consensus; }
echo secret-key > /var/lib/tor/hs/hs_ed25519_secret_key
network auth1 AAAA 1
myonion-tor
seed OLD
myonion-tor
network auth1 BBBB 2
myonion-tor
seed NEW
rm /etc/tor/torrc.d/testnet.conf
myonion-tor
"""


def test_a_new_network_drops_the_old_state_and_keeps_the_key(
        docker_runtime: DockerRuntime) -> None:
    image = images.tor_image(docker_runtime)
    out = subprocess.run(["docker", "run", "--rm", "--user", "0:0", "--entrypoint", "bash",
                          image, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    starts = [line.split()[1:] for line in out.stdout.splitlines() if line.startswith("start:")]
    assert len(starts) == 4, out.stdout
    first, same, other, public = (set(s) for s in starts)
    # every start keeps the key, whatever the network
    assert all("key=secret-key" in s for s in (first, same, other, public))
    # a fresh data directory: only the note of its network
    assert first == {"myonion-network", "key=secret-key"}
    # the same network again: its state and directory stay
    assert {"state", "cached-microdesc-consensus"} <= same
    # other authorities: state and directory gone, the key kept
    assert other == {"myonion-network", "key=secret-key"}
    # the public network (no include) is another network too
    assert public == {"myonion-network", "key=secret-key"}
