"""The window's first page, shown while no source is open: what to do, as buttons.

Owns the page offered instead of a black video area: Open video or image, Open image
folder, the cameras found and the recent files (the same ``source_offers`` as the
toolbar's picker), and the hint that files and folders can be dropped on the window.
Emits the ``SourceChoice`` clicked; the window opens it.
"""
from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QGroupBox, QLabel, QPushButton, QVBoxLayout, QWidget

from tracker_app.app_assets import standard_icon
from tracker_app.source_picker import ChoiceKind, Offer, SourceChoice

PAGE_WIDTH = 420  # px: the column of buttons, centred in the window
TITLE = "Open a video, an image or a camera"
DROP_HINT = "…or drop a video, an image or an image folder on this window"


class EmptyState(QWidget):
    """The buttons of ``fill(offers)``; ``chosen`` says which one was clicked."""

    chosen = pyqtSignal(SourceChoice)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("empty_state")
        self._column = QWidget(self)
        self._column.setFixedWidth(PAGE_WIDTH)
        self._layout = QVBoxLayout(self._column)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(self._column, 0, Qt.AlignmentFlag.AlignHCenter)
        outer.addStretch(2)
        self.buttons: list[QPushButton] = []

    def fill(self, offers: list[Offer]) -> None:
        """Rebuild the page: the open dialogs, a group of cameras, a group of recent files."""
        while (item := self._layout.takeAt(0)) is not None:
            widget = item.widget()
            if widget is not None:
                widget.deleteLater()
        self.buttons = []
        title = QLabel(TITLE)
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        title.setFont(font)
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self._layout.addWidget(title)
        for offer in offers:
            if offer.choice.kind in (ChoiceKind.BROWSE, ChoiceKind.FOLDER):
                self._layout.addWidget(self._button(offer))
        for kind, heading, nothing in ((ChoiceKind.CAMERA, "Cameras", "No camera found"),
                                       (ChoiceKind.FILE, "Recent files", "No recent files")):
            group = QGroupBox(heading)
            column = QVBoxLayout(group)
            mine = [o for o in offers if o.choice.kind is kind]
            for offer in mine:
                column.addWidget(self._button(offer))
            if not mine:
                column.addWidget(QLabel(nothing))
            self._layout.addWidget(group)
        hint = QLabel(DROP_HINT)
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self._layout.addWidget(hint)

    def _button(self, offer: Offer) -> QPushButton:
        button = QPushButton(standard_icon(self, offer.icon()), offer.text)
        if offer.choice.kind is ChoiceKind.FILE:
            button.setToolTip(str(offer.choice.value))
        button.clicked.connect(lambda _checked, c=offer.choice: self.chosen.emit(c))
        self.buttons.append(button)
        return button
