"""The 3D view with several faces (emma.jpg: three), picking the face to centre on, a single image's
readout, the Record dialog creating a typed folder, and opening an image folder."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QFileDialog, QLineEdit

from engine.run_record import RUN_NAME
from tests.support.video_fixtures import image_folder_from
from tests.support.gui import qimage_rgb, wait_until
from tracker_app.export_actions import session_folder
from tracker_app.gl_view import BACKGROUND_3D
from tracker_app.record_dialog import FolderDialog, RecordDialog
from tracker_app.actions import Act, Slot

pytestmark = pytest.mark.gui


def _projected_boxes(window) -> list[tuple[float, float, float, float]]:
    """Each face's projected vertices as a box in view pixels (x1, y1, x2, y2), y down."""
    view, frame = window.view, window.model.frame
    w, h = view.width(), view.height()
    mvp = view.mvp_3d(frame, w, h)
    boxes = []
    for i in range(frame.n_faces):
        clip = np.c_[view.face_vertices(frame, i), np.ones(frame.n_vertices)] @ mvp.T
        ndc = clip[:, :3] / clip[:, 3:]
        assert (clip[:, 3] > 0).all() and (np.abs(ndc[:, 2]) < 1).all(), "inside the clip planes"
        x, y = (ndc[:, 0] + 1) / 2 * w, (1 - ndc[:, 1]) / 2 * h
        boxes.append((x.min(), y.min(), x.max(), y.max()))
    return boxes


def _background(grab: np.ndarray) -> np.ndarray:
    colour = np.round(np.asarray(BACKGROUND_3D) * 255)
    return np.abs(grab.astype(int) - colour).max(axis=2) <= 3


def test_3d_view_frames_every_face_of_emma_and_centres_on_a_clicked_one(window, media_dir) -> None:
    window.open_source(str(media_dir / "emma.jpg"))
    wait_until(lambda: window.model.frame is not None and window.model.frame.n_faces == 3, "emma's three faces")
    # The end-of-stream message follows the pause signal (two queued signals): wait for it.
    wait_until(lambda: not window.model.playing and "single image" in window.statusBar().currentMessage(),
               "the single image's status message")
    window.model.set_view_3d(True)
    for turn in ((0, 0), (90, 0), (-40, 30)):  # framed whatever the orbit
        window.view.camera.reset()
        window.view.camera.orbit(*turn)
        window.view.update()
        grab = qimage_rgb(window.view.grab_frame())
        h, w = grab.shape[:2]
        assert (w, h) == (window.view.width(), window.view.height())
        for x1, y1, x2, y2 in _projected_boxes(window):
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, f"a face's box {x1, y1, x2, y2} leaves the view"
        border = np.ones((h, w), bool)
        border[3:-3, 3:-3] = False
        assert _background(grab)[border].all(), "a face is cut off at the edge of the view"
    window.view.camera.reset()
    window.view.update()
    grab = qimage_rgb(window.view.grab_frame())
    boxes = _projected_boxes(window)
    for x1, y1, x2, y2 in boxes:  # each face drawn where it projects
        cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
        assert not _background(grab)[cy - 5:cy + 5, cx - 5:cx + 5].any()
    # A click on the leftmost face centres the view on it; a click on the background frames all again.
    ids = [tf.person_id for tf in window.model.frame.result.faces]
    left = int(np.argmin([b[0] for b in boxes]))
    x1, y1, x2, y2 = boxes[left]
    QTest.mouseClick(window.view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(int((x1 + x2) / 2), int((y1 + y2) / 2)))
    assert window.model.focus_person == ids[left]
    centred = _projected_boxes(window)[left]
    assert centred[2] - centred[0] > 1.5 * (x2 - x1), "the picked face fills the view"
    assert abs((centred[0] + centred[2]) / 2 - window.view.width() / 2) < 0.1 * window.view.width()
    window.commands.menus[Slot.FOCUS_MENU].aboutToShow.emit()
    assert [a.text() for a in window.commands.menus[Slot.FOCUS_MENU].actions()] == (
        ["&All Faces"] + [f"Face #{i}" for i in sorted(ids)])
    window.view.update()
    grab = qimage_rgb(window.view.grab_frame())
    corner = (3, 3)
    QTest.mouseClick(window.view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*corner))
    assert _background(grab)[corner[1], corner[0]] and window.model.focus_person is None
    # The single image's values are in the readout (a plot of one point shows nothing).
    window.plots._stale = True
    wait_until(lambda: window.plots.readout.text().startswith("frame 0: yaw"), "the readout")
    assert not window.errors


def test_record_dialog_creates_a_typed_new_folder(window, obama, tmp_path) -> None:
    typed = tmp_path / "new" / "runs"
    dialog = RecordDialog(tmp_path, show_mesh=False, is_file=True, parent=window)
    dialog.folder.setText(str(typed))
    dialog.accept()
    assert dialog.result() == RecordDialog.DialogCode.Accepted and typed.is_dir()
    request = dialog.request()
    assert request.parent == typed
    # The Browse… dialog: a new name typed there is created too (Qt's would say "Directory not found").
    browse = FolderDialog(window, "Record session into folder", str(tmp_path))
    chosen = []
    browse.fileSelected.connect(chosen.append)
    browse.open()
    name_edit = browse.findChild(QLineEdit, "fileNameEdit")
    name_edit.setText("typed_in_browse")
    browse.accept()
    assert (tmp_path / "typed_in_browse").is_dir() and chosen == [str(tmp_path / "typed_in_browse")]
    # And recording into the typed folder works.
    window.open_source(str(obama))
    wait_until(lambda: window.model.frames_shown >= 2, "frames")
    folder = session_folder(request.parent)
    window.start_recording(folder, request.exports, request.from_start)
    wait_until(lambda: window.model.recording is not None, "recording")
    wait_until(lambda: window.model.recording is None, "the recording to end with the video")
    run = json.loads((folder / RUN_NAME).read_text())
    assert run["complete"] and run["summary"]["frames"] == 55


def test_open_an_image_folder(window, obama, tmp_path, monkeypatch) -> None:
    folder = image_folder_from(obama, tmp_path / "frames", 6)
    # The folder dialog is the platform's; what it returns is what this path opens.
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *_a, **_k: str(folder)))
    folder_item = next(i for i in range(window.source_box.count())
                       if (window.source_box.itemData(i) or (None,))[0] == "folder")
    window.source_box.activated.emit(folder_item)
    wait_until(lambda: window.model.source is not None and window.model.source.path == folder, "the folder")
    # The end of the source comes after the pause (two queued signals): wait for both.
    wait_until(lambda: not window.model.playing and window.model.frame is not None
               and "End of video" in window.statusBar().currentMessage(), "the folder's end")
    assert window.model.frame.result.index == 5 and window.model.frame.n_faces == 1
    assert window.model.source.frame_count == 6
    assert "End of video (6 frames)" in window.statusBar().currentMessage()
    assert not window.errors
    window.go_to_frame(2)  # no random access in a folder: reopened and decoded up to it
    wait_until(lambda: window.model.frame.result.index == 2, "frame 2")
    assert np.array_equal(window.model.frame.image, cv2.imread(str(folder / "img_002.png")))


def test_small_window_keeps_the_video_and_the_main_actions(window, obama) -> None:
    from PyQt6.QtWidgets import QMessageBox

    from tracker_app.main_window import DIALOG_MIN_WIDTH

    window.resize(960, 600)
    window.open_source(str(obama))
    wait_until(lambda: window.model.frames_shown >= 2, "frames")
    # The dock gives up width down to 30 % of the window, or to what its widgets need at least
    # (the Live panel shares the dock area).
    floor = max(0.3 * 960, *(d.minimumSizeHint().width() for d in (window.plots_dock, window.live_dock)))
    wait_until(lambda: window.width() == 960 and window.plots_dock.width() <= floor + 1, "the layout")
    assert window.view.width() > 2 * window.plots_dock.width()  # the video area has priority
    for action in (window.commands[Act.RECORD], window.commands[Act.VIEW_3D], window.commands[Act.PLAY]):
        button = window.toolbar.widgetForAction(action)
        assert button is not None and button.isVisible(), f"{action.text()} went into the » overflow"
        assert button.geometry().right() <= window.toolbar.width()
    # Dialogs stay readable in a small window: the camera dialog's title is not cut off.
    window.resize(640, 400)
    dialog = window.choose_camera_number()
    wait_until(dialog.isVisible, "the camera dialog")
    title_px = dialog.fontMetrics().horizontalAdvance(dialog.windowTitle())
    assert dialog.windowTitle() == "Open Camera by Number" and dialog.width() >= max(DIALOG_MIN_WIDTH, title_px)
    dialog.reject()
    box = window.show_dialog(QMessageBox.Icon.Warning, "Cannot record",
                              "cannot create the folder /no/such/place/for/a/session: Permission denied")
    wait_until(box.isVisible, "the message box")
    assert box.width() >= DIALOG_MIN_WIDTH
    box.close()
