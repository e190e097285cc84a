"""Files and folders dropped on the window.

Owns which drags the window accepts (any with a local file or folder) and what a drop
gives: the first local path, which the window opens as File ▸ Open would. An event filter
on the window, so the window itself needs no drag-and-drop handlers.
"""
from __future__ import annotations

from PyQt6.QtCore import QEvent, QMimeData, QObject, pyqtSignal
from PyQt6.QtGui import QDropEvent
from PyQt6.QtWidgets import QWidget


def local_paths(mime: QMimeData | None) -> list[str]:
    """The local files and folders a drag carries, in order (web links are not ours to open)."""
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime is not None else []


class FileDrops(QObject):
    """Makes ``window`` take drops of local files; ``dropped`` gives the first path of each drop."""

    dropped = pyqtSignal(str)

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        window.setAcceptDrops(True)
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:
        """Takes a drag or a drop that carries a local path; lets every other event through."""
        kind = event.type() if event is not None else None
        if kind not in (QEvent.Type.DragEnter, QEvent.Type.Drop) or not isinstance(event, QDropEvent):
            return False
        paths = local_paths(event.mimeData())
        if not paths:
            return False
        event.acceptProposedAction()
        if kind == QEvent.Type.Drop:
            self.dropped.emit(paths[0])
        return True
