"""A screenshot of the main window with a real service on the local test network.

    QT_QPA_PLATFORM=offscreen MYONION_NETWORK=local python -m myonion_gui.screenshot_live [OUT.png]

Shares examples/site for real (Docker engine and `myonion testnet` needed), shows it in the
window, saves the picture, and removes the service again.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else ROOT / "docs" / "screenshots" / "main-window-live.png"
    os.environ["MYONION_NETWORK"] = "local"
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("MYONION_HOME", tempfile.mkdtemp(prefix="myonion-live-"))
    from PySide6.QtWidgets import QApplication

    from myonion.manager import Manager
    from myonion_gui.main_window import MainWindow
    from myonion_gui.screenshots import settle
    from myonion_gui.settings import GuiSettings

    app = QApplication.instance() or QApplication([])
    manager = Manager()
    view = manager.share("site", {"dir": str(ROOT / "examples" / "site")}, name="example",
                         network="local")
    manager.share("site", {}, name="default-page", network="local", persistent=True)
    manager.stop("default-page")
    try:
        window = MainWindow(manager, GuiSettings(network="local", intro_seen=True), poll_ms=0)
        window.resize(980, 720)
        window.show()
        window.refresh()
        settle(window)
        window.services.select("example")
        settle(window)
        window.grab().save(str(out))
        print(f"{out} ({view.address})")
    finally:
        manager.remove("example", purge=True)
        manager.remove("default-page", purge=True)
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
