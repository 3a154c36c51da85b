"""The onion key is tor's alone, tried from the attacker's side on the real engine and test network.

- From inside every template's container, as the service's own user (what a bug in nginx,
  sshd, the receiver, the bridge or socat would run as): the onion key, tor's control cookie
  and socket, tor's process (/proc, signals) are out of reach — while tor's user reads the same
  key, so each attempt really reached its target.
- A shared folder full of links out of it (absolute, ``../`` chains, inside subfolders; to the
  key, to /etc/myonion, to /etc/passwd): through the onion and a separate tor client nothing
  but the folder's own files comes back.
- A logged-in SSH user (through the onion) can read neither the key nor tor's control files,
  and cannot forward ports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.tor import fetch
from tests.minimal_options import OPTIONS

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

KEY = "/var/lib/tor/hs/hs_ed25519_secret_key"
COOKIE = "/run/myonion/ctl/control.authcookie"
#: what the service's user tries inside its container; each line prints its outcome
ATTEMPTS = f"""
tor=$(for d in /proc/[0-9]*; do [ "$(cat $d/comm 2>/dev/null)" = tor ] && echo ${{d#/proc/}}
     done | head -1)
echo "tor-pid $tor"
cat {KEY} >/dev/null 2>&1 && echo "key READ" || echo "key denied: $(cat {KEY} 2>&1 | head -1)"
ls /var/lib/tor >/dev/null 2>&1 && echo "tordir LISTED" || echo "tordir denied"
cat {COOKIE} >/dev/null 2>&1 && echo "cookie READ" || echo "cookie denied"
ls /run/myonion/ctl >/dev/null 2>&1 && echo "ctl LISTED" || echo "ctl denied"
cat /proc/$tor/environ >/dev/null 2>&1 && echo "environ READ" || echo "environ denied"
head -c1 /proc/$tor/mem >/dev/null 2>&1 && echo "mem READ" || echo "mem denied"
kill -0 $tor 2>/dev/null && echo "signal SENT" || echo "signal denied"
grep -h '^CapEff\\|^CapBnd' /proc/self/status | tr '\\n' ' '; echo
"""


def exec_as(runtime: DockerRuntime, name: str, user: str, script: str) -> str:
    """Run ``script`` in the container as ``user`` with every capability set emptied, as
    myonion-entry starts the service (a plain `docker exec -u` would keep the container's
    bounding set)."""
    uid, _, gid = user.partition(":")
    _, out = runtime.exec(container_name(name), [
        "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
        "--bounding-set=-all", "--no-new-privs", "--", "bash", "-c", script], user="0:0")
    return out


def users(runtime: DockerRuntime, name: str) -> tuple[str, str]:
    env = runtime.client.api.inspect_container(container_name(name))["Config"]["Env"]
    values = dict(e.split("=", 1) for e in env)
    return values["MYONION_TOR_USER"], values["MYONION_SERVICE_USER"]


def wait_running_with_key(manager: Manager, runtime: DockerRuntime, name: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        tor, _ = users(runtime, name)
        code, _ = runtime.exec(container_name(name), ["test", "-s", KEY], user=tor)
        if code == 0:
            return
        assert time.monotonic() < deadline, "\n".join(runtime.logs(container_name(name)))
        time.sleep(0.5)


SERVING = [t for t in sorted(OPTIONS) if t != "onionbalance"]


@pytest.mark.parametrize("template_id", SERVING)
def test_the_service_user_cannot_reach_the_key(real_manager: Manager,
                                               docker_runtime: DockerRuntime,
                                               template_id: str) -> None:
    name = f"iso-{template_id}"[:40]
    real_manager.share(template_id, OPTIONS[template_id], name=name, wait=False)
    try:
        wait_running_with_key(real_manager, docker_runtime, name)
        tor, service = users(docker_runtime, name)
        assert tor.split(":")[0] == "10001" and service.split(":")[0] not in ("10001",)
        # the control: tor's user reads the key and the cookie (the targets are there)
        out = exec_as(docker_runtime, name, tor, f"head -c 29 {KEY}; echo; test -r {COOKIE} "
                      "&& echo cookie-ok")
        assert "== ed25519v1-secret: type0 ==" in out and "cookie-ok" in out, out
        # the attack, as the service's user with no capability
        out = exec_as(docker_runtime, name, service, ATTEMPTS)
        print(f"{template_id} as {service}:\n{out}")
        lines = out.splitlines()
        assert lines[0].startswith("tor-pid ") and lines[0].split()[1].isdigit(), out
        for what in ("key", "tordir", "cookie", "ctl", "environ", "mem", "signal"):
            assert f"{what} denied" in out, out
        assert "key denied: cat: " in out and "Permission denied" in out, out
        assert "CapEff:\t0000000000000000" in out and "CapBnd:\t0000000000000000" in out, out
        # and the service's real processes run as that user, with no capability
        check_processes(docker_runtime, name, tor, service, template_id)
    finally:
        real_manager.remove(name, purge=True)


def check_processes(runtime: DockerRuntime, name: str, tor: str, service: str,
                    template_id: str) -> None:
    code, out = runtime.exec(container_name(name), ["bash", "-c", (
        "for d in /proc/[0-9]*; do s=$d/status; [ -r $s ] || continue; "
        "echo $(awk '/^Name:/{n=$2} /^Uid:/{u=$3} /^CapEff:/{c=$2} /^CapBnd:/{b=$2} "
        "END{print n, u, c, b}' $s); done")])
    assert code == 0, out
    procs = [line.split() for line in out.splitlines() if line.strip()]
    probe = {"bash", "awk"}
    tor_uid, service_uid = tor.split(":")[0], service.split(":")[0]
    for proc_name, uid, cap_eff, cap_bnd in procs:
        if proc_name in probe:
            continue
        if uid == "0" and proc_name in ("tini", "myonion-entry"):
            continue  # the supervisor: SETUID, SETGID, SETPCAP, KILL (it starts both sides)
        assert int(cap_eff, 16) == 0 and int(cap_bnd, 16) == 0, (proc_name, uid, cap_eff)
        if proc_name in ("tor", "myonion-tor", "myonion-newnym"):
            assert uid == tor_uid, (proc_name, uid)
        else:
            assert uid == service_uid, (template_id, proc_name, uid)
    names = {p[0] for p in procs}
    assert "tor" in names and len(names - probe - {"tor", "tini", "myonion-entry",
                                                   "myonion-tor", "sleep"}) >= 1, names


def make_hostile_folder(root: Path) -> Path:
    """A site someone handed over (an unpacked archive) whose links lead out of it."""
    site = root / "handed"
    (site / "sub" / "deeper").mkdir(parents=True)
    (site / "index.html").write_text("<h1>the folder's own page</h1>\n")
    (site / "sub" / "own.txt").write_text("the folder's own file\n")
    links = {
        "key.bin": KEY,
        "conf": "/etc/myonion",
        "torrc.txt": "/etc/myonion/torrc",
        "passwd.txt": "/etc/passwd",
        "up.txt": "../../../../../../../../etc/passwd",
        "sub/key.bin": "../../../../../../../var/lib/tor/hs/hs_ed25519_secret_key",
        "sub/deeper/passwd": "../../../../../../../../../etc/passwd",
        "sub/deeper/escape": "../../..",
        "sub/inside.txt": "own.txt",  # stays inside, but a link all the same
    }
    for rel, target in links.items():
        os.symlink(target, site / rel)
    os.chmod(root, 0o755)
    for path in [site, *site.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return site


def test_links_out_of_a_shared_folder_are_never_followed(
        real_manager: Manager, docker_runtime: DockerRuntime, tmp_path: Path) -> None:
    site = make_hostile_folder(tmp_path)
    view = real_manager.share("site", {"dir": str(site), "listing": "true"}, name="handed",
                              timeout=120)
    proxy = real_manager.testnet.socks()
    base = f"http://{view.address}"
    # the attempts reach the service: its own files come back
    assert fetch.http_get(f"{base}/", proxy).body.decode() == (site / "index.html").read_text()
    assert fetch.http_get(f"{base}/sub/own.txt", proxy).body == b"the folder's own file\n"
    leaked: list[tuple[str, Any, bytes]] = []
    for path in ("/key.bin", "/conf/torrc", "/conf/", "/torrc.txt", "/passwd.txt", "/up.txt",
                 "/sub/key.bin", "/sub/deeper/passwd", "/sub/deeper/escape/",
                 "/sub/deeper/escape/handed/index.html", "/sub/inside.txt",
                 "/sub/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                 "/sub/deeper/escape/etc/passwd"):
        response = fetch.http_get(f"{base}{path}", proxy)
        body = response.body
        print(f"{path}: {response.status} {len(body)} bytes")
        if response.status < 400 or b"ed25519v1-secret" in body or b"root:x:0:0" in body \
                or b"HiddenService" in body:
            leaked.append((path, response.status, body[:80]))
    assert leaked == [], leaked
    listing = fetch.http_get(f"{base}/sub/", proxy).body.decode()
    assert "own.txt" in listing  # a listing shows the folder's own names, nothing else
    real_manager.remove("handed", purge=True)


def test_a_folder_only_its_owner_may_read_is_served(real_manager: Manager,
                                                    docker_runtime: DockerRuntime,
                                                    tmp_path: Path) -> None:
    """Inside a 0700 home, a 0700 folder of its owner (root here) with 0600 files: served as
    it is, nothing copied or changed — and the root that serves it still cannot read the key."""
    home = tmp_path / "home"
    site = home / "private-site"
    site.mkdir(parents=True)
    (site / "index.html").write_text("<h1>only mine</h1>\n")
    os.chmod(site / "index.html", 0o600)
    os.chmod(site, 0o700)
    os.chmod(home, 0o700)
    before = {p: p.stat() for p in [home, site, site / "index.html"]}
    view = real_manager.share("site", {"dir": str(site)}, name="private", timeout=120)
    assert view.stage == "reachable"
    proxy = real_manager.testnet.socks()
    response = fetch.http_get(f"http://{view.address}/", proxy)
    assert response.status == 200 and response.body == b"<h1>only mine</h1>\n"
    assert {p: p.stat() for p in before} == before  # no mode or owner changed
    _, service = users(docker_runtime, "private")
    assert service.split(":")[0] == str(site.stat().st_uid)
    out = exec_as(docker_runtime, "private", service, ATTEMPTS)
    assert "key denied" in out and "cookie denied" in out and "signal denied" in out, out
    real_manager.remove("private", purge=True)


def test_a_logged_in_ssh_user_cannot_reach_the_key(real_manager: Manager,
                                                   docker_runtime: DockerRuntime,
                                                   tmp_path: Path) -> None:
    if shutil.which("ssh") is None or shutil.which("nc") is None:
        pytest.fail("needs OpenSSH's client and netcat-openbsd", pytrace=False)
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    view = real_manager.share("ssh", {"authorized_keys": key.with_suffix(".pub").read_text()},
                              name="isossh", timeout=120)
    host, port = real_manager.testnet.socks()
    base = ["ssh", "-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", f"UserKnownHostsFile={tmp_path / 'known'}", "-o", "ConnectTimeout=60",
            "-o", f"ProxyCommand=nc -X 5 -x {host}:{port} %h %p"]
    shell = subprocess.run([*base, f"myonion@{view.address}", ATTEMPTS],
                           capture_output=True, text=True, timeout=120)
    print(shell.stdout, shell.stderr)
    assert shell.returncode == 0 and shell.stdout.startswith("tor-pid "), shell.stderr
    for what in ("key", "tordir", "cookie", "ctl", "environ", "mem", "signal"):
        assert f"{what} denied" in shell.stdout, shell.stdout
    # port forwarding to tor's or anyone's port is refused by sshd
    forward = subprocess.run([*base, "-N", "-o", "ExitOnForwardFailure=yes",
                              "-L", "127.0.0.1:0:127.0.0.1:2222", f"myonion@{view.address}"],
                             capture_output=True, text=True, timeout=120)
    assert forward.returncode != 0 and "forwarding" in forward.stderr.lower(), forward.stderr
    real_manager.remove("isossh", purge=True)
