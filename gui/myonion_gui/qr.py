"""QR codes (segno) as pixmaps, so an address can be scanned from the screen by a phone."""

from __future__ import annotations

import io

import segno
from PySide6.QtGui import QPixmap

BORDER = 4  # the quiet zone readers need around the code


def qr_pixmap(text: str, max_size: int) -> QPixmap:
    """A black-on-white QR code of ``text``, as large as fits ``max_size`` with whole pixels."""
    code = segno.make(text, error="m")
    modules = code.symbol_size(border=BORDER)[0]
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=max(1, max_size // modules), border=BORDER)
    pixmap = QPixmap()
    pixmap.loadFromData(buffer.getvalue(), "PNG")
    return pixmap
