"""From the capture worker's signals to the ViewerModel (GUI thread).

Owns what each report of the worker means for the app: a frame is shown and its
credit handed back at the window's paint pace, a source opened or closed resets the
model and the recent files, the end of a file is said in the status bar, recording,
streaming, the followed face and the neutral face update the model and the settings,
failures become dialogs. The worker's signals arrive as queued calls, in order, to
this QObject's slots: a child of the window, so none arrives once the window is gone.
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSlot
from PyQt6.QtWidgets import QMessageBox, QWidget

from engine.expressions import Calibration
from engine.playback import plural
from tracker_app.capture_worker import CaptureWorker, Failure, Followed, Recording, Streaming
from tracker_app.display_frame import DisplayFrame
from tracker_app.display_pacing import FramePacer
from tracker_app.settings import AppSettings, LiveOptions, SettingsStore
from tracker_app.status_bar import StatusBar
from tracker_app.viewer_model import SourceInfo, ViewerModel

NOTICE_MS = 10_000  # status bar: a remark of the worker, the end of a file


class WorkerLink(QObject):
    """Connects ``worker``'s signals to ``model`` and the window's parts (``window`` is the parent)."""

    def __init__(self, window: QWidget, worker: CaptureWorker, model: ViewerModel, status: StatusBar,
                 pacer: FramePacer, store: SettingsStore, recent_limit: int, settings: Callable[[], AppSettings],
                 set_live_options: Callable[[LiveOptions], None],
                 show_message: Callable[[QMessageBox.Icon, str, str], object],
                 show_error: Callable[[str, str], None]) -> None:
        super().__init__(window)
        self.model, self.status, self.pacer, self.store = model, status, pacer, store
        self.recent_limit = recent_limit
        self.settings = settings
        self.set_live_options = set_live_options
        self.show_message = show_message
        self.show_error = show_error
        worker.engine_ready.connect(self._on_engine_ready)
        worker.frame_ready.connect(self._on_frame)
        worker.source_opened.connect(self._on_source_opened)
        worker.source_closed.connect(self._on_source_closed)
        worker.end_of_stream.connect(self._on_end_of_stream)
        worker.frame_count_known.connect(self._on_frame_count)
        worker.playing_changed.connect(self._on_playing)
        worker.failed.connect(self._on_failed)
        worker.notice.connect(self._on_notice)
        worker.no_faces.connect(self._on_no_faces)
        worker.recording_changed.connect(self._on_recording)
        worker.live_frame.connect(self._on_live)
        worker.calibration_changed.connect(self._on_calibration)
        worker.streaming_changed.connect(self._on_streaming)

    @pyqtSlot()
    def _on_source_closed(self) -> None:
        self.model.set_source(None)

    @pyqtSlot(int)
    def _on_frame_count(self, frames: int) -> None:
        self.model.update_frame_count(frames, exact=True)

    @pyqtSlot(bool)
    def _on_playing(self, playing: bool) -> None:
        self.model.set_playing(playing)

    @pyqtSlot(str)
    def _on_notice(self, text: str) -> None:
        self.status.showMessage(text, NOTICE_MS)

    @pyqtSlot(str)
    def _on_no_faces(self, text: str) -> None:
        self.show_message(QMessageBox.Icon.Information, "No faces", text)

    @pyqtSlot()
    def _on_engine_ready(self) -> None:
        self.model.update_state(engine_ready=True)
        if self.model.source is None:
            self.status.showMessage("Ready: choose a camera or open a video", NOTICE_MS)

    @pyqtSlot(DisplayFrame)
    def _on_frame(self, frame: DisplayFrame) -> None:
        self.pacer.shown()
        self.model.set_frame(frame, time.monotonic())

    @pyqtSlot(Failure)
    def _on_failed(self, failure: Failure) -> None:
        self.show_error(failure.title, failure.message)

    @pyqtSlot(Followed)
    def _on_live(self, followed: Followed) -> None:
        self.model.set_live(followed.live)

    @pyqtSlot(Streaming)
    def _on_streaming(self, streaming: Streaming) -> None:
        self.model.update_state(streaming=streaming.target)

    @pyqtSlot(SourceInfo)
    def _on_source_opened(self, info: SourceInfo) -> None:
        self.model.update_state(mirror=self.settings().live.mirror_for(info.is_live))
        if info.path is not None and info.path.is_file():
            self.store.add_recent(str(info.path.resolve()), self.recent_limit)
        self.model.set_source(info)
        self.status.showMessage(f"Playing {info.description}", 5000)

    @pyqtSlot(int)
    def _on_end_of_stream(self, frames: int) -> None:
        source = self.model.source
        if source is None or source.is_live:
            return
        self.model.update_frame_count(frames, exact=True)
        if self.model.state.loop and self.model.playing:
            self.status.showMessage(f"Looping ({plural(frames, 'frame')})", 3000)
        elif frames == 1:
            self.status.showMessage(f"Showing {Path(source.spec).name} (a single image)", NOTICE_MS)
        else:
            self.status.showMessage(f"End of video ({plural(frames, 'frame')}): Play starts it again", NOTICE_MS)

    @pyqtSlot(Recording)
    def _on_recording(self, recording: Recording) -> None:
        was = self.model.recording
        self.model.update_state(recording=recording.folder)
        if recording.folder is None and was is not None:
            self.status.showMessage("Recording finished", 8000)

    @pyqtSlot(Calibration)
    def _on_calibration(self, calibration: Calibration) -> None:
        live = self.settings().live
        self.set_live_options(dataclasses.replace(live, calibration=json.dumps(calibration.to_dict())))
        self.status.showMessage("Neutral face set: pose and expressions are measured from it", 8000)
