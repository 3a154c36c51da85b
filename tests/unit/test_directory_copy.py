"""The directory copy (myonion.tor.directory): the keeper script really run around a stand-in
for tor, the test network's client that runs it, and the services that read the copy."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from myonion import testnet as tn
from myonion.runtime.fake import FakeRuntime
from myonion.testnet import access as ta
from myonion.testnet import layout
from myonion.testnet import nodes as tn_nodes
from myonion.tor import directory

ACCESS = ta.access_plan("10.213.9.0/24")

#: a stand-in for tor: writes its directory, a state file and a key, then waits
FAKE_TOR = """
d=$1
trap 'exit 7' TERM
trap 'echo hup >> "$d/hups"' HUP
echo consensus-1 > "$d/cached-microdesc-consensus"
echo certs > "$d/cached-certs"
echo micro > "$d/cached-microdescs"
echo guards > "$d/state"
mkdir -p "$d/keys" && echo secret > "$d/keys/secret_id_key"
while :; do
    [ -e "$d/rewrite" ] && { rm "$d/rewrite"; echo consensus-2 > "$d/cached-microdesc-consensus"; }
    sleep 0.1
done
"""


def wait_for(check: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def keeper(tmp_path: Path):  # type: ignore[no-untyped-def]
    data, seed = tmp_path / "data", tmp_path / "seed"
    data.mkdir()
    seed.mkdir()
    command = directory.keeper_command(str(data), str(seed), ["bash", "-c", FAKE_TOR, "tor",
                                                              str(data)])
    proc = subprocess.Popen(command, start_new_session=True)
    yield proc, data, seed
    # the keeper and its tor: killing the keeper alone left the stand-in running for good
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_the_keeper_copies_the_public_documents_only(keeper) -> None:  # type: ignore[no-untyped-def]
    _proc, _data, seed = keeper
    assert wait_for(lambda: (seed / "cached-microdescs").exists())
    assert (seed / "cached-microdesc-consensus").read_text() == "consensus-1\n"
    assert (seed / "cached-certs").read_text() == "certs\n"
    # what is tor's own (its guards, its keys) never leaves its DataDirectory
    assert sorted(p.name for p in seed.iterdir()) == sorted(
        ["cached-certs", "cached-microdesc-consensus", "cached-microdescs"])


def test_the_keeper_follows_a_newer_consensus_and_ends_with_tor(keeper) -> None:  # type: ignore[no-untyped-def]
    proc, data, seed = keeper
    assert wait_for(lambda: (seed / "cached-microdesc-consensus").exists())
    time.sleep(1.1)  # a newer mtime than the copy's, on file systems with 1 s resolution
    (data / "rewrite").touch()
    assert wait_for(lambda: (seed / "cached-microdesc-consensus").read_text() == "consensus-2\n")
    assert not any(p.name.endswith(".tmp") for p in seed.iterdir())
    proc.terminate()  # passed on to tor; the keeper ends with tor's status
    assert proc.wait(timeout=10) == 7


def test_the_keeper_passes_sighup_on_and_keeps_running(keeper) -> None:  # type: ignore[no-untyped-def]
    # the test network makes its client read new client keys with SIGHUP: a keeper that died
    # of it took the client, and every check through it, down (the whole suite found it)
    proc, data, _seed = keeper
    assert wait_for(lambda: (data / "state").exists())
    proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: (data / "hups").exists())
    time.sleep(directory.INTERVAL + 0.5)
    assert proc.poll() is None and (data / "hups").read_text() == "hup\n"


def test_the_copy_is_on_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MYONION_DIRECTORY_COPY", raising=False)
    assert directory.enabled()
    monkeypatch.setenv("MYONION_DIRECTORY_COPY", "0")
    assert not directory.enabled()
    monkeypatch.setenv("MYONION_DIRECTORY_COPY", "1")
    assert directory.enabled()


def test_a_missing_seed_folder_does_not_stop_tor(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    command = directory.keeper_command(str(data), str(tmp_path / "absent"),
                                       ["bash", "-c", FAKE_TOR, "tor", str(data)])
    proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        time.sleep(directory.INTERVAL + 1)
        assert proc.poll() is None  # tor still runs: the copy is a saving, not a need
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_client_keeps_the_copy_in_the_services_include() -> None:
    net = tn.Testnet(FakeRuntime())
    nodes = tn.plan("10.213.4.0/24", access=ACCESS)
    client = tn_nodes.spec(net, nodes[-1], "image", 3, 3, ACCESS)
    include = [m for m in client.mounts if m.source == net.include_volume]
    assert len(include) == 1 and not include[0].read_only
    assert client.command is not None and relay_command(net, nodes) == ["tor", "-f", layout.TORRC]
    assert client.command[:3] == ["bash", "-c", directory.KEEPER_SCRIPT]
    assert client.command[4:6] == [layout.DATA_DIR,
                                   f"{tn_nodes.INCLUDE_MOUNT}/{layout.DIRECTORY_SUBDIR}"]
    assert client.command[6:] == ["tor", "-f", layout.TORRC]
    # the authorities and relays do not keep one and cannot write the include
    relay = tn_nodes.spec(net, nodes[3], "image", 3, 3, ACCESS)
    assert all(m.source != net.include_volume for m in relay.mounts)


def relay_command(net: tn.Testnet, nodes: list[tn.Node]) -> list[str] | None:
    return tn_nodes.spec(net, nodes[3], "image", 3, 3, ACCESS).command


def test_the_runtime_script_reads_the_copy_read_only_and_only_these_files() -> None:
    script = (Path(__file__).parents[2] / "containers/_runtime/myonion-tor").read_text()
    copied = script.split("for f in cached-", 1)[1].split(";", 1)[0].replace("\\\n", " ")
    copied = "cached-" + copied
    assert tuple(copied.split()) == directory.FILES
    assert '[ ! -L "$seed/$f" ]' in script  # a link in the copy is never followed
