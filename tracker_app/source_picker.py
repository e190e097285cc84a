"""What the user can open: the toolbar's source picker and the choices it offers.

Owns ``SourceChoice`` (a camera, a recent file, or a dialog to browse), the one list
of choices (``source_offers``) the toolbar's picker and the window's empty state both show, and the
picker itself. The window opens what is chosen.
"""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import NamedTuple

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QComboBox, QStyle, QWidget

from tracker_app.app_assets import standard_icon
from tracker_app.viewer_model import SourceInfo

PICKER_MIN_CHARS = 14


class ChoiceKind(str, Enum):
    CAMERA = "camera"
    BROWSE = "browse"  # the open dialog for a video or an image
    FOLDER = "folder"  # the open dialog for an image folder
    FILE = "file"  # a recent file


class SourceChoice(NamedTuple):
    """One thing to open: ``value`` is the camera index or the file path (None for a dialog)."""

    kind: ChoiceKind
    value: int | str | None


class Offer(NamedTuple):
    """A choice as the user sees it."""

    choice: SourceChoice
    text: str

    def icon(self) -> QStyle.StandardPixmap:
        return _ICONS[self.choice.kind]


_ICONS = {ChoiceKind.CAMERA: QStyle.StandardPixmap.SP_ComputerIcon,
          ChoiceKind.BROWSE: QStyle.StandardPixmap.SP_DialogOpenButton,
          ChoiceKind.FOLDER: QStyle.StandardPixmap.SP_DirOpenIcon,
          ChoiceKind.FILE: QStyle.StandardPixmap.SP_FileIcon}


def source_offers(cameras: list[tuple[int, str]], recent: list[str]) -> list[Offer]:
    """Cameras first, then the dialogs, then the recent files (newest first)."""
    return ([Offer(SourceChoice(ChoiceKind.CAMERA, index), f"Camera {index}: {name}") for index, name in cameras]
            + [Offer(SourceChoice(ChoiceKind.BROWSE, None), "Open video or image…"),
               Offer(SourceChoice(ChoiceKind.FOLDER, None), "Open image folder…")]
            + [Offer(SourceChoice(ChoiceKind.FILE, path), Path(path).name) for path in recent])


class SourcePicker(QComboBox):
    """The toolbar's combo box: the source open now, then ``source_offers``. Emits ``chosen``."""

    chosen = pyqtSignal(SourceChoice)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumContentsLength(PICKER_MIN_CHARS)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setToolTip("Video source: cameras, a video file, recent files")
        self.activated.connect(self._on_activated)

    def fill(self, source: SourceInfo | None, offers: list[Offer]) -> None:
        self.clear()
        current = "No source" if source is None else source.description if source.is_live else Path(source.spec).name
        self.addItem(current, None)
        self.setItemData(0, source.description if source else None, Qt.ItemDataRole.ToolTipRole)
        for offer in offers:
            self.addItem(standard_icon(self, offer.icon()), offer.text, offer.choice)
            if offer.choice.kind is ChoiceKind.FILE:
                self.setItemData(self.count() - 1, offer.choice.value, Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(0)

    def _on_activated(self, row: int) -> None:
        choice = self.itemData(row)
        self.setCurrentIndex(0)
        if isinstance(choice, SourceChoice):
            self.chosen.emit(choice)
