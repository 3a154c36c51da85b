"""Settings: the network new services use, the local test network (up/down), the base image."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from myonion import config
from myonion.manager import ServiceView
from myonion_gui.confirm import LossDialog, testnet_dialog
from myonion_gui.controller import Controller
from myonion_gui.intro import NETWORK_LABELS
from myonion_gui.settings import GuiSettings


class SettingsDialog(QDialog):
    """Edits a copy of the settings; ``self.settings`` holds the result when accepted."""

    def __init__(self, settings: GuiSettings, controller: Controller,
                 services: list[ServiceView] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: the services as the window lists them (those on the test network are named when
        #: stopping it)
        self.services = list(services or [])
        self.confirm_dialog: LossDialog | None = None
        self.setWindowTitle("Settings — myonion")
        self.controller = controller
        self.settings = replace(settings)
        pinned = config.pinned_network()

        self.network = QComboBox()
        for key, text in NETWORK_LABELS.items():
            self.network.addItem(text, key)
        self.network.setCurrentIndex(self.network.findData(pinned or settings.network or "tor"))
        self.network.setEnabled(pinned is None)
        if pinned:
            self.network.setToolTip(f"This machine pins MYONION_NETWORK={pinned}.")

        self.base_image = QLineEdit(settings.base_image)
        self.base_image.setPlaceholderText("automatic: the locally built base, else Debian slim")

        self.testnet_label = QLabel("Checking…")
        self.up_button = QPushButton("Start test network")
        self.down_button = QPushButton("Stop test network")
        self.up_button.clicked.connect(self._up)
        self.down_button.clicked.connect(self._down)
        controller.testnet_state.connect(self.show_testnet)
        controller.testnet_status()

        new_services = QGroupBox("New services")
        form = QFormLayout(new_services)
        form.addRow("Network", self.network)
        if pinned:
            note = QLabel(f"Fixed by MYONION_NETWORK={pinned} on this machine.")
            note.setStyleSheet("color: palette(placeholder-text);")
            form.addRow("", note)
        form.addRow("Base image", self.base_image)
        testnet = QGroupBox("Test network (a private Tor network on this computer only)")
        row = QHBoxLayout(testnet)
        row.addWidget(self.testnet_label, 1)
        row.addWidget(self.up_button)
        row.addWidget(self.down_button)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(new_services)
        layout.addWidget(testnet)
        layout.addWidget(buttons)
        self.resize(520, 0)

    def show_testnet(self, up: bool | None) -> None:
        texts = {True: "Running", False: "Stopped", None: "Unknown (see the message above)"}
        self.testnet_label.setText(texts[up])
        self.up_button.setEnabled(up is not True)
        self.down_button.setEnabled(up is not False)

    def _up(self) -> None:
        self.testnet_label.setText("Starting…")
        self.up_button.setEnabled(False)
        self.controller.testnet_up()

    def _down(self) -> None:
        """Ask first (Cancel is the default); services on it keep it from stopping."""
        dialog = testnet_dialog([v for v in self.services if v.network == "local"], self)
        dialog.accepted.connect(self._really_down)
        self.confirm_dialog = dialog
        dialog.finished.connect(self._confirm_closed)
        dialog.open()

    def _confirm_closed(self) -> None:
        if self.confirm_dialog is not None:
            self.confirm_dialog.deleteLater()
            self.confirm_dialog = None

    def _really_down(self) -> None:
        self.testnet_label.setText("Stopping…")
        self.down_button.setEnabled(False)
        self.controller.testnet_down()

    def accept(self) -> None:
        self.settings = replace(self.settings, network=self.network.currentData(),
                                base_image=self.base_image.text().strip())
        super().accept()
