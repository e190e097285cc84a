"""The status bar: frame rate, milliseconds per stage, faces, blinks, recording, and the window's messages.

Owns the per-frame status text and its pace: while a source plays the text changes at
most ``refresh_hz`` times a second (25 changes a second are noise, and each one costs a
window update); a step, a seek or a pause shows the frame at once. Other per-frame
readouts (the frame counter, the live readout) subscribe to ``refreshed`` to follow
the same pace. Reads everything from the ``ViewerModel``.
"""
from __future__ import annotations

import time

from PyQt6.QtWidgets import QLabel, QStatusBar, QWidget

from engine.pipeline import STAGES
from engine.playback import plural
from tracker_app.display_frame import DisplayFrame
from tracker_app.display_pacing import SteadyLabel, Throttle
from tracker_app.viewer_model import Event, ViewerModel, blinks_text, engine_ms, face_label

MESSAGE_MS = 5000  # how long a passing remark stays


class StatusBar(QStatusBar):
    """Observes the model; ``refreshed`` fires with the frame whose status was just shown."""

    def __init__(self, model: ViewerModel, refresh_hz: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.fps_label = SteadyLabel("")
        self.timing_label = SteadyLabel("")
        self.faces_label = SteadyLabel("")
        self.blinks_label = SteadyLabel("")
        self.blinks_label.setToolTip("Blinks of the followed face in the frames shown since the source opened "
                                     "(a seek back starts again), as run.json counts them")
        self.recording_label = QLabel("")
        self.recording_label.setStyleSheet("color: #e04040; font-weight: bold")
        for label in (self.recording_label, self.faces_label, self.blinks_label, self.timing_label, self.fps_label):
            self.addPermanentWidget(label)
        self.refreshed: Event[DisplayFrame] = Event()
        self._stale = False
        self._throttle = Throttle(self, refresh_hz, self._refresh)
        model.frame_changed.connect(self._on_frame)
        model.playing_changed.connect(lambda _playing: self.show_frame_now())
        model.source_changed.connect(self._on_source)
        model.recording_changed.connect(
            lambda folder: self.recording_label.setText("" if folder is None else f"● REC {folder.name}"))
        model.focus_changed.connect(lambda track: self.showMessage(
            "3D View: all faces framed" if track is None else f"3D View: centred on {face_label(track).lower()}",
            MESSAGE_MS))
        self.showMessage("Loading the face tracker…")

    def _on_frame(self, frame: DisplayFrame | None) -> None:
        if frame is None:
            return
        if self.model.playing:
            self._stale = True
            self._throttle.request()
        else:
            self.show_frame_now()  # a step or a seek: show it at once

    def _refresh(self) -> None:
        if self._stale:
            self.show_frame_now()

    def show_frame_now(self) -> None:
        """The status of the frame shown, now (a pause must not leave an older frame's text)."""
        self._stale = False
        frame = self.model.frame
        if frame is None:
            return
        t = frame.result.timings_ms
        # Decoding belongs to the source; the sum is the engine's time for this frame.
        stages = "  ".join(f"{name} {t.get(name, 0.0):.1f}" for name in STAGES if name != "decode")
        self.timing_label.setText(f"decode {t.get('decode', 0.0):.1f} |  {stages}  = {engine_ms(t):.1f} ms")
        self.fps_label.setText(self._rate_text(frame))
        n = frame.n_faces
        self.faces_label.setText("no face" if n == 0 else plural(n, "face"))
        self.blinks_label.setText(blinks_text(self.model))
        self.refreshed.emit(frame)

    def _rate_text(self, frame: DisplayFrame) -> str:
        model, source = self.model, self.model.source
        rate = model.display_rate.rate()
        # Paused (or after a step) there is no rate to show; "0.0 fps" or the old figure would mislead.
        text = f"{rate:.1f} fps" if model.playing and rate > 0 else "paused" if not model.playing else ""
        if model.state.speed != 1.0 and model.is_file:
            text += f" ({model.state.speed:g}×)"
        if source is not None and source.is_live:
            text += f"  latency {1000 * (time.monotonic() - frame.pulled_at):.0f} ms  dropped {frame.frames_dropped}"
        return text

    def _on_source(self, source: object) -> None:
        if source is None:
            for label in (self.fps_label, self.timing_label, self.faces_label, self.blinks_label):
                label.setText("")
