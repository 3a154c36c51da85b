"""The window's commands as actions: one place for their words, shortcuts and tooltips.

Every shortcut shows in the menus (Qt prints it beside the entry) and in the tooltip of every
button that does the same thing (``tip``), so none of them is a secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QToolBar

SHORTCUTS = {
    "share": "Ctrl+N",
    "power": "Ctrl+T",
    "check": "Ctrl+K",
    "copy": "Ctrl+Shift+C",
    "remove": "Delete",
    "refresh": "F5",
    "settings": "Ctrl+,",
    "networks": "F1",
    "quit": "Ctrl+Q",
}


def shortcut_text(key: str) -> str:
    """A shortcut as this desktop writes it (e.g. "Ctrl+N")."""
    return QKeySequence(SHORTCUTS[key]).toString(QKeySequence.SequenceFormat.NativeText)


def tip(text: str, key: str) -> str:
    """A tooltip that ends with its shortcut: "Share a folder or a service (Ctrl+N)"."""
    return f"{text} ({shortcut_text(key)})"


@dataclass
class WindowActions:
    """The main window's actions; those about "the selected service" are enabled per state."""

    share: QAction
    power: QAction
    check: QAction
    copy: QAction
    remove: QAction
    refresh: QAction
    settings: QAction
    networks: QAction
    shortcuts: QAction
    quit: QAction


def _action(window: QMainWindow, text: str, key: str | None, tooltip: str) -> QAction:
    action = QAction(text, window)
    if key is not None:
        action.setShortcut(QKeySequence(SHORTCUTS[key]))
        action.setToolTip(tip(tooltip, key))
    else:
        action.setToolTip(tooltip)
    action.setStatusTip(tooltip)
    return action


def build(window: QMainWindow) -> WindowActions:
    """Create the actions, the menu bar and the toolbar of ``window``."""
    a = WindowActions(
        share=_action(window, "&Share…", "share", "Share a folder or a service"),
        power=_action(window, "S&tart / Stop", "power", "Start or stop the selected service"),
        check=_action(window, "&Check reachability", "check",
                      "Fetch the selected service through a separate tor client"),
        copy=_action(window, "&Copy address", "copy", "Copy the selected service's address"),
        remove=_action(window, "&Remove…", "remove", "Remove the selected service"),
        refresh=_action(window, "Re&fresh", "refresh", "List the services again"),
        settings=_action(window, "Se&ttings…", "settings",
                         "Network for new services, test network, base image"),
        networks=_action(window, "&Test network or Tor network?", "networks",
                         "What the two networks are, and which one to use"),
        shortcuts=_action(window, "&Keyboard shortcuts", None, "Every shortcut of this window"),
        quit=_action(window, "&Quit", "quit", "Close the window"),
    )
    # Delete belongs to the list: in a text field it deletes text
    a.remove.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    bar = window.menuBar()
    services = bar.addMenu("&Services")
    for action in (a.share, None, a.power, a.check, a.copy, a.remove, None, a.refresh,
                   a.settings, None, a.quit):
        if action is None:
            services.addSeparator()
        else:
            services.addAction(action)
    help_menu = bar.addMenu("&Help")
    help_menu.addAction(a.networks)
    help_menu.addAction(a.shortcuts)

    toolbar = QToolBar("Main", window)
    toolbar.setObjectName("main-toolbar")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    window.addToolBar(toolbar)
    for action in (a.share, a.settings, a.refresh):
        toolbar.addAction(action)
    share_button = toolbar.widgetForAction(a.share)
    font = share_button.font()
    font.setBold(True)
    share_button.setFont(font)
    return a


def shortcuts_table() -> str:
    """Every shortcut as a small HTML table (Help → Keyboard shortcuts)."""
    words = {
        "share": "Share a folder or a service", "power": "Start or stop the selected service",
        "check": "Check reachability", "copy": "Copy the selected address",
        "remove": "Remove the selected service (in the list)", "refresh": "List again",
        "settings": "Settings", "networks": "Test network or Tor network?", "quit": "Quit",
    }
    rows = "".join(f"<tr><td><b>{shortcut_text(k)}</b></td><td>{words[k]}</td></tr>"
                   for k in SHORTCUTS)
    return ("<table cellspacing=6>" + rows + "</table><p>In the list: arrow keys move, Tab "
            "leaves it. In dialogs: Tab moves on, Enter confirms, Esc cancels.</p>")
