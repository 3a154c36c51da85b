"""The site template's folder redirects (GET /sub → /sub/), through the onion: the Location says
only the path, so it leaks neither the port nginx listens on inside the container (8080) nor a
Host header a visitor made up. And nginx runs with the connection and file limits it asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from myonion.events import Stage
from myonion.manager import Manager, container_name
from myonion.runtime.docker import DockerRuntime
from myonion.tor import fetch

pytestmark = [pytest.mark.integration, pytest.mark.testnet]


def raw_get(proxy: tuple[str, int], address: str, request: str) -> tuple[str, dict[str, str]]:
    """Send ``request`` as it is (any Host header) through tor; the status line and headers."""
    sock = fetch.socks_connect(proxy, address, 80, 60)
    try:
        sock.settimeout(60)
        sock.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return head[0], headers


def test_folder_redirects_are_relative(real_manager: Manager, docker_runtime: DockerRuntime,
                                        site_dir: Path) -> None:
    (site_dir / "sub").mkdir()
    (site_dir / "sub" / "index.html").write_text("<p>sub</p>\n")
    view = real_manager.share("site", {"dir": str(site_dir)}, name="hl-redir", timeout=120)
    assert view.stage == Stage.REACHABLE and view.address
    proxy = real_manager.testnet.socks()
    for host in (view.address, f"{view.address}:80", "evil.example", "evil.example:8080",
                 None):
        header = f"Host: {host}\r\n" if host else ""
        version = "1.1" if host else "1.0"
        status, headers = raw_get(proxy, view.address,
                                  f"GET /sub HTTP/{version}\r\n{header}Connection: close\r\n\r\n")
        assert status.split()[1] == "301", (host, status, headers)
        assert headers["location"] == "/sub/", (host, headers)
    # the folder itself is served at the path the redirect names
    page = fetch.http_get(f"http://{view.address}/sub/", proxy)
    assert page.status == 200 and page.body == b"<p>sub</p>\n"
    # nginx got the file limit for its 1024 connections (it says so when it cannot)
    logs = "\n".join(docker_runtime.logs(container_name("hl-redir")))
    assert "setrlimit" not in logs and "exceed open file resource limit" not in logs, logs
    real_manager.remove("hl-redir")
