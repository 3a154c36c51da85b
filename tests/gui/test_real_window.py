"""End to end on a real X server (Xvfb): a share clicked and typed through the real window, on
the real engine and the test network, its page fetched through a separate, fresh tor client,
and a screenshot of the X screen saved (to a temp dir, never into the repository)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from myonion.build import images
from myonion.errors import MyOnionError
from myonion.runtime.docker import DockerRuntime
from myonion.testnet import Testnet
from myonion.tor import fetch
from tests.torclient import fresh_client
from tests.xserver import xvfb

pytestmark = [pytest.mark.integration, pytest.mark.testnet]

DRIVER = Path(__file__).with_name("real_window.py")
TIMEOUT = 420


@pytest.fixture
def docker_runtime() -> DockerRuntime:
    runtime = DockerRuntime()
    try:
        runtime.ping()
    except MyOnionError as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs a Docker engine: {e.message}", pytrace=False)
        pytest.skip(f"no Docker engine here: {e.message}")
    images.build_base(runtime)
    return runtime


@pytest.fixture
def network(docker_runtime: DockerRuntime) -> Iterator[Testnet]:
    net = Testnet(docker_runtime)
    was_up = net.is_up()
    net.up()
    yield net
    if not was_up:
        net.down()


def test_a_share_clicked_in_the_real_window_is_reachable(
        docker_runtime: DockerRuntime, network: Testnet, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    site = tmp_path / "site"
    site.mkdir()
    page = f"<h1>real window {os.getpid()}</h1>\n"
    (site / "index.html").write_text(page)
    os.chmod(tmp_path, 0o755)
    os.chmod(site, 0o755)
    shots = tmp_path / "shots"
    shots.mkdir()
    name = f"gt-real-{os.getpid()}"
    # short: tor's control socket lives below it (a unix socket path has 107 bytes at most)
    home = Path(tempfile.mkdtemp(prefix="gt-rw-"))
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    with xvfb() as display:
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb",
               "MYONION_HOME": str(home)}
        app = subprocess.Popen([sys.executable, str(DRIVER), str(site), name, str(shots)],
                               env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            assert app.stdout is not None and app.stdin is not None
            line = app.stdout.readline()
            if not line:
                app.wait(timeout=30)
                pytest.fail(f"the app ended without a share: {app.stderr.read()[-3000:]}"
                            if app.stderr else "the app ended without a share")
            shown = json.loads(line)
            assert shown["state"] == "reachable" and shown["pill"] == "● reachable"
            # prepared while the dialog was open: Share only started the service and proved it
            assert shown["shared_ahead"] is True
            print(f"Share pressed → reachable: {shown['share_to_reachable_s']} s")
            link = shown["link"]
            assert link.startswith("http://") and link.endswith(".onion/")
            with fresh_client(docker_runtime, network) as visitor:
                response = fetch.http_get_retry(link, visitor.socks, timeout=90)
            assert response.status == 200 and response.body.decode() == page
            app.stdin.write("done\n")
            app.stdin.flush()
            _, err = app.communicate(timeout=TIMEOUT)
            assert app.returncode == 0, err[-3000:]
            assert "Traceback" not in err, err[-3000:]
        finally:
            if app.poll() is None:
                app.kill()
                app.wait()
    picture = QImage(shown["screenshot"])
    assert not picture.isNull() and picture.width() >= 1000, shown["screenshot"]
    # the window was really drawn on the X screen: not one flat colour
    colours = {picture.pixel(x, y) for x in range(0, picture.width(), 37)
               for y in range(0, picture.height(), 29)}
    assert len(colours) > 10
    print(f"screenshot: {shown['screenshot']}")
