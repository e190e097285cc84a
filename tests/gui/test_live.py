"""Live features of the window: VMC streaming on and off, mirror (pixels), Set neutral (values), memory."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtTest import QTest

from engine.video_source import CameraSource
from tests.support.gui import StampedCapture, close_window, make_window, qimage_rgb, wait_until

from tests.support.vmc_receiver import VmcReceiver
from tracker_app.actions import Act
from tracker_app.capture_worker import CaptureWorker

pytestmark = pytest.mark.gui

NO_OVERLAY = dict(show_mesh=False, show_landmarks=False, show_axes=False, show_eyes=False)


def _paused_on_a_face(window, obama, frames: int = 8) -> None:
    window.open_source(str(obama))
    wait_until(lambda: window.model.frames_shown >= frames, "frames of obama.mp4")
    window.controller.submit(CaptureWorker.pause)
    wait_until(lambda: not window.model.playing, "pause")
    wait_until(lambda: window.model.live is not None, "the followed face")


def test_streaming_on_sends_bundles_and_off_stops(qapp, weights_dir, obama, tmp_path) -> None:
    receiver = VmcReceiver()
    window = make_window(tmp_path)
    try:
        panel = window.live_panel
        panel.host.setText("127.0.0.1")
        panel.host.editingFinished.emit()
        panel.port.setValue(receiver.port)
        assert window.settings.live.stream_port == receiver.port
        window.open_source(str(obama))
        wait_until(lambda: window.model.frames_shown >= 2, "playback")
        panel.stream.setChecked(True)  # the user ticks "Stream over VMC"
        wait_until(lambda: window.model.state.streaming is not None, "streaming to start")
        assert window.commands[Act.STREAM].isChecked() and str(receiver.port) in panel.stream_status.text()
        wait_until(lambda: len(receiver.bundles) >= 10, "VMC bundles")
        bundle = receiver.bundles[-1]
        assert bundle.addresses()[0] == "/VMC/Ext/Bone/Pos" and bundle.addresses()[-3:] == [
            "/VMC/Ext/Blend/Apply", "/VMC/Ext/OK", "/VMC/Ext/T"]
        assert abs(np.linalg.norm(bundle.head()[1]) - 1) < 1e-5
        assert panel.bars.values and set(panel.bars.values) == set(bundle.weights())  # the bars show them
        window.commands[Act.STREAM].trigger()  # off again (Live menu)
        wait_until(lambda: window.model.state.streaming is None, "streaming to stop")
        assert not panel.stream.isChecked()
        # Stopping closed the sender (what it had queued sent) before the window heard of it:
        # read what was delivered, rather than sleep and hope the listener kept up.
        receiver.settle()
        count = len(receiver.bundles)
        wait_until(lambda: window.model.frames_shown >= 30 or not window.model.playing, "more playback")
        receiver.settle()
        assert len(receiver.bundles) == count  # nothing sent after stopping
        assert not window.errors
    finally:
        close_window(window)
        receiver.close()


def test_mirror_flips_the_picture_and_is_per_source_kind(qapp, weights_dir, obama, tmp_path) -> None:
    window = make_window(tmp_path)
    try:
        _paused_on_a_face(window, obama)
        assert not window.commands[Act.MIRROR].isChecked() and not window.view.mirror  # files: off by default
        window.model.update_overlay(**NO_OVERLAY)
        plain = qimage_rgb(window.view.grab_frame()).astype(int)
        window.commands[Act.MIRROR].trigger()
        mirrored = qimage_rgb(window.view.grab_frame()).astype(int)
        assert window.view.mirror and window.live_panel.mirror.isChecked()
        assert np.abs(mirrored - plain[:, ::-1]).mean() < 2  # the same picture, left-right flipped
        assert np.abs(mirrored - plain).mean() > 10  # and really different from the unmirrored one
        # Overlays follow: the landmarks drawn mirrored land on the mirrored face.
        window.model.update_overlay(show_landmarks=True)
        dots = qimage_rgb(window.view.grab_frame()).astype(int)
        changed = np.abs(dots - mirrored).sum(axis=2) > 60
        h, w = window.model.frame.image.shape[:2]
        scale = dots.shape[1] / w
        lm = window.model.frame.primary_face().landmarks[:, :2]
        xs = (w - 1 - lm[:, 0]) * scale
        ys, cols = np.nonzero(changed)
        assert xs.min() - 10 < cols.mean() < xs.max() + 10
        assert window.settings.live.file_mirror and window.settings.live.camera_mirror
        # A camera (a clip behind the camera interface) opens mirrored by default.
        window.live.set_mirror(False)
        feed = StampedCapture(obama.parent / "obama_pingpong.mp4", fps=25)  # 17 s of "camera"
        window.open_source(lambda: CameraSource(feed))
        wait_until(lambda: window.model.source is not None and window.model.source.is_live, "the camera")
        assert window.view.mirror and window.commands[Act.MIRROR].isChecked()
    finally:
        close_window(window)
    again = make_window(tmp_path)  # remembered
    try:
        assert not again.settings.live.file_mirror and again.settings.live.camera_mirror
    finally:
        close_window(again)


def test_set_neutral_recentres_the_readout_and_is_remembered(qapp, weights_dir, obama, tmp_path) -> None:
    window = make_window(tmp_path)
    try:
        _paused_on_a_face(window, obama, frames=14)
        before = window.model.live
        assert abs(before.motion.yaw) > 10  # obama looks aside here: recentring is visible
        wait_until(lambda: f"{window.model.live.motion.yaw:+6.1f}" in window.view.readout.text(), "the readout")
        assert "latency" in window.view.readout.text() and window.view.readout.isVisible()
        window.activateWindow()
        assert QTest.qWaitForWindowActive(window), "the window must be active for its shortcuts"
        window.view.setFocus()
        QTest.keyClick(window.view, Qt.Key.Key_N)  # the shortcut
        wait_until(lambda: window.settings.live.calibration != "", "the neutral face")
        wait_until(lambda: window.model.live is not before, "the recentred readout")
        motion = window.model.live.motion
        assert max(abs(motion.yaw), abs(motion.pitch), abs(motion.roll)) < 0.5
        assert "yaw   +0.0°" in window.view.readout.text() or "yaw   -0.0°" in window.view.readout.text()
        assert max(window.model.live.weights.values()) < 1e-6  # the expression is the neutral one too
        window.controller.submit(CaptureWorker.play)
        wait_until(lambda: window.model.frames_shown >= 30, "playback after Set neutral")
        assert abs(window.model.live.motion.yaw - (window.model.frame.primary_face().pose.yaw
                                                  - before.motion.yaw)) < 5
        stored = window.settings.live.calibration
    finally:
        close_window(window)
    again = make_window(tmp_path)
    try:
        assert again.settings.live.calibration == stored
    finally:
        close_window(again)


def test_camera_picker_lists_modes_and_asks_for_the_chosen_one(qtbot) -> None:
    from engine.config import EngineConfig
    from engine.expressions import BLENDSHAPE_NAMES
    from tracker_app.cameras import CameraMode
    from tracker_app.live_panel import LivePanel
    from tracker_app.settings import AppSettings, GuiConfig

    modes = [CameraMode(1280, 720, 30.0), CameraMode(640, 480, 60.0)]  # what a camera would report
    live = dataclasses.replace(AppSettings.defaults(EngineConfig.load(), GuiConfig.load()).live,
                               camera_width=640, camera_height=480, camera_fps=60.0)
    panel = LivePanel(live, [(2, "USB camera")], lambda index: modes if index == 2 else [], BLENDSHAPE_NAMES)
    qtbot.addWidget(panel)
    assert [panel.mode_box.itemText(i) for i in range(panel.mode_box.count())] == [
        "Camera default", "1280×720 @ 30 fps", "640×480 @ 60 fps"]
    assert panel.mode_box.currentData() == modes[1]  # the remembered mode is preselected
    with qtbot.waitSignal(panel.camera_requested) as asked:
        panel.open_camera.click()
    assert asked.args == [2, modes[1]]
    empty = LivePanel(live, [], lambda index: [], BLENDSHAPE_NAMES)
    qtbot.addWidget(empty)
    assert not empty.open_camera.isEnabled() and empty.camera_box.currentText() == "No camera found"
    panel.bars.set_weights({"jawOpen": 0.5})
    assert panel.bars.values == {"jawOpen": 0.5}


def test_files_look_ahead_and_seeks_near_the_end_still_land(qapp, weights_dir, obama, tmp_path) -> None:
    """Files default to the look-ahead smoother (3 frames of delay): a seek to the last but one
    frame shows that frame, and Step then shows the last (held back by the final flush)."""
    window = make_window(tmp_path)
    try:
        assert window.settings.smoother_for(False) == "lookahead"
        _paused_on_a_face(window, obama, frames=3)
        window.controller.submit(CaptureWorker.seek, 53)
        wait_until(lambda: window.model.frame.result.index == 53, "the seek")
        time.sleep(0.3)
        QTest.qWait(50)
        assert window.model.frame.result.index == 53  # not overtaken by frame 54
        window.controller.submit(CaptureWorker.step)
        wait_until(lambda: window.model.frame.result.index == 54, "the step to the last frame")
        assert not window.errors
    finally:
        close_window(window)
