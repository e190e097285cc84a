"""The capture thread: reads frames, runs the tracking pipeline, sends DisplayFrames to the GUI.

``CaptureWorker`` lives in its own QThread and owns everything slow: the ONNX sessions
(``FaceAnalyzer``, one per thread), the VMC stream and an ``engine.playback.Playback``,
the Qt-free core that holds the video source, the pipeline, the clock and, while
recording, the ``engine.session.Session`` that writes the same files as ``tracker-app track``.
The GUI talks to it only through ``CaptureController``, whose
methods emit queued signals into the worker thread; the worker answers with
signals. Neither side ever waits for the other, except ``CaptureController.stop``
when the window closes.

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

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Union

from PyQt6.QtCore import QObject, QThread, QTimer, pyqtSignal, pyqtSlot

from engine.config import EngineConfig
from engine.errors import TrackerError
from engine.frames import FrameResult
from engine.playback import Playback, PlaybackOptions
from engine.video_source import VideoSource
from tracker_app.display_frame import build_display_frame
from tracker_app.engine_loader import EngineLoader, load_engine
from tracker_app.settings import AppSettings, GuiConfig
from tracker_app.viewer_model import SourceInfo

if TYPE_CHECKING:
    from engine.analyzer import FaceAnalyzer

log = logging.getLogger(__name__)

# What can be opened: a path or camera index for engine.video_source.open_source, or a
# factory returning a ready VideoSource (called in the worker thread).
SourceSpec = Union[str, int, Path, Callable[[], object]]

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


class CaptureWorker(QObject):
    """Runs in the capture thread. Use it through CaptureController."""

    engine_ready = pyqtSignal()
    frame_ready = pyqtSignal(object)  # DisplayFrame
    source_opened = pyqtSignal(object)  # SourceInfo
    source_closed = pyqtSignal()
    end_of_stream = pyqtSignal(int)  # frames read (a file's true length)
    frame_count_known = pyqtSignal(int)  # a file's true length, found before its end was reached
    _counted = pyqtSignal(object, int)  # (source, frames) from the source's counting thread
    playing_changed = pyqtSignal(bool)
    failed = pyqtSignal(str, str)  # title, one-line message: the GUI shows a dialog
    notice = pyqtSignal(str)  # remark for the status bar
    no_faces = pyqtSignal(str)  # message, at most once per source
    recording_changed = pyqtSignal(object)  # Path of the session folder, or None
    live_frame = pyqtSignal(object)  # engine.vmc.LiveFrame of the followed face, or None (no face)
    calibration_changed = pyqtSignal(object)  # engine.expressions.Calibration after Set neutral
    streaming_changed = pyqtSignal(object)  # engine.vmc.VmcTarget streamed to, or None

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
        self._lods: tuple = ()  # the face model's triangle lists, full first (mesh_lod)
        self._playback: Playback | None = None  # with the analyzer: the source, pipeline, clock
        self._listener = _SignalListener(self)
        self._timer: QTimer | None = None
        self._expressions = None  # engine.expressions.ExpressionModel, with the analyzer
        self._calibration = _stored_calibration(settings)
        self._sender = None  # engine.vmc.VmcSender while streaming
        self._counted.connect(self._on_counted)  # queued: emitted in the counting thread

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
            self.failed.emit("Face tracker not available", f"The models could not be loaded: {e}")
            return False
        self._analyzer = loaded.analyzer
        # Index buffers shared by every DisplayFrame, so the view uploads them once per model.
        self._lods = loaded.lods
        from engine.expressions import ExpressionModel

        self._expressions = ExpressionModel(self._analyzer.face_model, self._base_config.expressions)
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
        QThread.currentThread().quit()

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

    # -- requests from the GUI (worker thread) ---------------------------------------

    @pyqtSlot(object)
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
            self.failed.emit(title, str(e))
            return
        playback.stop_recording()
        self._close_source()
        info = SourceInfo(spec="<custom>" if callable(spec) else str(spec), description=source.description,
                          fps=float(source.fps), frame_size=tuple(source.frame_size),
                          is_live=bool(source.is_live),
                          frame_count=source.frame_count, frame_count_exact=source.frame_count_exact)
        # The GUI knows the source before its first frame or its playing state arrive.
        playback.options = self._playback_options()
        playback.open(source, reopen, start=False)
        self._update_sender()
        self.source_opened.emit(info)
        # Files: the true length, cheaply, in the background (other sources: nothing to count).
        source.start_counting(lambda n, s=source: self._report_count(s, n))
        playback.set_playing(True)

    def _report_count(self, source: object, frames: int) -> None:
        """Called in the counting thread: hand over to this thread (queued signal)."""
        try:
            self._counted.emit(source, int(frames))
        except RuntimeError:  # the worker is gone (window closed meanwhile)
            pass

    @pyqtSlot(object, int)
    def _on_counted(self, source: object, frames: int) -> None:
        if source is self._source and frames > 0:
            self.frame_count_known.emit(frames)

    @pyqtSlot()
    def close_source(self) -> None:
        if self._playback is not None:
            self._playback.stop_recording()
        self._close_source()

    @pyqtSlot()
    def play(self) -> None:
        if self._playback is not None:
            self._playback.play()

    @pyqtSlot()
    def pause(self) -> None:
        if self._playback is not None:
            self._playback.pause()

    @pyqtSlot()
    def step(self) -> None:
        if self._playback is not None:
            self._playback.step()

    @pyqtSlot(int)
    def seek(self, index: int) -> None:
        """Files only: continue from frame ``index`` (tracking restarts there; a recording ends)."""
        playback = self._playback
        if playback is None:
            return
        playback.seek(index)
        if playback.playing and not playback.at_end:
            self._schedule(0)

    @pyqtSlot(bool)
    def set_loop(self, on: bool) -> None:
        if self._playback is not None:
            self._playback.loop = bool(on)

    @pyqtSlot(float)
    def set_speed(self, speed: float) -> None:
        """Files: play at ``speed`` times the file's frame rate (every frame is still processed)."""
        if self._playback is not None:
            self._playback.set_speed(speed)

    @pyqtSlot(object)
    def apply_settings(self, settings: AppSettings) -> None:
        old, self._settings = self._settings, settings
        self._update_sender()
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
            self._update_sender()
            self.notice.emit("Settings applied: tracking restarted")
        else:
            playback.options = self._playback_options()

    @pyqtSlot(object, object, bool)
    def start_recording(self, folder: Path, exports: object, from_start: bool) -> None:
        """Record into ``folder`` from the next frame read (``from_start``: files restart at frame 0)."""
        if self._playback is None:
            self.failed.emit("Nothing to record", "Open a video or a camera first.")
            return
        self._playback.options = self._playback_options()
        self._playback.start_recording(Path(folder), exports, from_start)  # type: ignore[arg-type]

    @pyqtSlot()
    def stop_recording(self) -> None:
        if self._playback is not None:
            self._playback.stop_recording()

    @pyqtSlot(object)
    def start_streaming(self, target: object) -> None:
        """Stream the followed face to ``target`` (an engine.vmc.VmcTarget) over VMC."""
        from engine.vmc import VmcSender, VmcTargetError

        self._stop_streaming(emit=False)
        if self._expressions is None:
            self.failed.emit("Cannot stream", "The face tracker is not loaded.")
            self.streaming_changed.emit(None)
            return
        try:
            self._sender = VmcSender(self._expressions, target, calibration=self._calibration)
        except (OSError, VmcTargetError) as e:
            self.failed.emit("Cannot stream", str(e))
            self.streaming_changed.emit(None)
            return
        self._update_sender()
        self.streaming_changed.emit(target)

    @pyqtSlot()
    def stop_streaming(self) -> None:
        self._stop_streaming()

    @pyqtSlot()
    def set_neutral(self) -> None:
        """The followed face of the last frame becomes the neutral pose and expression."""
        from engine.vmc import choose_face

        last = self._playback.last_result if self._playback is not None else None
        tracked = None if last is None else choose_face(last, self._follow())
        if tracked is None or self._expressions is None:
            self.notice.emit("Set neutral: no face in view")
            return
        pipeline = self._playback.pipeline if self._playback is not None else None
        if last is not None and last.has_pixels and pipeline is not None and pipeline.eyes is not None:
            # The eyes' neutral too (engine.eyes): this frame's eyes are open and look ahead.
            face = pipeline.eyes.set_neutral(tracked.track_id, last.image, tracked.face)
            last = dataclasses.replace(last, faces=[dataclasses.replace(tf, face=face) if tf is tracked else tf
                                                    for tf in last.faces])
        self._calibration = self._expressions.neutral_from(tracked.face, self._calibration)
        if self._sender is not None:
            self._sender.set_calibration(self._calibration)
        self.calibration_changed.emit(self._calibration)
        self._emit_live(last)  # the readout shows the recentred pose at once

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

    def _send(self, result: FrameResult, pulled_at: float) -> None:
        """A processed frame (from the playback): to the VMC stream and the GUI."""
        live = self._emit_live(result)
        if self._sender is not None and live is not None:
            self._sender.send(live)
        source = self._source
        frame = build_display_frame(result, self._lods, pulled_at=pulled_at,
                                    frames_dropped=source.frames_dropped if source is not None else 0)
        self._credits.take()
        self.frame_ready.emit(frame)

    def _emit_live(self, result: FrameResult) -> object:
        from engine.vmc import live_frame

        live = None
        if self._expressions is not None:
            live = live_frame(self._expressions, result, self._calibration, self._follow())
        self.live_frame.emit(live)
        return live

    def _follow(self) -> int | None:
        return self._settings.live.stream_follow or None

    def _update_sender(self) -> None:
        if self._sender is not None:
            source = self._source
            self._sender.follow = self._follow()
            self._sender.mirror = self._settings.live.mirror_for(source is not None and source.is_live)

    def _stop_streaming(self, emit: bool = True) -> None:
        if self._sender is None:
            return
        sender, self._sender = self._sender, None
        sender.close()
        if emit:
            self.streaming_changed.emit(None)
            if sender.error:
                self.notice.emit(sender.error)

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

    def frame(self, result: FrameResult, pulled_at: float) -> None:
        self.worker._send(result, pulled_at)

    def playing_changed(self, playing: bool) -> None:
        if playing:
            self.worker._schedule(0)
        self.worker.playing_changed.emit(playing)

    def failed(self, title: str, message: str) -> None:
        self.worker.failed.emit(title, message)

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
        self.worker.recording_changed.emit(folder)


def _stored_calibration(settings: AppSettings) -> object:
    """The Calibration kept in the settings (JSON); a damaged one is dropped (no neutral)."""
    import json

    from engine.expressions import Calibration

    if not settings.live.calibration:
        return Calibration()
    try:
        return Calibration.from_dict(json.loads(settings.live.calibration))
    except (ValueError, TypeError, AttributeError):
        return Calibration()


def _is_camera(spec: SourceSpec) -> bool:
    return isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit())


class CaptureController(QObject):
    """GUI-thread handle on the capture thread: every call is a queued request."""

    _open = pyqtSignal(object)
    _close = pyqtSignal()
    _play = pyqtSignal()
    _pause = pyqtSignal()
    _step = pyqtSignal()
    _seek = pyqtSignal(int)
    _loop = pyqtSignal(bool)
    _speed = pyqtSignal(float)
    _settings = pyqtSignal(object)
    _record = pyqtSignal(object, object, bool)
    _stop_record = pyqtSignal()
    _stream = pyqtSignal(object)
    _stop_stream = pyqtSignal()
    _neutral = pyqtSignal()
    _shutdown = pyqtSignal()

    def __init__(self, engine_config: EngineConfig, settings: AppSettings, gui: GuiConfig,
                 parent: QObject | None = None, engine_loader: EngineLoader | None = None) -> None:
        super().__init__(parent)
        self.credits = FrameCredits(gui.max_frames_in_flight)
        self.thread = QThread()
        self.thread.setObjectName("capture")
        self.worker = CaptureWorker(engine_config, settings, gui, self.credits, engine_loader)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.start)
        self._open.connect(self.worker.open_source)
        self._close.connect(self.worker.close_source)
        self._play.connect(self.worker.play)
        self._pause.connect(self.worker.pause)
        self._step.connect(self.worker.step)
        self._seek.connect(self.worker.seek)
        self._loop.connect(self.worker.set_loop)
        self._speed.connect(self.worker.set_speed)
        self._settings.connect(self.worker.apply_settings)
        self._record.connect(self.worker.start_recording)
        self._stop_record.connect(self.worker.stop_recording)
        self._stream.connect(self.worker.start_streaming)
        self._stop_stream.connect(self.worker.stop_streaming)
        self._neutral.connect(self.worker.set_neutral)
        self._shutdown.connect(self.worker.shutdown)
        self._stopped = False

    def start(self) -> None:
        """Start the thread (it loads the models first); connect to the worker's signals before."""
        self.thread.start()

    def open(self, spec: SourceSpec) -> None:
        self._open.emit(spec)

    def close_source(self) -> None:
        self._close.emit()

    def play(self) -> None:
        self._play.emit()

    def pause(self) -> None:
        self._pause.emit()

    def step(self) -> None:
        self._step.emit()

    def seek(self, index: int) -> None:
        self._seek.emit(int(index))

    def set_loop(self, on: bool) -> None:
        self._loop.emit(bool(on))

    def set_speed(self, speed: float) -> None:
        self._speed.emit(float(speed))

    def apply_settings(self, settings: AppSettings) -> None:
        self._settings.emit(settings)

    def start_recording(self, folder: Path, exports: object, from_start: bool = False) -> None:
        """Record into ``folder``; ``exports`` is an engine.session.ExportOptions."""
        self._record.emit(Path(folder), exports, bool(from_start))

    def stop_recording(self) -> None:
        self._stop_record.emit()

    def start_streaming(self, target: object) -> None:
        self._stream.emit(target)

    def stop_streaming(self) -> None:
        self._stop_stream.emit()

    def set_neutral(self) -> None:
        self._neutral.emit()

    def frame_handled(self) -> None:
        """The GUI took a frame off the queue: the worker may send another."""
        self.credits.give_back()

    def stop(self, timeout_ms: int = STOP_TIMEOUT_MS) -> bool:
        """Stop the worker and wait for its thread to end (window closing). True when it did."""
        if self._stopped:
            return not self.thread.isRunning()
        self._stopped = True
        self.worker.stop_requested.set()  # ends skip loops and the frame loop at once
        self._shutdown.emit()
        return self.thread.wait(timeout_ms)
