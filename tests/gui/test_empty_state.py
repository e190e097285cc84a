"""The first window says what to do (issue 22, item 7): launched with no source it offers Open
video, the cameras found and the recent files; files and folders dropped on it open as sources."""
from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import QMimeData, QPointF, Qt, QUrl
from PyQt6.QtGui import QDragEnterEvent, QDropEvent
from PyQt6.QtWidgets import QApplication

from tests.support.video_fixtures import image_folder_from
from tests.support.gui import close_window, make_window, qimage_rgb, settings_store, wait_until
from tracker_app.gl_view import BACKGROUND_VIDEO
from tracker_app.source_picker import ChoiceKind

pytestmark = pytest.mark.gui

CAMERA = (7, "Test camera")  # listed only: nothing opens it unless it is clicked


@pytest.fixture
def first_window(qapp, weights_dir, obama, tmp_path):
    """A window launched with no source, a camera found and obama.mp4 among the recent files."""
    settings_store(tmp_path).add_recent(str(obama.resolve()), limit=8)
    w = make_window(tmp_path, cameras=[CAMERA])
    wait_until(lambda: w.model.state.engine_ready, "the models")
    yield w
    close_window(w)


def test_the_empty_state_offers_open_the_cameras_and_the_recent_files(first_window, obama) -> None:
    window = first_window
    page = window.empty_state
    assert window.model.source is None
    assert page.isVisible() and not window.view.isVisible()
    texts = [b.text() for b in page.buttons]
    assert texts == ["Open video or image…", "Open image folder…", f"Camera {CAMERA[0]}: {CAMERA[1]}", obama.name]
    # What the window shows is that page, pixel for pixel: not the black video area of before.
    QApplication.processEvents()
    shot = qimage_rgb(window.grab().toImage())
    centre = window.centralWidget()
    top_left = centre.mapTo(window, centre.rect().topLeft())
    shown = shot[top_left.y():top_left.y() + centre.height(), top_left.x():top_left.x() + centre.width()]
    alone = qimage_rgb(page.grab().toImage())
    # (The window's own grab may differ in a focus frame or a hover highlight, nothing more.)
    assert shown.shape == alone.shape and (np.abs(shown.astype(int) - alone).max(axis=2) > 8).mean() < 0.02
    video_black = np.round(np.array(BACKGROUND_VIDEO) * 255)
    assert (np.abs(shown.astype(int) - video_black).max(axis=2) > 8).mean() > 0.9
    # Each button shows its text: dark glyphs on a light button face, inside its own rectangle.
    for button in page.buttons:
        corner = button.mapTo(page, button.rect().topLeft())
        face = alone[corner.y():corner.y() + button.height(), corner.x():corner.x() + button.width()]
        assert face.std() > 10, f"{button.text()}: a blank rectangle"
    # A click on the recent file opens it, and the video takes the page's place.
    next(b for b in page.buttons if b.text() == obama.name).click()
    wait_until(lambda: window.model.source is not None and window.model.frames_shown >= 2, "obama.mp4")
    assert window.model.source.path == obama.resolve() and not window.errors
    wait_until(lambda: window.view.isVisible() and not page.isVisible(), "the video in place of the page")
    window.close_source()
    wait_until(lambda: window.model.source is None and page.isVisible(), "the page again")
    assert page.buttons[-1].text() == obama.name


def _drop(window, path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    point = QPointF(window.width() / 2, window.height() / 2)
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(point.toPoint(), Qt.DropAction.CopyAction, mime, buttons, keys)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(window, QDropEvent(point, Qt.DropAction.CopyAction, mime, buttons, keys))


def test_a_dropped_video_file_and_folder_open_as_sources(first_window, obama, tmp_path) -> None:
    window = first_window
    _drop(window, obama)
    wait_until(lambda: window.model.source is not None and window.model.frames_shown >= 2, "the dropped video")
    assert window.model.source.path == obama and window.model.frame.n_faces == 1
    assert window.source_box.itemText(0) == obama.name and not window.errors
    folder = image_folder_from(obama, tmp_path / "frames", 3)
    _drop(window, folder)
    wait_until(lambda: window.model.source is not None and window.model.source.path == folder
               and window.model.frame is not None, "the dropped folder")
    wait_until(lambda: window.model.source.frame_count == 3, "the folder's three images")
    assert not window.errors


def test_the_picker_and_the_page_offer_the_same_choices(first_window, obama) -> None:
    window = first_window
    box = window.source_box
    kinds = [box.itemData(i).kind for i in range(1, box.count())]
    assert kinds == [ChoiceKind.CAMERA, ChoiceKind.BROWSE, ChoiceKind.FOLDER, ChoiceKind.FILE]
    offered = sorted(box.itemText(i) for i in range(1, box.count()))
    assert offered == sorted(b.text() for b in window.empty_state.buttons)
