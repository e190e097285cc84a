"""The 3D view's mouse (tracker_app.orbit_mouse) with real Qt events on a plain widget: drag turns,
a click in place centres on the face under it, double-click resets, the wheel zooms; nothing in
video mode. The picking itself is tests/test_face_framing.py; the whole window, test_window.py."""
from __future__ import annotations

import pytest
from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt6.QtGui import QMouseEvent, QWheelEvent
from PyQt6.QtWidgets import QApplication, QWidget

from engine.config import EyesConfig
from tracker_app.orbit_mouse import CLICK_SLOP_PX, OrbitMouse
from tracker_app.settings import OverlayOptions
from tracker_app.view_math import OrbitCamera
from tracker_app.viewer_model import ViewerModel

pytestmark = pytest.mark.gui
LEFT, NONE = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
PERSON = 5


@pytest.fixture
def rig(qapp):
    """A widget with the mouse control; ``picks`` records each pick (x, y), the person there is PERSON."""
    widget = QWidget()
    widget.resize(400, 300)
    model = ViewerModel(OverlayOptions(), history_seconds=10.0, eyes=EyesConfig())
    camera = OrbitCamera()
    picks: list[tuple[float, float]] = []

    def pick(x: float, y: float) -> int | None:
        picks.append((x, y))
        return PERSON

    OrbitMouse(widget, model, camera, pick)
    yield widget, model, camera, picks
    widget.deleteLater()


def _mouse(widget: QWidget, kind: QEvent.Type, pos: tuple[float, float], button, buttons) -> None:
    p = QPointF(*pos)
    QApplication.sendEvent(widget, QMouseEvent(kind, p, widget.mapToGlobal(p), button, buttons,
                                               Qt.KeyboardModifier.NoModifier))


def _drag(widget: QWidget, start: tuple[float, float], end: tuple[float, float]) -> None:
    _mouse(widget, QEvent.Type.MouseButtonPress, start, LEFT, LEFT)
    _mouse(widget, QEvent.Type.MouseMove, end, NONE, LEFT)
    _mouse(widget, QEvent.Type.MouseButtonRelease, end, LEFT, NONE)


def _wheel(widget: QWidget, delta: int) -> bool:
    p = QPointF(200, 150)
    event = QWheelEvent(p, widget.mapToGlobal(p), QPoint(), QPoint(0, delta), NONE,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_video_mode_ignores_the_mouse(rig) -> None:
    widget, model, camera, picks = rig
    _drag(widget, (100, 100), (200, 150))
    _drag(widget, (100, 100), (100, 100))
    assert not _wheel(widget, 120)  # left to the parents
    assert (camera.yaw, camera.pitch, camera.distance) == (0, 0, OrbitCamera.distance)
    assert not picks and model.focus_person is None
    assert widget.cursor().shape() == Qt.CursorShape.ArrowCursor


def test_drag_turns_and_click_centres_on_the_face_under_it(rig) -> None:
    widget, model, camera, picks = rig
    model.set_view_3d(True)
    assert widget.cursor().shape() == Qt.CursorShape.OpenHandCursor
    _mouse(widget, QEvent.Type.MouseButtonPress, (100, 100), LEFT, LEFT)
    assert widget.cursor().shape() == Qt.CursorShape.ClosedHandCursor
    _mouse(widget, QEvent.Type.MouseMove, (150, 110), NONE, LEFT)
    _mouse(widget, QEvent.Type.MouseMove, (250, 125), NONE, LEFT)
    _mouse(widget, QEvent.Type.MouseButtonRelease, (250, 125), LEFT, NONE)
    assert camera.yaw == pytest.approx(150 * camera.degrees_per_pixel)
    assert camera.pitch == pytest.approx(25 * camera.degrees_per_pixel)
    assert not picks, "a drag is not a click"
    assert widget.cursor().shape() == Qt.CursorShape.OpenHandCursor
    _drag(widget, (60, 70), (60 + CLICK_SLOP_PX, 70))  # a shaky click is still a click
    assert picks == [(60 + CLICK_SLOP_PX, 70)] and model.focus_person == PERSON
    _drag(widget, (60, 70), (60 + CLICK_SLOP_PX + 1, 70))
    assert len(picks) == 1
    model.set_view_3d(False)
    assert widget.cursor().shape() == Qt.CursorShape.ArrowCursor


def test_double_click_resets_and_the_wheel_zooms(rig) -> None:
    widget, model, camera, picks = rig
    model.set_view_3d(True)
    _drag(widget, (100, 100), (180, 140))
    assert _wheel(widget, 240)  # two notches away from the user: closer, and no parent scrolls
    assert camera.distance == pytest.approx(OrbitCamera.distance / camera.zoom_per_wheel_step ** 2)
    _mouse(widget, QEvent.Type.MouseButtonDblClick, (100, 100), LEFT, LEFT)
    assert (camera.yaw, camera.pitch, camera.distance) == (0, 0, OrbitCamera.distance)
    # Qt's double-click is also the second press: its release is a click, as the first one was.
    _mouse(widget, QEvent.Type.MouseButtonRelease, (100, 100), LEFT, NONE)
    assert picks == [(100, 100)]
