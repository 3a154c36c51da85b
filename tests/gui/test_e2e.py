"""End to end: click-to-share a folder in the window, on the real engine and the test network.

Waits for "reachable" (the manager fetches the service through the test network's client on
its own), reads the address from the window, and fetches the page through the test network.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from gui.main_window import MainWindow
from myonion.build import images
from myonion.errors import MyOnionError
from myonion.manager import Manager
from myonion.services.store import StateStore
from myonion.tor import fetch

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

SHARE_TIMEOUT_MS = 300_000


@pytest.fixture
def real_manager() -> Iterator[Manager]:
    from myonion.runtime.docker import DockerRuntime
    from myonion.testnet import Testnet

    runtime = DockerRuntime()
    try:
        runtime.ping()
    except MyOnionError as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs a Docker engine: {e.message}", pytrace=False)
        pytest.skip(f"no Docker engine here: {e.message}")
    images.build_base(runtime)
    net = Testnet(runtime)
    was_up = net.is_up()
    net.up()
    manager = Manager(runtime=runtime, store=StateStore(), testnet=net)
    yield manager
    # only this test's services: manager.list() also shows other people's containers
    for record in manager.store.all():
        manager.remove(record.name, purge=True)
    if not was_up:
        net.down()


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "index.html").write_text(f"<h1>gui e2e {os.getpid()} {tmp_path.name}</h1>\n")
    os.chmod(tmp_path, 0o755)
    return folder


def test_click_to_share_a_folder_until_reachable(qtbot: QtBot, real_manager: Manager,
                                                 site_dir: Path) -> None:
    window = MainWindow(real_manager, poll_ms=0)  # the real flow: wait until reachable
    window.show()
    name = f"gui-e2e-{os.getpid()}"
    try:
        dialog = window.open_share_dialog()
        assert dialog is not None
        dialog.form().set_value("dir", str(site_dir))
        dialog.name_edit.setText(name)
        with qtbot.waitSignal(window.controller.operation_ended, timeout=SHARE_TIMEOUT_MS):
            dialog.share_button.click()
        qtbot.waitUntil(lambda: window.controller.runner.active == 0, timeout=30_000)
        # a failed share shows its reason in the window: fail with exactly that text
        assert window.messages.kind != "error", window.messages.text()

        row = window.model.row_of(name)
        assert window.model.index(row, 2).data() == "reachable"
        assert window.services.current == name
        address = window.panel.address.text()
        assert address.endswith(".onion")

        page = fetch.http_get(f"http://{address}/", real_manager.testnet.socks(), timeout=60)
        assert page.body.decode() == (site_dir / "index.html").read_text()

        window.panel.remove_button.click()
        qtbot.waitUntil(lambda: window.model.row_of(name) < 0, timeout=60_000)
    finally:
        qtbot.waitUntil(lambda: window.controller.runner.active == 0, timeout=60_000)
        window.model.set_services([])
        window.close()
