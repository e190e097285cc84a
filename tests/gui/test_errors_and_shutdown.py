"""Errors end in a dialog and leave the app usable; closing the window mid-play stops the capture thread."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from PyQt6 import sip
from PyQt6.QtWidgets import QMessageBox

from engine.video_source import CameraSource
from tests.support.gui import StampedCapture, close_window, make_window, qimage_rgb, wait_until
from tracker_app.gl_view import BACKGROUND_3D
from tracker_app.actions import Slot

pytestmark = pytest.mark.gui


def _dismiss(window) -> None:
    for box in list(window.dialogs):
        box.button(QMessageBox.StandardButton.Ok).click()
    wait_until(lambda: not window.dialogs, "dialogs to close")


def test_unreadable_files_show_an_error_and_the_app_keeps_working(window, obama, tmp_path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)  # an MP4 header, then junk
    window.open_source(str(broken))
    wait_until(lambda: window.errors, "an error for the damaged file")
    title, message = window.errors[-1]
    assert title == "Cannot open video" and "broken.mp4" in message
    assert len(window.dialogs) == 1 and window.dialogs[0].isVisible()
    assert window.dialogs[0].text() == message
    assert window.model.source is None and not window.model.playing

    window.open_source(str(tmp_path / "missing.mp4"))  # a second error while the first dialog is up
    wait_until(lambda: len(window.errors) == 2, "an error for the missing file")
    assert "no such video file" in window.errors[-1][1]
    _dismiss(window)

    window.open_source(str(obama))  # still works
    wait_until(lambda: window.model.frames_shown >= 3, "frames after the errors")
    assert window.model.frame.n_faces == 1
    assert len(window.errors) == 2

    # A bad file chosen while a video plays: an error, and the video goes on.
    window.open_source(str(broken))
    wait_until(lambda: len(window.errors) == 3, "an error while playing")
    shown = window.model.frames_shown
    wait_until(lambda: window.model.frames_shown >= shown + 3, "frames after the error")
    assert window.model.source.path == obama
    _dismiss(window)

    # A camera that is not there (no machine running the tests has 60 cameras).
    window.open_source(59)
    wait_until(lambda: len(window.errors) == 4, "an error for the missing camera")
    assert window.errors[-1][0] == "Camera not available" and "camera 59" in window.errors[-1][1]
    _dismiss(window)


def test_no_faces_dialog_once_per_source(window, tmp_path) -> None:
    """A face-less video (three-frame folder of a flat grey image) ends with one 'No faces' message."""
    import cv2
    import numpy as np

    folder = tmp_path / "blank"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((240, 320, 3), 128, np.uint8))
    window.open_source(str(folder))
    wait_until(lambda: window.dialogs, "the no-faces dialog")
    assert window.dialogs[0].windowTitle() == "No faces" and "3 frames" in window.dialogs[0].text()
    assert not window.errors  # information, not an error
    wait_until(lambda: not window.model.playing, "the end of the folder")
    assert len(window.dialogs) == 1
    _dismiss(window)


def test_closing_mid_play_leaves_no_running_thread(qapp, weights_dir, obama, media_dir, tmp_path) -> None:
    window = make_window(tmp_path)
    # A live source (it has a reader thread of its own): the long clip at camera pace.
    window.open_source(lambda: CameraSource(StampedCapture(media_dir / "obama_pingpong.mp4", fps=25)))
    wait_until(lambda: window.model.frames_shown >= 2 and window.model.playing, "live frames")
    thread = window.controller.capture_thread
    assert thread.isRunning()
    window.close()
    assert thread.isFinished() and not thread.isRunning()  # close() waited for it
    assert not [t for t in threading.enumerate() if t.name.startswith("CameraSource")]
    sip.delete(window)

    window = make_window(tmp_path)
    window.open_source(str(obama))
    wait_until(lambda: window.model.frames_shown >= 2 and window.model.playing, "file frames")
    thread = window.controller.capture_thread
    window.close()
    assert thread.isFinished() and not thread.isRunning()
    sip.delete(window)


def test_switching_source_mid_play(window, obama, media_dir) -> None:
    window.open_source(str(obama))
    wait_until(lambda: window.model.frames_shown >= 2, "frames of obama.mp4")
    pingpong = media_dir / "obama_pingpong.mp4"
    window.open_source(str(pingpong))
    wait_until(lambda: window.model.source is not None and window.model.source.path == pingpong
               and window.model.frames_shown >= 3, "frames of the second video")
    assert window.model.frame.result.index < 10  # started from the beginning, fresh history
    assert not window.errors
    recent = window.store.recent_files()
    assert recent[:2] == [str(pingpong.resolve()), str(obama.resolve())]
    # The source picker lists them; choosing one opens it.
    box = window.source_box
    entries = [box.itemData(i) for i in range(box.count())]
    assert box.itemText(0) == pingpong.name and ("browse", None) in entries
    window.source_box.activated.emit(entries.index(("file", str(obama.resolve()))))
    # Between the two sources the model has none for a moment: wait through that, as above.
    wait_until(lambda: window.model.source is not None and window.model.source.path == obama.resolve()
               and window.model.frames_shown >= 2, "the recent file chosen in the picker")
    assert [a.text() for a in window.commands.menus[Slot.RECENT_MENU].actions()][:2] == [
        "&1 obama.mp4", "&2 obama_pingpong.mp4"]


def test_missing_models_are_reported_and_the_window_stays_usable(qapp, obama, tmp_path) -> None:
    import dataclasses

    from engine.config import EngineConfig

    config = dataclasses.replace(EngineConfig.load(), weights_dir=tmp_path / "no-weights")
    window = make_window(tmp_path, engine_config=config)
    try:
        wait_until(lambda: window.errors, "the models error")
        title, message = window.errors[0]
        assert title == "Face tracker not available" and "tracker-app setup" in message
        assert window.dialogs and window.dialogs[0].isVisible()
        _dismiss(window)
        window.open_source(str(obama))  # tries the models again, says so again, nothing breaks
        wait_until(lambda: len(window.errors) == 2, "the second models error")
        assert window.model.source is None
        window.model.set_view_3d(True)  # the rest of the window works without a source
        grab = qimage_rgb(window.view.grab_frame())
        assert grab.shape[0] > 100 and grab.shape[1] > 100
        # An empty 3D view: the background colour everywhere, no stale frame or mesh.
        background = np.round(np.array(BACKGROUND_3D) * 255)
        assert np.abs(grab.astype(int) - background).max() <= 1
        assert window.model.frame is None and not window.model.state.engine_ready
    finally:
        close_window(window)
