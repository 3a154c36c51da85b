"""Hardening evidence for every template, from the real engine and the real tor.

Each template is shared on the local test network with minimal options, then checked from three
sides: what ``docker inspect`` says of the container, what the processes inside look like
(/proc), and what tor itself says its configuration is (GETCONF over the control socket). One row
a template is printed (``bench/suite_tables.py`` keeps the table in ``bench/results/hardening.md``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from myonion import keys, tor
from myonion.manager import ENTRY_CAPS, Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.templates import TemplateSpec
from tests import tables
from tests.minimal_options import OPTIONS, SECRETS

pytestmark = [pytest.mark.integration, pytest.mark.testnet]
#: what the processes and sockets inside look like, from inside (run as the container's user)
PROBE = r"""
for d in /proc/[0-9]*; do
  [ -r "$d/status" ] || continue
  pid=${d#/proc/}
  name=$(awk '/^Name:/ {print $2}' "$d/status")
  uid=$(awk '/^Uid:/ {print $2","$3","$4","$5}' "$d/status")
  cap=$(awk '/^CapEff:/ {print $2}' "$d/status")
  bnd=$(awk '/^CapBnd:/ {print $2}' "$d/status")
  socks=$(ls -l "$d/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\]/\1/p' | tr '\n' ',')
  echo "proc $pid $name $uid $cap $bnd $socks"
done
for f in /proc/net/tcp /proc/net/tcp6; do
  awk 'NR>1 && $4=="0A" {print "listen", $2, $10}' "$f"
done

"""
TABLE: dict[str, str] = {}
#: capability numbers (linux/capability.h) of what the supervisor keeps
CAPS = {"KILL": 5, "SETGID": 6, "SETUID": 7, "SETPCAP": 8}
#: processes of tor's side (tor's user)
TOR_SIDE = {"tor", "myonion-tor", "myonion-newnym"}
#: Docker's embedded DNS server listens in every container on a user-defined network (its socket
#: belongs to dockerd, in the container's network namespace; loopback only)
DOCKER_DNS = "127.0.0.11"
#: loopback listeners a template keeps inside its container, behind its own front doors
#: (containers/mqtt-bridge/mosquitto.conf.j2: devices reach the broker only through the doors)
INTERNAL = {"mqtt-bridge": {1885}}


def decode_address(hexaddr: str) -> tuple[str, int]:
    """/proc/net/tcp's "0100007F:1F90" → ("127.0.0.1", 8080) (IPv6: "::"-style shortened)."""
    host, port = hexaddr.split(":")
    if len(host) == 8:
        ip = ".".join(str(b) for b in reversed(bytes.fromhex(host)))
    else:
        words = [bytes.fromhex(host[i:i + 8])[::-1].hex() for i in range(0, 32, 8)]
        ip = "".join(words)
        ip = "::1" if ip == "0" * 31 + "1" else ("::" if set(ip) == {"0"} else ip)
    return ip, int(port, 16)


def probe(runtime: DockerRuntime, name: str, user: str
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """Processes, listeners and the control socket as ``user`` (the service's: it reads its own
    processes' descriptors; tor's stay closed to it, so tor's sockets show as "tor?")."""
    code, out = runtime.exec(container_name(name), ["bash", "-c", PROBE], user=user)
    assert code == 0, out
    procs, listeners, control = [], [], False
    for line in out.splitlines():
        parts = line.split()
        if parts[:1] == ["proc"] and len(parts) >= 5:
            if parts[2] in ("bash", "awk", "ls", "sed", "tr", "test"):  # the probe itself
                continue
            procs.append({"pid": parts[1], "name": parts[2],
                          "uids": [int(u) for u in parts[3].split(",")], "capeff": parts[4],
                          "capbnd": parts[5],
                          "sockets": set(filter(None, (parts[6] if len(parts) > 6
                                                       else "").split(",")))})
        elif parts[:1] == ["listen"]:
            ip, port = decode_address(parts[1])
            listeners.append({"ip": ip, "port": port, "inode": parts[2]})
        elif line == "control unix-socket":
            control = True
    for sock in listeners:
        owners = [p["name"] for p in procs if sock["inode"] in p["sockets"]]
        if sock["ip"] == DOCKER_DNS:
            sock["owner"] = "dockerd's DNS"
        else:
            # tor makes itself non-dumpable, so its descriptors cannot be read: "tor?" then
            sock["owner"] = owners[0] if owners else "tor?"
    return procs, listeners, control


def tor_conf(manager: Manager, name: str) -> dict[str, list[str]]:
    controller = tor.connect(manager.context.control_dir(name))
    try:
        keys = ("ControlPort", "SocksPort", "ORPort", "DirPort", "SafeLogging",
                "HiddenServiceNonAnonymousMode", "HiddenServiceSingleHopMode", "ExitRelay",
                "PublishServerDescriptor", "CookieAuthentication")
        return {k: controller.get_conf(k, multiple=True) for k in keys}
    finally:
        controller.close()


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[dict[str, str]]:
    yield TABLE
    if not TABLE:
        return
    lines = [
        "# Hardening evidence (docker inspect, /proc inside, tor's GETCONF)",
        "",
        "Measured by `tests/integration/test_hardening.py` (run by `bench/suite_tables.py`) "
        f"on {time.strftime('%Y-%m-%d %H:%M')} UTC, every template shared on the local test "
        "network with minimal options.",
        "",
        "| template | user | caps | no-new-privs | ro root | mem / pids | host ports | "
        "process uids (CapEff) | listeners (owner) | control | torrc / GETCONF | "
        "secrets in env/labels; secret files in conf/ |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(TABLE[t] for t in sorted(TABLE)),
        "",
    ]
    tables.publish("hardening.md", "\n".join(lines))


@pytest.mark.parametrize("template_id", sorted(OPTIONS))
def test_every_template_is_hardened(real_manager: Manager, docker_runtime: DockerRuntime,
                                    template_id: str) -> None:
    template: TemplateSpec = real_manager.template(template_id)
    name = f"hard-{template_id}"[:40]
    # a frontend alone serves nothing, and the forward's target is nowhere on purpose (share
    # would refuse it, its probe finding the target gone): both are started without waiting
    serves = not template.balance_frontend and template_id != "forward"
    # a frontend's address is its master key's (balance share makes and installs it)
    view = real_manager.share(template_id, OPTIONS[template_id], name=name, timeout=150,
                              wait=serves,
                              key=keys.generate_onion_key() if template.balance_frontend
                              else None)
    assert view.state == "running"
    if not serves:  # its tor is up once the control socket answers GETCONF
        deadline = time.monotonic() + 90
        while True:
            try:
                tor_conf(real_manager, name)
                break
            except Exception:
                assert time.monotonic() < deadline, f"{name}'s tor did not come up"
                time.sleep(1)
    assert real_manager.status(name, live=False).address

    attrs = docker_runtime.client.api.inspect_container(container_name(name))
    host, config = attrs["HostConfig"], attrs["Config"]
    # root with the supervisor's four capabilities only; tor and the service are two users
    assert config["User"] == "0:0"
    env = dict(e.split("=", 1) for e in config["Env"])
    tor_user, user = env["MYONION_TOR_USER"], env["MYONION_SERVICE_USER"]
    tor_uid, service_uid = int(tor_user.split(":")[0]), int(user.split(":")[0])
    assert (tor_uid == 10001 and service_uid not in (0, tor_uid)) or template.service_is_tor
    assert host["CapDrop"] == ["ALL"]
    assert sorted(host["CapAdd"] or []) == sorted([*ENTRY_CAPS, *template.cap_add])
    assert "no-new-privileges:true" in (host["SecurityOpt"] or [])
    assert host["ReadonlyRootfs"] is True
    assert host["Memory"] > 0 and host["PidsLimit"] and host["PidsLimit"] > 0
    assert host["Privileged"] is False and host["PidMode"] == "" and host["IpcMode"] != "host"
    assert not host.get("PortBindings"), host.get("PortBindings")  # none asked for
    shown = json.dumps([config.get("Env"), config.get("Labels"), config.get("Cmd"),
                        config.get("Entrypoint")])
    assert not any(s in shown for s in SECRETS)
    # the secrets are where they belong: in the 0600 runtime files only
    secret_files = []
    for path in (real_manager.store.service_dir(name) / "conf").iterdir():
        if path.is_file() and any(s in path.read_text() for s in SECRETS):
            assert path.stat().st_mode & 0o077 == 0, path
            # ... and the service's user can read them (tor needs none of them)
            inside = f"/etc/myonion/{path.name}"
            code, out = docker_runtime.exec(container_name(name), [
                "bash", "-c", f"stat -c '%a %u' {inside} && test -r {inside}"], user=user)
            assert code == 0 and out.split() == ["600", user.split(":")[0]], out
            secret_files.append(path.name)
    assert bool(secret_files) == any(o.secret for o in template.options), secret_files

    procs, listeners, _ = probe(docker_runtime, name, user)
    names = {p["name"] for p in procs}
    assert "tor" in names and "tini" in names, names
    # only the supervisor is root, with only its capabilities; no other process has any (not
    # even in its bounding set); tor runs as tor's user, everything else as the service's
    supervisor = {"tini", "myonion-entry"}
    entry_mask = sum(1 << CAPS[c] for c in ENTRY_CAPS)
    for p in procs:
        if p["name"] in supervisor:
            assert p["uids"] == [0, 0, 0, 0] and int(p["capeff"], 16) & ~entry_mask == 0, p
            continue
        assert int(p["capeff"], 16) == 0 and int(p["capbnd"], 16) == 0, p
        owner = tor_uid if p["name"] in TOR_SIDE or template.service_is_tor else service_uid
        assert p["uids"] == [owner] * 4, p
    code, out = docker_runtime.exec(container_name(name), [
        "test", "-S", "/run/myonion/ctl/control.sock"], user=tor_user)
    control = code == 0
    # the service's ports and (for a tor client) the SOCKS port, on loopback; the only
    # other listener is what the template publishes on request (mosquitto's LAN side)
    allowed = {p.target for p in template.ports} | ({9050} if template.tor_client else set())
    lan = {p.target for p in template.publish}
    for sock in listeners:
        if sock["ip"] == DOCKER_DNS:
            continue
        if sock["port"] in INTERNAL.get(template.id, set()):
            # a listener the service keeps to itself (the broker behind the bridge's doors)
            assert sock["ip"] == "127.0.0.1" and sock["owner"] not in ("tor", "tor?"), sock
            continue
        assert sock["port"] in allowed | lan, sock
        if sock["ip"] not in ("127.0.0.1", "::1"):
            assert sock["port"] in lan and sock["owner"] not in ("tor", "tor?"), sock
    assert control, "tor's control socket (unix) is missing"

    conf = tor_conf(real_manager, name)
    assert conf["ControlPort"] in ([], ["0"]), conf  # no TCP control port at all
    assert conf["SafeLogging"] == ["1"]
    assert conf["HiddenServiceNonAnonymousMode"] == ["0"]
    assert conf["HiddenServiceSingleHopMode"] == ["0"]
    assert conf["ORPort"] in ([], ["0"]) and conf["DirPort"] in ([], ["0"])
    socks = conf["SocksPort"]
    if template.tor_client:
        assert socks == ["127.0.0.1:9050 IsolateDestAddr"], socks
    else:
        assert socks == ["0"], socks
    torrc = docker_runtime.exec(container_name(name), ["cat", "/etc/myonion/torrc"])[1]
    assert "SafeLogging 1" in torrc and "NonAnonymous" not in torrc
    assert not re.search(r"^\s*ControlPort", torrc, re.M)

    listen = ", ".join(sorted(f"{s['ip']}:{s['port']} ({s['owner']})" for s in listeners))
    uids = ", ".join(sorted({f"{p['name']} {p['uids'][1]} ({int(p['capeff'], 16):#x})"
                             for p in procs}))
    TABLE[template_id] = (
        f"| {template_id} | root → tor {tor_user}, service {user} | drop "
        f"{','.join(host['CapDrop'])}, add "
        f"{','.join(host['CapAdd'] or []) or '-'} | "
        f"{'yes' if 'no-new-privileges:true' in host['SecurityOpt'] else 'NO'} | "
        f"{host['ReadonlyRootfs']} | {host['Memory'] // 2**20} MiB / {host['PidsLimit']} | "
        f"{host.get('PortBindings') or 'none'} | {uids} | {listen} | unix socket only "
        f"(ControlPort {conf['ControlPort'] or 'unset'}) | SafeLogging "
        f"{conf['SafeLogging'][0]}, NonAnonymous {conf['HiddenServiceNonAnonymousMode'][0]}, "
        f"SocksPort {' '.join(socks)}, ORPort {' '.join(conf['ORPort']) or 'unset'} | none; "
        f"{', '.join(secret_files) or 'no secret files'}"
        f"{' 0600 uid ' + user.split(':')[0] if secret_files else ''} |")
    print(TABLE[template_id])
    real_manager.remove(name, purge=True)


def test_dos_defences_reach_tor(real_manager: Manager) -> None:
    """The DoS defence options are accepted by the real tor, which then runs with them, and the
    service is still reachable (share checks that on the test network)."""
    name = "hard-dos"
    view = real_manager.share("site", {"pow_defense": "true", "intro_dos_rate": "25",
                                       "intro_dos_burst": "200"}, name=name, timeout=150)
    assert view.state == "running" and view.stage == "reachable", view
    controller = tor.connect(real_manager.context.control_dir(name))
    try:
        reply = str(controller.msg("GETCONF HiddenServiceOptions"))
    finally:
        controller.close()
    for line in ("HiddenServicePoWDefensesEnabled=1", "HiddenServiceEnableIntroDoSDefense=1",
                 "HiddenServiceEnableIntroDoSRatePerSec=25",
                 "HiddenServiceEnableIntroDoSBurstPerSec=200"):
        assert line in reply, reply
    print(f"tor runs with: {', '.join(x for x in reply.splitlines() if 'DoS' in x or 'PoW' in x)}")
    real_manager.remove(name, purge=True)
