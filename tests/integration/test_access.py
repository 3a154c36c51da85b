"""Addresses and access on the real engine and the private Tor network: ephemeral and
persistent keys, export and import, vanity keys, promote, v3 client authorization (proven
with fresh tor clients with and without the key) and time to live."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest

from myonion import keys
from myonion.errors import MyOnionError
from myonion.manager import Manager, container_name
from myonion.runtime.base import LABEL_SERVICE
from myonion.runtime.docker import DockerRuntime
from myonion.tor import fetch
from tests.torclient import MISSING_KEY, WRONG_KEY, fresh_client, refused

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

PASSPHRASE = "a long enough passphrase"


def get(address: str, proxy: tuple[str, int], timeout: float = 60) -> str:
    return fetch.http_get_retry(f"http://{address}/", proxy, timeout=timeout).body.decode()


def test_client_authorization_is_enforced(real_manager: Manager, docker_runtime: DockerRuntime,
                                          site_dir: Path) -> None:
    net = real_manager.testnet
    # private from the first second; share itself proves the testnet client with alice's key
    # reaches it (share waits until it is reachable)
    view = real_manager.share("site", {"dir": str(site_dir)}, name="authsite",
                              clients=["alice", "bob"], timeout=120)
    address = view.address
    assert address and view.private and view.clients == 2 and view.stage == "reachable"
    alice = real_manager.client_line("authsite", "alice")
    bob = real_manager.client_line("authsite", "bob")
    assert alice.startswith(address.removesuffix(".onion") + ":descriptor:x25519:")

    started = time.monotonic()
    with fresh_client(docker_runtime, net) as nokey:
        print(f"access: fresh client bootstrapped in {time.monotonic() - started:.1f} s")
        # tor's own answer: the descriptor needs a key this client does not have
        assert refused(address, nokey.socks, MISSING_KEY) == MISSING_KEY
    with fresh_client(docker_runtime, net, {"alice": alice}) as withkey:
        assert "integration" in get(address, withkey.socks)

    # revoke alice: a fresh client with her key fails, bob's still works, same address
    real_manager.client_remove("authsite", "alice")
    assert [c.name for c in real_manager.clients("authsite")] == ["bob"]
    with fresh_client(docker_runtime, net, {"alice": alice}) as revoked:
        # she has a key, but the descriptor is no longer encrypted to it
        assert refused(address, revoked.socks, WRONG_KEY) == WRONG_KEY
    with fresh_client(docker_runtime, net, {"bob": bob}) as other:
        assert "integration" in get(address, other.socks)
    assert real_manager.address("authsite") == address
    assert real_manager.check("authsite").reachable

    # the keys never show up in status or the container's log
    shown = str(real_manager.status("authsite").to_dict()) + "\n".join(
        docker_runtime.logs(container_name("authsite")))
    assert alice.rsplit(":", 1)[1] not in shown and bob.rsplit(":", 1)[1] not in shown


def test_ephemeral_keys_leave_nothing_behind(real_manager: Manager,
                                             docker_runtime: DockerRuntime,
                                             site_dir: Path) -> None:
    first = real_manager.share("site", {"dir": str(site_dir)}, name="keyseph", timeout=120)
    key = real_manager.read_key("keyseph")
    assert key.address == first.address  # our derivation agrees with tor's
    real_manager.stop("keyseph")
    with pytest.raises(MyOnionError, match="only in memory"):
        real_manager.read_key("keyseph")
    second = real_manager.start("keyseph", timeout=120)
    assert second.address and second.address != first.address
    last = real_manager.read_key("keyseph")
    service_dir = real_manager.store.root / "keyseph"
    assert service_dir.is_dir()
    real_manager.remove("keyseph", purge=True)
    # nothing of it is left: no record or directory, no volume, no container
    assert not service_dir.exists()
    assert docker_runtime.list_volumes({LABEL_SERVICE: "keyseph"}) == []
    assert docker_runtime.get(container_name("keyseph")) is None
    if os.geteuid() == 0:
        # and the key bytes are nowhere in Docker's volumes and containers nor our data
        roots = [str(real_manager.store.root.parent), "/var/lib/docker/volumes",
                 "/var/lib/docker/containers"]
        leaks = files_containing([key.secret[:32], last.secret[:32]], roots)
        assert leaks == [], leaks


def files_containing(needles: list[bytes], roots: list[str]) -> list[str]:
    """Files under ``roots`` that hold any needle raw, in hex or in base64 (as exported)."""
    import base64

    forms = [f for n in needles for f in (n, n.hex().encode(), base64.b64encode(n)[:40])]
    found = []
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                with contextlib.suppress(OSError):
                    if os.path.islink(path) or os.path.getsize(path) > 64 * 2**20:
                        continue
                    with open(path, "rb") as f:
                        data = f.read()
                    if any(form in data for form in forms):
                        found.append(path)
    return found


def test_persistent_export_import_vanity_promote(real_manager: Manager,
                                                 docker_runtime: DockerRuntime,
                                                 site_dir: Path, tmp_path: Path) -> None:
    proxy = real_manager.testnet.socks()
    view = real_manager.share("site", {"dir": str(site_dir)}, name="keyspers",
                              persistent=True, timeout=120)
    address = view.address
    assert address
    # stop/start and a rebuilt image keep the address, and the page is served again
    real_manager.stop("keyspers")
    assert real_manager.start("keyspers", timeout=120).address == address
    old_image = real_manager.store.get("keyspers").image  # type: ignore[union-attr]
    old_id = docker_runtime.client.images.get(old_image).id
    rebuilt = real_manager.rebuild("keyspers", timeout=120)
    assert rebuilt.address == address and rebuilt.state == "running"
    assert docker_runtime.client.images.get(old_image).id != old_id  # really built again
    assert "integration" in get(address, proxy)

    # export (encrypted) -> rm -> share anew -> import: the same address serves again
    exported = real_manager.export_key("keyspers", PASSPHRASE)
    secret = real_manager.read_key("keyspers").secret
    assert exported.startswith(b"{") and secret.hex() not in exported.decode()
    volumes = "/var/lib/docker/volumes"
    if os.geteuid() == 0:  # the scan that proves ephemeral keys leave nothing finds this one
        assert files_containing([secret[:32]], [volumes]), "the key scan found nothing"
    real_manager.remove("keyspers", purge=True)
    if os.geteuid() == 0:
        assert files_containing([secret[:32]], [volumes]) == []
    with pytest.raises(keys.KeyFileError):
        keys.import_key(exported, "not the passphrase")
    fresh = real_manager.share("site", {"dir": str(site_dir)}, name="keyspers", timeout=120)
    assert fresh.address != address
    restored = real_manager.import_key("keyspers", keys.import_key(exported, PASSPHRASE),
                                       timeout=120)
    assert restored.address == address and restored.mode == "persistent"
    assert "integration" in get(address, proxy)

    # a key made elsewhere (as mkp224o makes vanity keys) gives its own address
    vanity = keys.generate_onion_key()
    raw = tmp_path / "hs_ed25519_secret_key"
    raw.write_bytes(vanity.secret_file())
    mine = real_manager.share("site", {"dir": str(site_dir)}, name="keysvanity",
                              key=keys.read_key_file(raw.read_bytes(), None), timeout=120)
    assert mine.address == vanity.address
    assert "integration" in get(vanity.address, proxy)

    # promote: a running ephemeral service becomes persistent at the address it has
    eph = real_manager.share("site", {"dir": str(site_dir)}, name="keysprom", timeout=120)
    promoted = real_manager.promote("keysprom", timeout=120)
    assert promoted.address == eph.address and promoted.mode == "persistent"
    real_manager.stop("keysprom")
    assert real_manager.start("keysprom", timeout=120).address == eph.address
    assert "integration" in get(eph.address or "", proxy)


def test_ttl_ends_the_service_by_itself(real_manager: Manager, docker_runtime: DockerRuntime,
                                        site_dir: Path) -> None:
    view = real_manager.share("site", {"dir": str(site_dir)}, name="ttlsite", ttl=30,
                              timeout=120)
    listed = {v.name: v for v in real_manager.list()}["ttlsite"]
    assert listed.remaining is not None and 0 < listed.remaining <= 30
    print(f"access: ls showed {listed.remaining:.0f} s left")
    # the container ends itself at the deadline, with no myonion process watching
    deadline = time.monotonic() + 90
    while (info := docker_runtime.get(container_name("ttlsite"))) and info.running:
        assert time.monotonic() < deadline, "the container outlived its time to live"
        time.sleep(1)
    assert info is not None and info.exit_code == 0
    assert any("time to live has run out" in line
               for line in docker_runtime.logs(container_name("ttlsite")))
    assert view.address
    # and the next listing forgets the (ephemeral) service with everything it had
    assert "ttlsite" not in {v.name for v in real_manager.list()}
    assert docker_runtime.get(container_name("ttlsite")) is None
    assert docker_runtime.list_volumes({LABEL_SERVICE: "ttlsite"}) == []
