"""Moving around a file: click-to-jump on the seek bar, drag preview, go to frame, plots that keep
their history across a seek back, loop and speed, and the status wording around them."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtGui import QKeySequence
from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QApplication, QInputDialog

from tests.support.gui import wait_until
from engine.playback import plural
from tracker_app.actions import Act
from tracker_app.capture_worker import CaptureWorker

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def obama_frames(obama) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(obama))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    assert len(frames) == 55
    return frames


def _open_paused(window, path) -> None:
    """Open a file, wait for its true length, pause."""
    window.open_source(str(path))
    wait_until(lambda: window.model.frames_shown >= 2, f"frames of {path.name}")
    wait_until(lambda: window.model.source.frame_count_exact, "the frame count")
    window.controller.submit(CaptureWorker.pause)
    wait_until(lambda: not window.model.playing, "pause")


def _shows(window, index: int) -> bool:
    frame = window.model.frame
    return frame is not None and frame.result.index == index


def test_click_on_the_track_jumps_to_that_frame(window, obama, obama_frames) -> None:
    _open_paused(window, obama)
    window.go_to_frame(0)
    wait_until(lambda: _shows(window, 0), "frame 0")
    bar = window.seek.bar
    assert bar.maximum() == 54
    before = window.model.frame.result.index
    x = round(bar.width() * 0.75)
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x, bar.height() // 2))
    target = bar.value()
    assert abs(target - 0.75 * 54) <= 3, "a click at 3/4 of the track lands near frame 40, not one page step"
    assert abs(target - before) > bar.pageStep()
    wait_until(lambda: _shows(window, target), f"frame {target}")
    assert np.array_equal(window.model.frame.image, obama_frames[target])  # that very frame
    assert window.seek.label.text() == f"{target} / 55"
    assert window.status.fps_label.text() == "paused"  # not a stale rate, not "0.0 fps"
    assert not window.errors


def test_drag_shows_the_counter_live_and_lands_exactly(window, obama, obama_frames) -> None:
    _open_paused(window, obama)
    window.go_to_frame(0)
    wait_until(lambda: _shows(window, 0), "frame 0")
    bar = window.seek.bar
    y = bar.height() // 2
    handle_x = next(x for x in range(bar.width()) if bar.value_at(x) == 0)
    QTest.mousePress(bar, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(handle_x, y))
    assert bar.isSliderDown() and bar.value() == 0  # pressed on the handle: a drag, no jump
    target_x = next(x for x in range(bar.width()) if bar.value_at(x) >= 30)
    seen = []
    for x in np.linspace(handle_x, target_x, 12).round().astype(int):
        QTest.mouseMove(bar, QPoint(int(x), y))
        QApplication.processEvents()
        seen.append(window.seek.label.text())
        QTest.qWait(40)
    dragged_to = bar.value()
    assert dragged_to >= 30
    assert seen[-1] == f"{dragged_to} / 55"  # the counter follows the handle before the release
    assert len(set(seen)) > 3
    wait_until(lambda: window.model.frame.result.index > 0, "a preview frame while dragging")
    QTest.mouseRelease(bar, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(target_x, y))
    wait_until(lambda: _shows(window, dragged_to), f"frame {dragged_to} after the release")
    QTest.qWait(300)  # previews still queued must not move it afterwards
    assert _shows(window, dragged_to) and bar.value() == dragged_to
    assert np.array_equal(window.model.frame.image, obama_frames[dragged_to])


def test_go_to_frame_field(window, obama, obama_frames) -> None:
    _open_paused(window, obama)
    assert window.commands[Act.GOTO].shortcut() == QKeySequence("Ctrl+G")
    window.commands[Act.GOTO].trigger()  # as Ctrl+G does (Xvfb has no window manager to make the window active)
    wait_until(lambda: any(isinstance(w, QInputDialog) and w.isVisible() for w in QApplication.topLevelWidgets()),
               "the go-to-frame dialog")
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QInputDialog) and w.isVisible())
    assert dialog.intMaximum() == 54 and "0–54" in dialog.labelText()
    dialog.setIntValue(33)
    dialog.accept()
    wait_until(lambda: _shows(window, 33), "frame 33")
    assert not window.model.playing
    assert np.array_equal(window.model.frame.image, obama_frames[33])
    assert window.seek.bar.value() == 33 and window.seek.label.text() == "33 / 55"
    window.go_to_frame(500)  # past the end: the last frame
    wait_until(lambda: _shows(window, 54), "the last frame")


def test_plots_keep_their_history_across_a_seek_back(window, obama) -> None:
    window.open_source(str(obama))
    wait_until(lambda: window.model.frame is not None and window.model.frame.result.index >= 40, "frame 40")
    window.go_to_frame(20)
    wait_until(lambda: _shows(window, 20), "frame 20")
    history = window.model.history
    assert all(history.row(i) is not None for i in range(41)), "frames computed before the seek are kept"
    plots = window.plots
    plots._stale = True
    wait_until(lambda: plots.readout.text().startswith("frame 20:"), "a redraw at frame 20")
    t = history.arrays()["t"]
    yaw = plots.plotted("yaw")
    after = (t > 0) & (t <= 20 / 25)  # the 20 frames after the cursor, computed before the seek
    assert after.sum() >= 19 and np.isfinite(yaw[after]).all()
    assert np.isfinite(yaw[t <= 0]).all()
    assert yaw[t == 0][0] == pytest.approx(window.model.frame.primary_face().pose.yaw)
    assert all(c.value() == 0 for c in plots.cursors)  # the cursor is the current frame
    assert plots.budget.label.format.startswith("frame budget 40 ms")
    window.step_back()  # one step back empties nothing
    wait_until(lambda: _shows(window, 19), "frame 19")
    assert history.row(40) is not None


def test_loop_and_speed(window, obama) -> None:
    window.set_speed(2.0)
    window.set_loop(True)
    assert window.commands[Act.LOOP].isChecked() and window.commands.speed[2.0].isChecked()
    window.open_source(str(obama))
    wait_until(lambda: window.model.frame is not None and window.model.frame.result.index >= 50, "the end")
    wait_until(lambda: window.model.frame.result.index < 10 and window.model.playing, "playing again from 0")
    assert "(2×)" in window.status.fps_label.text() or window.status.fps_label.text() == ""
    window.set_loop(False)
    # The end of the source comes after the pause (two queued signals): wait for both.
    wait_until(lambda: not window.model.playing and "End of video" in window.statusBar().currentMessage(),
               "the end without looping")
    assert window.model.frame.result.index == 54
    assert "End of video (55 frames)" in window.statusBar().currentMessage()


def test_menu_hover_keeps_the_status_message(window) -> None:
    # The models load in the capture thread and say so in the status bar when ready: wait for
    # that first (on a loaded machine it came during the hover), only the hover is under test.
    wait_until(lambda: window.model.state.engine_ready, "the models")
    QApplication.processEvents()
    window.statusBar().showMessage("Saved /tmp/x.png", 10_000)
    menu = window.menuBar().actions()[0].menu()
    menu.popup(window.mapToGlobal(QPoint(10, 10)))
    wait_until(menu.isVisible, "the File menu")
    for action in menu.actions():
        if not action.isSeparator():
            menu.setActiveAction(action)
            QApplication.processEvents()
    menu.close()
    assert window.statusBar().currentMessage() == "Saved /tmp/x.png"


def test_plurals() -> None:
    assert plural(1, "frame") == "1 frame" and plural(2, "frame") == "2 frames" and plural(0, "face") == "0 faces"


def test_no_face_message_at_the_end_does_not_promise_more_tracking(window, tmp_path) -> None:
    import dataclasses

    # 52 blank frames; the look-ahead smoother releases the last 3 only when the file has ended,
    # which is when the 50-frame "no face" run completes.
    clip = tmp_path / "blank.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    for _ in range(52):
        writer.write(np.full((120, 160, 3), 90, np.uint8))
    writer.release()
    window.apply_settings(dataclasses.replace(window.settings, smoother="lookahead"))
    window.open_source(str(clip))
    wait_until(lambda: window.model.source is not None and not window.model.playing
               and window.model.frame is not None and window.model.frame.result.index == 51, "the end")
    wait_until(lambda: any(box.windowTitle() == "No faces" for box in window.dialogs), "the no-face dialog")
    texts = [box.text() for box in window.dialogs if box.windowTitle() == "No faces"]
    assert texts == [f"No face found in the last 50 frames of {clip}."], texts
