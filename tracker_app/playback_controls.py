"""The Playback commands: play and pause, steps, seeks, go to frame, loop and speed.

Owns what the Playback menu, the toolbar and the seek bar ask of the capture worker, and
which requests apply to files only (a camera cannot seek). Loop and speed are set in the
model at once (the menus show them) and then sent to the worker.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from tracker_app.capture_worker import CaptureWorker

if TYPE_CHECKING:
    from tracker_app.main_window import MainWindow


class PlaybackControls:
    def __init__(self, window: MainWindow) -> None:
        self.window = window

    def toggle_play(self) -> None:
        window = self.window
        window.controller.submit(CaptureWorker.pause if window.model.playing else CaptureWorker.play)

    def step(self) -> None:
        """Pause and show the next frame."""
        self.window.controller.submit(CaptureWorker.step)

    def seek(self, index: int) -> None:
        """Show frame ``index`` (tracking restarts there); the seek bar's drags and clicks."""
        self.window.controller.submit(CaptureWorker.seek, index)

    def go_to_frame(self, index: int) -> None:
        """Files: pause and show frame ``index`` (0-based; clamped to the last frame)."""
        if self.window.model.is_file:
            self.window.controller.submit(CaptureWorker.pause)
            self.seek(max(0, int(index)))

    def step_back(self) -> None:
        """Files: pause and show the frame before the one shown (a seek: tracking restarts there)."""
        model = self.window.model
        frame = model.frame
        if frame is not None and model.is_file and frame.result.index > 0:
            self.go_to_frame(frame.result.index - 1)

    def set_loop(self, on: bool) -> None:
        """Files: start again at the end (a recording still ends there)."""
        self.window.model.update_state(loop=bool(on))
        self.window.controller.submit(CaptureWorker.set_loop, bool(on))

    def set_speed(self, speed: float) -> None:
        """Files: playback rate, one of actions.SPEEDS (every frame is still tracked)."""
        self.window.model.update_state(speed=float(speed))
        self.window.controller.submit(CaptureWorker.set_speed, float(speed))
        self.window.status.showMessage(f"Playback speed {speed:g}×", 4000)
