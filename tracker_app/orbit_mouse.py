"""The 3D view's mouse: drag to turn the orbit camera, wheel to zoom, double-click to reset, and a
click (press and release in place) to centre on the face under the pointer (None: every face).

An event filter on the view, so the view keeps Qt's own mouse handling; it acts only in 3D mode
and sets the hand cursors.
"""
from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QEvent, QObject, QPointF, Qt
from PyQt6.QtGui import QMouseEvent, QWheelEvent
from PyQt6.QtWidgets import QWidget

from tracker_app.view_math import OrbitCamera
from tracker_app.viewer_model import ViewerModel

CLICK_SLOP_PX = 4  # a press and release this close is a click (pick a face), not an orbit drag
WHEEL_STEP = 120.0  # angleDelta units of one wheel notch


class OrbitMouse(QObject):
    """Turns ``camera`` and sets the model's focus from the mouse events of ``view``;
    ``pick(x, y)`` gives the person id of the face at a widget pixel."""

    def __init__(self, view: QWidget, model: ViewerModel, camera: OrbitCamera,
                 pick: Callable[[float, float], int | None]) -> None:
        super().__init__(view)
        self._view, self._model, self._camera, self._pick = view, model, camera, pick
        self._drag_from: QPointF | None = None  # last pointer position of a left-button drag
        self._press_at = QPointF()
        model.view_mode_changed.connect(lambda _on: view.setCursor(self._idle_cursor()))
        view.installEventFilter(self)

    def _idle_cursor(self) -> Qt.CursorShape:
        return Qt.CursorShape.OpenHandCursor if self._model.view_3d else Qt.CursorShape.ArrowCursor

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:
        """Acts on the view's mouse events; only a wheel turned in 3D stops there (not scrolling a parent)."""
        if isinstance(event, QWheelEvent):
            return self._wheel(event)
        if isinstance(event, QMouseEvent):
            kind = event.type()
            if kind == QEvent.Type.MouseButtonDblClick:
                self._double_click(event)
            elif kind == QEvent.Type.MouseButtonPress:
                self._press(event)
            elif kind == QEvent.Type.MouseMove:
                self._move(event)
            elif kind == QEvent.Type.MouseButtonRelease:
                self._release(event)
        return False

    def _press(self, event: QMouseEvent) -> None:
        if self._model.view_3d and event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = event.position()
            self._press_at = event.position()
            self._view.setCursor(Qt.CursorShape.ClosedHandCursor)

    def _move(self, event: QMouseEvent) -> None:
        if self._drag_from is not None and self._model.view_3d:
            delta = event.position() - self._drag_from
            self._drag_from = event.position()
            self._camera.orbit(delta.x(), delta.y())
            self._view.update()

    def _release(self, event: QMouseEvent) -> None:
        if self._drag_from is not None:
            self._drag_from = None
            moved = event.position() - self._press_at
            if abs(moved.x()) + abs(moved.y()) <= CLICK_SLOP_PX:  # a click, not a drag: centre on that face
                self._model.set_focus(self._pick(event.position().x(), event.position().y()))
            self._view.setCursor(self._idle_cursor())

    def _double_click(self, event: QMouseEvent) -> None:
        if self._model.view_3d:
            self._camera.reset()
            self._view.update()
        self._press(event)  # Qt delivers a double-click as a second press too (QWidget's default)

    def _wheel(self, event: QWheelEvent) -> bool:
        if not self._model.view_3d:
            return False
        self._camera.zoom(event.angleDelta().y() / WHEEL_STEP)
        self._view.update()
        event.accept()
        return True
