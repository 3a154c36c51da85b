#!/usr/bin/env bash
# The main job in one command: set up, start the private Tor test network, share the example
# site as an onion service over it, and fetch it through a separate tor client.
set -euo pipefail
cd "$(dirname "$0")"
export MYONION_NETWORK=local   # this demo never touches the public Tor network
scripts/setup-host.sh
scripts/venv.sh gui
myonion=.venv/bin/myonion
$myonion base build
$myonion testnet up
$myonion rm example >/dev/null 2>&1 || true
$myonion share site -o dir=examples/site --name example --network local
address=$($myonion address example)
echo
echo "== fetched http://$address/ through the test network's tor client:"
$myonion fetch "http://$address/"
echo
$myonion check example
echo
echo "The example site is served at $address (on the local test network)."
echo "Stop it with: .venv/bin/myonion rm example; remove the network: .venv/bin/myonion testnet down"
