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

Frame flow. A single-shot timer in the worker thread drives playback one frame
per tick, so requests (pause, seek, new source, settings) are handled between two
frames. Files are paced at their own frame rate and every frame is processed;
when the GUI has not drawn the frames already sent (``FrameCredits``), the worker
waits instead of queueing more. Cameras are read through the latest-frame
``CameraSource``, so whatever the worker does not take in time is dropped at the
source and the latency stays at about one processing time.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Union

import numpy as np
from PyQt6.QtCore import QObject, QThread, QTimer, pyqtSignal, pyqtSlot

from engine.config import EngineConfig
from engine.errors import TrackerError
from engine.expressions import Calibration, ExpressionModel
from engine.playback import Playback, PlaybackOptions, ShownFrame
from engine.session import ExportOptions
from engine.video_source import VideoSource
from engine.vmc import LiveFrame, VmcTarget, choose_face
from tracker_app.display_frame import DisplayFrame
from tracker_app.engine_loader import EngineLoader, load_engine
from tracker_app.live_stream import LiveStream, stored_calibration
from tracker_app.settings import AppSettings, GuiConfig
from tracker_app.viewer_model import SourceInfo

if TYPE_CHECKING:
    from engine.analyzer import FaceAnalyzer

log = logging.getLogger(__name__)

# What can be opened: a path or camera index for engine.video_source.open_source, or a
# factory returning a ready VideoSource (called in the worker thread).
SourceSpec = Union[str, int, Path, Callable[[], VideoSource]]
_P = ParamSpec("_P")


@dataclass(frozen=True)
class Failure:
    """Something the user asked for failed: a dialog with this title and one-line message."""

    title: str
    message: str


@dataclass(frozen=True)
class Recording:
    """The session folder being written (None: not recording)."""

    folder: Path | None


@dataclass(frozen=True)
class Streaming:
    """The VMC receiver streamed to (None: not streaming)."""

    target: VmcTarget | None


@dataclass(frozen=True)
class Followed:
    """The followed face of the frame just processed (None: not in it)."""

    live: LiveFrame | None

RETRY_MS = 4  # poll interval while the GUI is behind
STOP_TIMEOUT_MS = 10_000


class FrameCredits:
    """How many sent frames the GUI has not handled yet (thread-safe counter)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self._lock = threading.Lock()
        self._in_flight = 0

    def available(self) -> bool:
        with self._lock:
            return self._in_flight < self.limit

    def take(self) -> None:
        with self._lock:
            self._in_flight += 1

    def give_back(self) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def reset(self) -> None:
        with self._lock:
            self._in_flight = 0


@dataclass(frozen=True)
class _Counted:
    """A file's true length, from the source's counting thread."""

    source: VideoSource
    frames: int


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
    _counted = pyqtSignal(_Counted)
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
        self._base_config = engine_config
        self._engine_loader = engine_loader  # models already loading (tracker-app gui starts it early)
        self._settings = settings
        self._gui = gui
        self._credits = credits
        self.stop_requested = threading.Event()  # set from the GUI thread, read between frames
        self._analyzer: FaceAnalyzer | None = None
        self._lods: tuple[np.ndarray, ...] = ()  # the face model's triangle lists, full first (mesh_lod)
        self._playback: Playback | None = None  # with the analyzer: the source, pipeline, clock
        self._listener = _SignalListener(self)
        self._timer: QTimer | None = None
        self._live = LiveStream(stored_calibration(settings.live.calibration))  # readout, neutral, VMC
        self._counted.connect(self._on_counted)  # queued: emitted in the counting thread

    @pyqtSlot(_Call)
    def run_call(self, call: _Call) -> None:
        """A request from the GUI thread, run here between two frames."""
        call.method(self, *call.args, **call.kwargs)

    # -- life cycle (worker thread) --------------------------------------------------

    @pyqtSlot()
    def start(self) -> None:
        """Thread started: create the timer and load the models here, never in the GUI thread."""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._tick)
        self._load_engine()

    def _load_engine(self) -> bool:
        config, threads = self._engine_config(), self._settings.threads
        try:
            loaded = self._engine_loader.take(config, threads) if self._engine_loader is not None else None
            loaded = loaded or load_engine(config, threads)
        except (OSError, ValueError, RuntimeError) as e:
            # The user sees one line; the log keeps the traceback of anything unexpected.
            log.warning("models not loaded: %s", e, exc_info=not isinstance(e, (TrackerError, OSError)))
            self._analyzer = None
            self.failed.emit(Failure("Face tracker not available", f"The models could not be loaded: {e}"))
            return False
        self._analyzer = loaded.analyzer
        # Index buffers shared by every DisplayFrame, so the view uploads them once per model.
        self._lods = loaded.lods
        self._live.expressions = ExpressionModel(self._analyzer.face_model, self._base_config.expressions)
        if self._playback is None:
            self._playback = Playback(self._analyzer, self._playback_options(), self._listener,
                                      should_stop=self.stop_requested.is_set)
        else:  # new threads or detector options: the open source goes on with the new sessions
            self._playback.analyzer = self._analyzer
        self.engine_ready.emit()
        return True

    @pyqtSlot()
    def shutdown(self) -> None:
        """Release everything, then end this thread's event loop."""
        if self._timer is not None:
            self._timer.stop()
        if self._playback is not None:
            self._playback.stop_recording(notify=False)
        self._stop_streaming(emit=False)
        self._close_source(emit=False)
        if self._engine_loader is not None:
            self._engine_loader.close()  # its opened video, if nobody took it
        self._analyzer = self._playback = None
        thread = self.thread()
        if thread is not None:
            thread.quit()

    def _engine_config(self) -> EngineConfig:
        return self._settings.engine_config(self._base_config)

    def _playback_options(self) -> PlaybackOptions:
        s = self._settings
        return PlaybackOptions(config=self._engine_config(), file_smoother=s.smoother_for(False),
                               live_smoother=s.smoother_for(True), no_face_frames=self._gui.no_face_frames)

    @property
    def playback(self) -> Playback | None:
        """The playback core (None until the models are loaded); belongs to the worker thread."""
        return self._playback

    @property
    def _source(self) -> VideoSource | None:
        return self._playback.source if self._playback is not None else None

    # -- requests from the GUI (worker thread, through CaptureController.submit) -------

    def open_source(self, spec: SourceSpec) -> None:
        from engine.video_source import open_source

        if self._playback is None and not self._load_engine():
            return
        playback = self._playback
        assert playback is not None
        # A file that fails to open leaves the current source playing; a camera may
        # be the one in use, so live sources are released before trying.
        if _is_camera(spec) or (playback.source is not None and playback.source.is_live):
            playback.stop_recording()
            self._close_source()

        def reopen() -> VideoSource:
            return spec() if callable(spec) else open_source(spec)

        try:
            preopened = self._engine_loader.take_video(spec) if self._engine_loader is not None else None
            source = preopened or reopen()
        except (OSError, ValueError) as e:
            title = "Camera not available" if _is_camera(spec) else "Cannot open video"
            self.failed.emit(Failure(title, str(e)))
            return
        playback.stop_recording()
        self._close_source()
        width, height = source.frame_size
        info = SourceInfo(spec="<custom>" if callable(spec) else str(spec), description=source.description,
                          fps=float(source.fps), frame_size=(int(width), int(height)),
                          is_live=bool(source.is_live),
                          frame_count=source.frame_count, frame_count_exact=source.frame_count_exact)
        # The GUI knows the source before its first frame or its playing state arrive.
        playback.options = self._playback_options()
        playback.open(source, reopen, start=False)
        self._update_live()
        self.source_opened.emit(info)
        # Files: the true length, cheaply, in the background (other sources: nothing to count).
        source.start_counting(functools.partial(self._report_count, source))
        playback.set_playing(True)

    def _report_count(self, source: VideoSource, frames: int) -> None:
        """Called in the counting thread: hand over to this thread (queued signal)."""
        try:
            self._counted.emit(_Counted(source, int(frames)))
        except RuntimeError:  # the worker is gone (window closed meanwhile)
            pass

    @pyqtSlot(_Counted)
    def _on_counted(self, counted: _Counted) -> None:
        if counted.source is self._source and counted.frames > 0:
            self.frame_count_known.emit(counted.frames)

    def close_source(self) -> None:
        if self._playback is not None:
            self._playback.stop_recording()
        self._close_source()

    def play(self) -> None:
        if self._playback is not None:
            self._playback.play()

    def pause(self) -> None:
        if self._playback is not None:
            self._playback.pause()

    def step(self) -> None:
        if self._playback is not None:
            self._playback.step()

    def seek(self, index: int) -> None:
        """Files only: continue from frame ``index`` (tracking restarts there; a recording ends)."""
        playback = self._playback
        if playback is None:
            return
        playback.seek(index)
        if playback.playing and not playback.at_end:
            self._schedule(0)

    def set_loop(self, on: bool) -> None:
        if self._playback is not None:
            self._playback.loop = bool(on)

    def set_speed(self, speed: float) -> None:
        """Files: play at ``speed`` times the file's frame rate (every frame is still processed)."""
        if self._playback is not None:
            self._playback.set_speed(speed)

    def apply_settings(self, settings: AppSettings) -> None:
        old, self._settings = self._settings, settings
        self._update_live()
        if old.engine_part() == settings.engine_part():
            return
        # Threads and detector options are fixed when the sessions are made: reload
        # (about a second, in this thread; the GUI keeps showing the last frame).
        # Tracker and smoother options only need a new pipeline.
        if (old.threads, old.min_score) != (settings.threads, settings.min_score) or self._analyzer is None:
            if not self._load_engine():
                return
        playback = self._playback
        assert playback is not None
        if playback.source is not None:
            playback.restart_pipeline(self._playback_options())  # a recording had the old options: it ends
            self._update_live()
            self.notice.emit("Settings applied: tracking restarted")
        else:
            playback.options = self._playback_options()

    def start_recording(self, folder: Path, exports: ExportOptions, from_start: bool = False) -> None:
        """Record into ``folder`` from the next frame read (``from_start``: files restart at frame 0)."""
        if self._playback is None:
            self.failed.emit(Failure("Nothing to record", "Open a video or a camera first."))
            return
        self._playback.options = self._playback_options()
        self._playback.start_recording(Path(folder), exports, from_start)

    def stop_recording(self) -> None:
        if self._playback is not None:
            self._playback.stop_recording()

    def start_streaming(self, target: VmcTarget) -> None:
        """Stream the followed face to ``target`` over VMC."""
        self._update_live()
        problem = self._live.start(target)
        if problem is not None:
            self.failed.emit(Failure("Cannot stream", problem))
        self.streaming_changed.emit(Streaming(None if problem is not None else target))

    def stop_streaming(self) -> None:
        self._stop_streaming()

    def set_neutral(self) -> None:
        """The followed face of the last frame becomes the neutral pose and expression."""
        last = self._playback.last_result if self._playback is not None else None
        pipeline = self._playback.pipeline if self._playback is not None else None
        tracked = None if last is None else choose_face(last, self._live.follow)
        if tracked is not None and last is not None and last.has_pixels and pipeline is not None \
                and pipeline.eyes is not None:
            # The eyes' neutral too (engine.eyes): this frame's eyes are open and look ahead.
            face = pipeline.eyes.set_neutral(tracked.track_id, last.image, tracked.face)
            last = dataclasses.replace(last, faces=[dataclasses.replace(tf, face=face) if tf is tracked else tf
                                                    for tf in last.faces])
        calibration = self._live.set_neutral(last)
        if last is None or calibration is None:
            self.notice.emit("Set neutral: no face in view")
            return
        self.calibration_changed.emit(calibration)
        self.live_frame.emit(Followed(self._live.live_of(last)))  # the readout shows the recentred pose at once

    # -- frame loop (worker thread) ----------------------------------------------------

    def _tick(self) -> None:
        playback = self._playback
        if self.stop_requested.is_set() or playback is None or not playback.playing:
            return
        if not self._credits.available():
            self._schedule(RETRY_MS)  # the GUI is behind: wait (a camera drops meanwhile)
            return
        wait_s = playback.due_in()
        if wait_s > 0:
            self._schedule(wait_s * 1000)
            return
        playback.advance()
        if playback.playing:
            self._schedule(0)

    def _send(self, shown: ShownFrame) -> None:
        """A processed frame (from the playback): to the VMC stream and the GUI."""
        result = shown.result
        self.live_frame.emit(Followed(self._live.live_of(result)))
        self._live.send(result)
        source = self._source
        frame = DisplayFrame(result, shown.arrays, self._lods, shown.pulled_at,
                             frames_dropped=source.frames_dropped if source is not None else 0)
        self._credits.take()
        self.frame_ready.emit(frame)

    def _update_live(self) -> None:
        source = self._source
        self._live.follow = self._settings.live.stream_follow or None
        self._live.mirror = self._settings.live.mirror_for(source is not None and source.is_live)

    def _stop_streaming(self, emit: bool = True) -> None:
        if not self._live.streaming:
            return
        error = self._live.stop()
        if emit:
            self.streaming_changed.emit(Streaming(None))
            if error:
                self.notice.emit(error)

    # -- helpers ---------------------------------------------------------------------------

    def _schedule(self, delay_ms: float) -> None:
        if self._timer is not None:
            self._timer.start(max(0, int(delay_ms)))

    def _close_source(self, emit: bool = True) -> None:
        if self._timer is not None:
            self._timer.stop()
        if self._playback is not None:
            self._playback.close(notify=emit)  # the listener's source_closed resets the credits


class _SignalListener:
    """The worker's PlaybackListener: each report becomes the worker's Qt signal."""

    def __init__(self, worker: CaptureWorker) -> None:
        self.worker = worker

    def frame(self, shown: ShownFrame) -> None:
        self.worker._send(shown)

    def playing_changed(self, playing: bool) -> None:
        if playing:
            self.worker._schedule(0)
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


def _is_camera(spec: SourceSpec) -> bool:
    return isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit())


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
