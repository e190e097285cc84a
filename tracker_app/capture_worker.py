"""The capture thread: reads frames, runs the tracking pipeline, sends DisplayFrames to the GUI.

``CaptureWorker`` lives in its own QThread and owns everything slow: the ONNX sessions
(``FaceAnalyzer``, one per thread), the live side (``live_stream.LiveStream``: the
readout, the neutral face, the VMC stream) and an ``engine.playback.Playback``, the
Qt-free core that holds the video source, the clock and the ``engine.session.Session``
that tracks it (and, while recording, writes the same files as ``tracker-app track``).
The GUI talks to it only through ``CaptureController.submit(CaptureWorker.method, *args)``,
one queued call into the worker thread for every request (napari's thread worker); the
worker answers with signals, each carrying one typed value (a dataclass for anything
with more than one part or a None). Neither side ever waits for the other, except
``CaptureController.stop`` when the window closes.

Its parts: ``capture_engine.CaptureEngine`` (the models and the Playback, made from the
settings), ``frame_loop.FrameLoop`` (one frame per timer tick, paced, held back by the
GUI's ``FrameCredits``), ``source_opening`` (what a spec opens, what the GUI is told, the
true length counted in the background) and ``capture_messages`` (the signals' values).
Cameras are read through the latest-frame ``CameraSource``, so whatever the worker does
not take in time is dropped at the source and the latency stays at about one processing time.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec

from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

from engine.config import EngineConfig
from engine.expressions import Calibration
from engine.playback import Playback, ShownFrame
from engine.session import ExportOptions
from engine.vmc import VmcTarget
from tracker_app.capture_engine import CaptureEngine
from tracker_app.capture_messages import Failure, Followed, Recording, Streaming
from tracker_app.display_frame import DisplayFrame
from tracker_app.engine_loader import EngineLoader
from tracker_app.frame_loop import FrameCredits, FrameLoop
from tracker_app.live_stream import LiveStream, stored_calibration
from tracker_app.settings import AppSettings, GuiConfig
from tracker_app.source_opening import FrameCountRelay, SourceSpec, is_camera, opener, source_info
from tracker_app.viewer_model import SourceInfo

# Importers of this module (worker_link, main_window, tests) take these from here.
__all__ = ["CaptureController", "CaptureWorker", "Failure", "Followed", "FrameCredits", "Recording",
           "SourceSpec", "Streaming"]

_P = ParamSpec("_P")
STOP_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class _Call:
    """A request queued into the worker thread: ``method(worker, *args, **kwargs)``."""

    method: Callable[..., None]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class CaptureWorker(QObject):
    """Runs in the capture thread. Use it through ``CaptureController.submit``."""

    engine_ready = pyqtSignal()
    frame_ready = pyqtSignal(DisplayFrame)
    source_opened = pyqtSignal(SourceInfo)
    source_closed = pyqtSignal()
    end_of_stream = pyqtSignal(int)  # frames read (a file's true length)
    frame_count_known = pyqtSignal(int)  # a file's true length, found before its end was reached
    playing_changed = pyqtSignal(bool)
    failed = pyqtSignal(Failure)  # the GUI shows a dialog
    notice = pyqtSignal(str)  # remark for the status bar
    no_faces = pyqtSignal(str)  # message, at most once per source
    recording_changed = pyqtSignal(Recording)
    live_frame = pyqtSignal(Followed)
    calibration_changed = pyqtSignal(Calibration)  # after Set neutral
    streaming_changed = pyqtSignal(Streaming)

    def __init__(self, engine_config: EngineConfig, settings: AppSettings, gui: GuiConfig,
                 credits: FrameCredits, engine_loader: EngineLoader | None = None) -> None:
        super().__init__()
        self._credits = credits
        self.stop_requested = threading.Event()  # set from the GUI thread, read between frames
        self._engine = CaptureEngine(engine_config, settings, gui, engine_loader, _SignalListener(self),
                                     should_stop=self.stop_requested.is_set)  # models, Playback, options
        self._loop = FrameLoop(lambda: self._engine.playback, credits, self.stop_requested)
        self._counter = FrameCountRelay(lambda: self._engine.source, self.frame_count_known.emit, parent=self)
        self._live = LiveStream(stored_calibration(settings.live.calibration))  # readout, neutral, VMC

    @pyqtSlot(_Call)
    def run_call(self, call: _Call) -> None:
        """A request from the GUI thread, run here between two frames."""
        call.method(self, *call.args, **call.kwargs)

    # -- life cycle (worker thread) --------------------------------------------------

    @pyqtSlot()
    def start(self) -> None:
        """Thread started: create the timer and load the models here, never in the GUI thread."""
        self._loop.start(self)
        self._load_engine()

    def _load_engine(self) -> bool:
        problem = self._engine.load()
        if problem is not None:
            self.failed.emit(Failure("Face tracker not available", problem))
            return False
        self._live.expressions = self._engine.expression_model()
        self.engine_ready.emit()
        return True

    @pyqtSlot()
    def shutdown(self) -> None:
        """Release everything, then end this thread's event loop."""
        self._loop.stop()
        if self.playback is not None:
            self.playback.stop_recording(notify=False)
        self._live.stop()  # streaming ends quietly: the window is closing
        self._close_source(emit=False)
        self._engine.close()
        thread = self.thread()
        if thread is not None:
            thread.quit()

    @property
    def playback(self) -> Playback | None:
        """The playback core (None until the models are loaded); belongs to the worker thread."""
        return self._engine.playback

    # -- requests from the GUI (worker thread, through CaptureController.submit) -------

    def open_source(self, spec: SourceSpec) -> None:
        if self.playback is None and not self._load_engine():
            return
        playback = self.playback
        assert playback is not None
        # A file that fails to open leaves the current source playing; a camera may
        # be the one in use, so live sources are released before trying.
        if is_camera(spec) or (playback.source is not None and playback.source.is_live):
            playback.stop_recording()
            self._close_source()

        reopen = opener(spec)
        try:
            source = self._engine.preopened(spec) or reopen()
        except (OSError, ValueError) as e:
            self.failed.emit(Failure("Camera not available" if is_camera(spec) else "Cannot open video", str(e)))
            return
        playback.stop_recording()
        self._close_source()
        info = source_info(spec, source)
        # The GUI knows the source before its first frame or its playing state arrive.
        playback.options = self._engine.playback_options()
        playback.open(source, reopen, start=False)
        self._update_live()
        self.source_opened.emit(info)
        self._counter.count(source)  # a file's true length, cheaply, in the background
        playback.set_playing(True)

    def close_source(self) -> None:
        if self.playback is not None:
            self.playback.stop_recording()
        self._close_source()

    def play(self) -> None:
        if self.playback is not None:
            self.playback.play()

    def pause(self) -> None:
        if self.playback is not None:
            self.playback.pause()

    def step(self) -> None:
        if self.playback is not None:
            self.playback.step()

    def seek(self, index: int) -> None:
        """Files only: continue from frame ``index`` (tracking restarts there; a recording ends)."""
        playback = self.playback
        if playback is None:
            return
        playback.seek(index)
        if playback.playing and not playback.at_end:
            self._loop.schedule(0)

    def set_loop(self, on: bool) -> None:
        if self.playback is not None:
            self.playback.loop = bool(on)

    def set_speed(self, speed: float) -> None:
        """Files: play at ``speed`` times the file's frame rate (every frame is still processed)."""
        if self.playback is not None:
            self.playback.set_speed(speed)

    def apply_settings(self, settings: AppSettings) -> None:
        old, self._engine.settings = self._engine.settings, settings
        self._update_live()
        if old.engine_part() == settings.engine_part():
            return
        # Threads or detector options: reload (about a second, in this thread; the GUI keeps
        # showing the last frame). Tracker and smoother options only need a new pipeline.
        if self._engine.needs_reload(old) and not self._load_engine():
            return
        playback = self.playback
        assert playback is not None
        if playback.source is not None:
            playback.restart_pipeline(self._engine.playback_options())  # a recording had the old options: it ends
            self._update_live()
            self.notice.emit("Settings applied: tracking restarted")
        else:
            playback.options = self._engine.playback_options()

    def start_recording(self, folder: Path, exports: ExportOptions, from_start: bool = False) -> None:
        """Record into ``folder`` from the next frame read (``from_start``: files restart at frame 0)."""
        if self.playback is None:
            self.failed.emit(Failure("Nothing to record", "Open a video or a camera first."))
            return
        self.playback.options = self._engine.playback_options()
        self.playback.start_recording(Path(folder), exports, from_start)

    def stop_recording(self) -> None:
        if self.playback is not None:
            self.playback.stop_recording()

    def start_streaming(self, target: VmcTarget) -> None:
        """Stream the followed face to ``target`` over VMC."""
        self._update_live()
        problem = self._live.start(target)
        if problem is not None:
            self.failed.emit(Failure("Cannot stream", problem))
        self.streaming_changed.emit(Streaming(None if problem is not None else target))

    def stop_streaming(self) -> None:
        if not self._live.streaming:
            return
        error = self._live.stop()
        self.streaming_changed.emit(Streaming(None))
        if error:
            self.notice.emit(error)  # sending had failed meanwhile

    def set_neutral(self) -> None:
        """The followed face of the last frame becomes the neutral pose, expression and eyes."""
        playback = self.playback
        pipeline = playback.pipeline if playback is not None else None
        neutral = self._live.set_neutral(playback.last_result if playback is not None else None,
                                         pipeline.eyes if pipeline is not None else None)
        if neutral is None:
            self.notice.emit("Set neutral: no face in view")
            return
        self.calibration_changed.emit(neutral.calibration)
        self.live_frame.emit(Followed(neutral.live))  # the readout shows the recentred pose at once

    # -- helpers (worker thread) ---------------------------------------------------------

    def _update_live(self) -> None:
        source = self._engine.source
        self._live.configure(self._engine.settings.live, source is not None and source.is_live)

    def _close_source(self, emit: bool = True) -> None:
        self._loop.stop()
        if self.playback is not None:
            self.playback.close(notify=emit)  # the listener's source_closed resets the credits


class _SignalListener:
    """The worker's PlaybackListener: each report becomes the worker's Qt signal."""

    def __init__(self, worker: CaptureWorker) -> None:
        self.worker = worker

    def frame(self, shown: ShownFrame) -> None:
        """A processed frame: to the VMC stream and the GUI (taking a credit)."""
        worker, result = self.worker, shown.result
        worker.live_frame.emit(Followed(worker._live.live_of(result)))
        worker._live.send(result)
        source = worker._engine.source
        frame = DisplayFrame(result, shown.arrays, worker._engine.lods, shown.pulled_at,
                             frames_dropped=source.frames_dropped if source is not None else 0)
        worker._credits.take()
        worker.frame_ready.emit(frame)

    def playing_changed(self, playing: bool) -> None:
        if playing:
            self.worker._loop.schedule(0)
        self.worker.playing_changed.emit(playing)

    def failed(self, title: str, message: str) -> None:
        self.worker.failed.emit(Failure(title, message))

    def notice(self, message: str) -> None:
        self.worker.notice.emit(message)

    def no_faces(self, message: str) -> None:
        self.worker.no_faces.emit(message)

    def end_of_stream(self, frames_read: int) -> None:
        self.worker.end_of_stream.emit(frames_read)

    def frame_count_known(self, frames: int) -> None:
        self.worker.frame_count_known.emit(frames)

    def source_closed(self) -> None:
        self.worker._credits.reset()  # frames of the old source in flight no longer count
        self.worker.source_closed.emit()

    def recording_changed(self, folder: Path | None) -> None:
        self.worker.recording_changed.emit(Recording(folder))


class CaptureController(QObject):
    """GUI-thread handle on the capture thread: ``submit`` queues a call of a worker method."""

    _call = pyqtSignal(_Call)

    def __init__(self, engine_config: EngineConfig, settings: AppSettings, gui: GuiConfig,
                 parent: QObject | None = None, engine_loader: EngineLoader | None = None) -> None:
        super().__init__(parent)
        self.credits = FrameCredits(gui.max_frames_in_flight)
        self.capture_thread = QThread()
        self.capture_thread.setObjectName("capture")
        self.worker = CaptureWorker(engine_config, settings, gui, self.credits, engine_loader)
        self.worker.moveToThread(self.capture_thread)
        self.capture_thread.started.connect(self.worker.start)
        self._call.connect(self.worker.run_call)  # queued: the worker lives in the other thread
        self._stopped = False

    def start(self) -> None:
        """Start the thread (it loads the models first); connect to the worker's signals before."""
        self.capture_thread.start()

    def submit(self, method: Callable[Concatenate[CaptureWorker, _P], None], *args: _P.args,
               **kwargs: _P.kwargs) -> None:
        """Run ``method(worker, *args, **kwargs)`` in the capture thread, after what is queued."""
        self._call.emit(_Call(method, args, kwargs))

    def frame_handled(self) -> None:
        """The GUI took a frame off the queue: the worker may send another."""
        self.credits.give_back()

    def stop(self, timeout_ms: int = STOP_TIMEOUT_MS) -> bool:
        """Stop the worker and wait for its thread to end (window closing). True when it did."""
        if self._stopped:
            return not self.capture_thread.isRunning()
        self._stopped = True
        self.worker.stop_requested.set()  # ends skip loops and the frame loop at once
        self.submit(CaptureWorker.shutdown)
        return self.capture_thread.wait(timeout_ms)
