"""The desktop app's own preferences: the network new services use and the base image.

Kept in QSettings by the app entry point; tests use an in-memory ``GuiSettings``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import QSettings

#: the core reads the base image from this variable (see myonion.build.images.base_image)
BASE_IMAGE_ENV = "MYONION_BASE_IMAGE"
#: what the environment said when the app started; an empty setting falls back to it
_OUTSIDE_BASE_IMAGE = os.environ.get(BASE_IMAGE_ENV, "")


@dataclass
class GuiSettings:
    """``network`` None means the core's default (the pinned network, else ``tor``)."""

    network: str | None = None
    base_image: str = ""

    def apply(self) -> None:
        """Make the core use the chosen base image for images it builds from now on."""
        image = self.base_image or _OUTSIDE_BASE_IMAGE
        if image:
            os.environ[BASE_IMAGE_ENV] = image
        else:
            os.environ.pop(BASE_IMAGE_ENV, None)

    @classmethod
    def load(cls, store: QSettings) -> GuiSettings:
        network = store.value("network", "")
        return cls(network=str(network) or None,
                   base_image=str(store.value("base_image", "")))

    def save(self, store: QSettings) -> None:
        store.setValue("network", self.network or "")
        store.setValue("base_image", self.base_image)
