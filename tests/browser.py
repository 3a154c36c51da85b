"""A headless Chromium that can reach nothing but a tor client's SOCKS port: for screenshots of
onion services on the test network.

Chromium runs in a network namespace of its own with only a loopback interface (``unshare``), so
it cannot reach any address by mistake, and it is not disturbed by the host's network changing
(every container another test starts adds an interface, and Chromium abandons a page load when
the host's network changes: net::ERR_NETWORK_CHANGED). Its SOCKS proxy inside the namespace,
127.0.0.1:1080, is relayed through a Unix socket (a file, which both namespaces see) to the
tor client's SOCKS port outside. Names are resolved by tor (SOCKS5 with host names), nothing by
DNS (``--host-resolver-rules``), and Chromium's background requests are off.

    python3 tests/browser.py inner SOCKET -- CHROMIUM ARGS   (run inside the namespace)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

INNER_PORT = 1080
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
         f"--proxy-server=socks5://127.0.0.1:{INNER_PORT}",
         "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--no-first-run", "--disable-extensions",
         "--disable-domain-reliability", "--disable-client-side-phishing-detection",
         "--metrics-recording-only", "--no-default-browser-check", "--hide-scrollbars"]


def _pipe(a: socket.socket, b: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := a.recv(65536):
            b.sendall(data)
    for s in (a, b):
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)


def _serve(listener: socket.socket, connect: Callable[[], socket.socket]) -> None:
    """Accept on ``listener`` for ever; relay each connection to a new ``connect()``."""
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            upstream = connect()
        except OSError:
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


@contextlib.contextmanager
def _unix_relay(path: str, proxy: tuple[str, int]) -> Iterator[None]:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    threading.Thread(target=_serve, args=(listener, lambda: socket.create_connection(
        proxy, timeout=120)), daemon=True).start()
    try:
        yield
    finally:
        listener.close()


def screenshot(proxy: tuple[str, int], url: str, output: Path, size: str = "1000,1900",
               timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Chromium's screenshot of ``url`` (fetched through ``proxy``) written to ``output``."""
    chromium = shutil.which("chromium") or "chromium"
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "socks.sock")
        unshare = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
        command = [*unshare, sys.executable, __file__, "inner", sock, "--", chromium, *FLAGS,
                   f"--user-data-dir={tmp}/profile", f"--window-size={size}",
                   "--virtual-time-budget=30000", f"--screenshot={output}", url]
        with _unix_relay(sock, proxy):
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def _inner(sock: str, command: list[str]) -> int:
    """Inside the namespace: loopback up, 127.0.0.1:INNER_PORT relayed to ``sock``, then
    ``command``."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    listener = socket.create_server(("127.0.0.1", INNER_PORT))

    def connect() -> socket.socket:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(sock)
        return upstream

    threading.Thread(target=_serve, args=(listener, connect), daemon=True).start()
    return subprocess.run(command).returncode


if __name__ == "__main__":
    if len(sys.argv) > 4 and sys.argv[1] == "inner" and sys.argv[3] == "--":
        sys.exit(_inner(sys.argv[2], sys.argv[4:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
