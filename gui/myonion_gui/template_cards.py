"""Template cards: title and description from each manifest; exactly one is chosen.

A card shows the description's first sentence, so that every card fits on a screen; the whole
description is the card's tooltip and is shown above the chosen template's options.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QGridLayout,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from myonion.templates import TemplateSpec

CARD_STYLE = """
TemplateCard { border: 1px solid palette(mid); border-radius: 6px; background: palette(base); }
TemplateCard[chosen="true"] { border: 2px solid palette(highlight); }
"""
SUMMARY_LIMIT = 160
#: the end of a sentence (or of its first clause before a colon), not an abbreviation's dot
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)[.:;](?=\s|$)")


def summary(description: str, limit: int = SUMMARY_LIMIT) -> str:
    """The first sentence of ``description`` (at most ``limit`` characters, cut at a word)."""
    text = " ".join(description.split())
    end = _SENTENCE_END.search(text)
    first = text[:end.start()] + "." if end else text
    if len(first) > limit:
        first = first[:limit].rsplit(" ", 1)[0].rstrip(",;:(") + "…"
    return first


class TemplateCard(QFrame):
    """A clickable card; the radio button in it carries the choice."""

    def __init__(self, template: TemplateSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.template = template
        self.setObjectName(f"card-{template.id}")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.radio = QRadioButton(template.title)
        font = self.radio.font()
        font.setBold(True)
        self.radio.setFont(font)
        self.description = QLabel(summary(template.description))
        self.description.setTextFormat(Qt.TextFormat.PlainText)
        self.description.setWordWrap(True)
        self.setToolTip(" ".join(template.description.split()))
        self.description.setIndent(24)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.addWidget(self.radio)
        layout.addWidget(self.description)
        layout.addStretch(1)
        self.radio.toggled.connect(self._restyle)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.radio.setChecked(True)
        super().mousePressEvent(event)

    def _restyle(self, chosen: bool) -> None:
        self.setProperty("chosen", chosen)
        self.style().unpolish(self)
        self.style().polish(self)


class TemplateCards(QWidget):
    """A grid of cards, two per row."""

    chosen = Signal(object)  # TemplateSpec

    def __init__(self, templates: list[TemplateSpec], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet(CARD_STYLE)
        self.cards: dict[str, TemplateCard] = {}
        self.group = QButtonGroup(self)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, template in enumerate(templates):
            card = TemplateCard(template)
            self.cards[template.id] = card
            self.group.addButton(card.radio)
            card.radio.toggled.connect(
                lambda on, t=template: self.chosen.emit(t) if on else None)
            grid.addWidget(card, i // 2, i % 2)
        for column in (0, 1):
            grid.setColumnStretch(column, 1)

    def choose(self, template_id: str) -> None:
        self.cards[template_id].radio.setChecked(True)

    def current(self) -> TemplateSpec | None:
        return next((c.template for c in self.cards.values() if c.radio.isChecked()), None)
