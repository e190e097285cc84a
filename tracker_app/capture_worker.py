"""The capture thread: reads frames, runs the tracking pipeline, sends DisplayFrames to the GUI.

``CaptureWorker`` lives in its own QThread and owns everything slow: the video
source, the ONNX sessions (``FaceAnalyzer``, one per thread), the pipeline and, while
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

import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable, Union

from PyQt6.QtCore import QObject, QThread, QTimer, pyqtSignal, pyqtSlot

from engine.config import EngineConfig
from engine.errors import TrackerError
from engine.frames import FrameResult
from tracker_app.display_frame import build_display_frame
from tracker_app.engine_loader import EngineLoader, load_engine
from tracker_app.settings import AppSettings, GuiConfig
from tracker_app.viewer_model import SourceInfo, plural

log = logging.getLogger(__name__)

# What can be opened: a path or camera index for engine.video_source.open_source, or a
# factory returning a ready VideoSource (called in the worker thread).
SourceSpec = Union[str, int, Path, Callable[[], object]]

RETRY_MS = 4  # poll interval while the GUI is behind
# Files: when the engine falls this far behind the clock, the clock restarts from
# now instead of hurrying to catch up (which would skip pacing for a while).
MAX_LAG_S = 0.25
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
        self._analyzer = None
        self._lods: tuple = ()  # the face model's triangle lists, full first (mesh_lod)
        self._pipeline = None
        self._source = None
        self._spec: SourceSpec | None = None
        self._frames = None  # iterator over the source
        self._session = None  # engine.session.Session while recording; its pipeline is self._pipeline
        self._recording_dir: Path | None = None
        self._timer: QTimer | None = None
        self._playing = False
        self._at_end = False
        self._ending = False  # flushing the last frames of a source
        self._loop = False  # files: start again at the end
        self._speed = 1.0  # files: playback rate relative to the file's fps
        self._read = 0  # packets taken from the source
        self._pulled: dict[int, float] = {}  # packet index -> time it was taken (for latency)
        self._clock0 = 0.0
        self._ts0 = 0.0
        self._no_face_run = 0
        self._any_face = False
        self._warned_no_face = False
        self._expressions = None  # engine.expressions.ExpressionModel, with the analyzer
        self._calibration = _stored_calibration(settings)
        self._sender = None  # engine.vmc.VmcSender while streaming
        self._last_result: FrameResult | None = None  # what Set neutral applies to
        # Files, look-ahead smoother: a seek near the end shows its frame; the ones after
        # it, released by the final flush, are shown by Step / Play from here.
        self._show_upto: int | None = None
        self._held: deque[FrameResult] = deque()
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
        self.engine_ready.emit()
        return True

    @pyqtSlot()
    def shutdown(self) -> None:
        """Release everything, then end this thread's event loop."""
        if self._timer is not None:
            self._timer.stop()
        self._stop_recording(emit=False)
        self._stop_streaming(emit=False)
        self._close_source(emit=False)
        self._analyzer = None
        QThread.currentThread().quit()

    def _engine_config(self) -> EngineConfig:
        return self._settings.engine_config(self._base_config)

    # -- requests from the GUI (worker thread) ---------------------------------------

    @pyqtSlot(object)
    def open_source(self, spec: SourceSpec) -> None:
        from engine.video_source import open_source

        if self._analyzer is None and not self._load_engine():
            return
        # A file that fails to open leaves the current source playing; a camera may
        # be the one in use, so live sources are released before trying.
        if _is_camera(spec) or (self._source is not None and self._source.is_live):
            self._stop_recording()
            self._close_source()
        try:
            source = spec() if callable(spec) else open_source(spec)
        except (OSError, ValueError) as e:
            title = "Camera not available" if _is_camera(spec) else "Cannot open video"
            self.failed.emit(title, str(e))
            return
        self._stop_recording()
        self._close_source()
        self._spec = spec
        self._source = source
        self._frames = iter(source)
        self._read = 0
        self._at_end = False
        self._pulled.clear()
        self._no_face_run, self._any_face, self._warned_no_face = 0, False, False
        self._make_pipeline()
        info = SourceInfo(spec="<custom>" if callable(spec) else str(spec), description=source.description,
                          fps=float(source.fps), frame_size=tuple(source.frame_size),
                          is_live=bool(source.is_live),
                          frame_count=source.frame_count, frame_count_exact=source.frame_count_exact)
        self.source_opened.emit(info)
        # Files: the true length, cheaply, in the background (other sources: nothing to count).
        source.start_counting(lambda n, s=source: self._report_count(s, n))
        self._set_playing(True)

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
        self._stop_recording()
        self._close_source()

    @pyqtSlot()
    def play(self) -> None:
        if self._source is None:
            return
        if self._held:  # a seek near the end read these ahead: play shows them, then ends
            while self._held:
                self._send(self._held.popleft())
            return
        if self._at_end:  # play after the end starts the file again
            if self._source.is_live or not self._rewind(0):
                return
        self._set_playing(True)

    @pyqtSlot()
    def pause(self) -> None:
        self._set_playing(False)

    @pyqtSlot()
    def step(self) -> None:
        """Pause and show the next frame (a look-ahead smoother may need several packets)."""
        self._set_playing(False)
        if self._held:  # past the end of the file: the frames a seek read ahead
            self._send(self._held.popleft())
            return
        if self._frames is None or self._at_end:
            return
        while not self.stop_requested.is_set() and self._advance() == 0:
            pass

    @pyqtSlot(int)
    def seek(self, index: int) -> None:
        """Files only: continue from frame ``index`` (tracking restarts there; a recording ends)."""
        if self._source is None or self._source.is_live:
            return
        self._stop_recording()
        if self._rewind(max(0, int(index))):
            # Show the frame we landed on even when paused. Near the end of a file the
            # look-ahead smoother releases the frames after it too: those wait in _held.
            self._show_upto = self._read
            try:
                while not self.stop_requested.is_set() and self._advance() == 0:
                    pass
            finally:
                self._show_upto = None
            self._restart_clock()
            if self._playing and not self._at_end:
                self._schedule(0)

    @pyqtSlot(bool)
    def set_loop(self, on: bool) -> None:
        self._loop = bool(on)

    @pyqtSlot(float)
    def set_speed(self, speed: float) -> None:
        """Files: play at ``speed`` times the file's frame rate (every frame is still processed)."""
        self._speed = float(speed)
        self._restart_clock()  # the frames to come are paced from now

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
        if self._source is not None:
            self._stop_recording()  # the recording's options were those of its start
            self._make_pipeline()
            self.notice.emit("Settings applied: tracking restarted")

    @pyqtSlot(object, object, bool)
    def start_recording(self, folder: Path, exports: object, from_start: bool) -> None:
        """Record into ``folder`` from the next frame read (``from_start``: files restart at frame 0).

        The recording is an engine Session with tracking restarted on its first frame, so it
        writes what ``tracker-app track`` writes from that frame on."""
        from engine.session import Session, SessionOptions, SourceDescription

        if self._source is None:
            self.failed.emit("Nothing to record", "Open a video or a camera first.")
            return
        self._stop_recording()
        if from_start and not self._source.is_live:
            if not self._rewind(0):
                return
        else:
            for result in self._pipeline.flush():  # frames the smoother holds belong to before the recording
                self._send(result)
        options = SessionOptions(dense=True, smoother=self._settings.smoother_for(bool(self._source.is_live)),
                                 exports=exports,
                                 config=self._engine_config())
        try:
            self._session = Session(self._analyzer, options, Path(folder), SourceDescription.of(self._source))
        except (OSError, ValueError) as e:
            self.failed.emit("Cannot record", str(e))
            return
        self._pipeline = self._session.pipeline
        self._recording_dir = Path(folder)
        self.recording_changed.emit(self._recording_dir)

    @pyqtSlot()
    def stop_recording(self) -> None:
        self._stop_recording()

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

        tracked = None if self._last_result is None else choose_face(self._last_result, self._follow())
        if tracked is None or self._expressions is None:
            self.notice.emit("Set neutral: no face in view")
            return
        self._calibration = self._expressions.neutral_from(tracked.face, self._calibration)
        if self._sender is not None:
            self._sender.set_calibration(self._calibration)
        self.calibration_changed.emit(self._calibration)
        self._emit_live(self._last_result)  # the readout shows the recentred pose at once

    # -- frame loop (worker thread) ----------------------------------------------------

    def _tick(self) -> None:
        if self.stop_requested.is_set() or not self._playing or self._frames is None:
            return
        if not self._credits.available():
            self._schedule(RETRY_MS)  # the GUI is behind: wait (a camera drops meanwhile)
            return
        if not self._source.is_live:
            wait = self._clock0 + (self._read / self._source.fps - self._ts0) / self._speed - time.monotonic()
            if wait > 0.002:
                self._schedule(wait * 1000)
                return
            if wait < -MAX_LAG_S:
                self._restart_clock()
        self._advance()
        if self._playing:
            self._schedule(0)

    def _advance(self) -> int:
        """Take one packet and process it; the number of frames sent, or -1 at the end."""
        try:
            packet = next(self._frames)
        except StopIteration:
            self._end_of_stream()
            return -1
        pulled = time.monotonic()
        self._read += 1
        self._pulled[packet.index] = pulled
        try:
            results = self._session.feed(packet) if self._session is not None else self._pipeline.process(packet)
        except Exception as e:  # an engine bug must not kill the thread; tell the user once
            log.exception("tracking failed on frame %d", packet.index)
            self._set_playing(False)
            self._stop_recording(error=f"{type(e).__name__}: {e}")
            self.failed.emit("Tracking failed", f"Frame {packet.index}: {type(e).__name__}: {e}")
            return -1
        for result in results:
            self._send(result)
        if self._session is not None and self._session.error is not None:
            self._stop_recording()  # a write failed (full disk...): run.json says so
        return len(results)

    def _send(self, result: FrameResult) -> None:
        self._note_faces(result)
        self._last_result = result
        live = self._emit_live(result)
        if self._sender is not None and live is not None:
            self._sender.send(live)
        frame = build_display_frame(
            result, self._lods, pulled_at=self._pulled.pop(result.index, time.monotonic()),
            frames_dropped=self._source.frames_dropped)
        self._credits.take()
        self.frame_ready.emit(frame)

    def _end_of_stream(self) -> None:
        source = self._source
        self._ending = True
        try:
            if self._session is not None:
                self._stop_recording(at_end=True)  # exports and shows the frames the smoother held
            for result in self._pipeline.flush():
                if self._show_upto is not None and result.index > self._show_upto:
                    self._held.append(result)
                else:
                    self._send(result)
        finally:
            self._ending = False
        self._at_end = True
        looping = self._loop and self._playing and not source.is_live and not source.error
        if not looping:
            self._set_playing(False)
        if source.error:
            title = "Camera stopped" if source.is_live else "Video ended early"
            self.failed.emit(title, source.error)
        elif source.warning:
            self.notice.emit(source.warning)
        if not self._any_face and not self._warned_no_face and self._read:
            self._warned_no_face = True
            self.no_faces.emit(f"No face was found in {plural(self._read, 'frame')} of {source.description}.")
        self.end_of_stream.emit(self._read)
        if source.is_live:  # a camera that stopped is gone; the user picks another source
            self._close_source()
        elif looping:
            if self._rewind(0):
                self._restart_clock()
            else:
                self._set_playing(False)

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
            self._sender.follow = self._follow()
            self._sender.mirror = self._settings.live.mirror_for(self._source is not None and self._source.is_live)

    def _stop_streaming(self, emit: bool = True) -> None:
        if self._sender is None:
            return
        sender, self._sender = self._sender, None
        sender.close()
        if emit:
            self.streaming_changed.emit(None)
            if sender.error:
                self.notice.emit(sender.error)

    def _note_faces(self, result: FrameResult) -> None:
        if result.faces:
            self._any_face, self._no_face_run = True, 0
            return
        self._no_face_run += 1
        if self._no_face_run >= self._gui.no_face_frames and not self._warned_no_face:
            self._warned_no_face = True
            # At the end of a file (the smoother's last frames) nothing goes on any more.
            goes_on = "" if self._ending else " Tracking goes on and picks up faces as soon as one appears."
            self.no_faces.emit(f"No face found in the last {self._no_face_run} frames of "
                               f"{self._source.description}.{goes_on}")

    # -- helpers ---------------------------------------------------------------------------

    def _make_pipeline(self) -> None:
        from engine.pipeline import TrackingPipeline

        self._pipeline = TrackingPipeline(self._analyzer, self._engine_config(), dense=True,
                                          smoother=self._settings.smoother_for(bool(self._source.is_live)),
                                          fps=float(self._source.fps))
        self._pulled.clear()
        self._last_result = None
        self._update_sender()

    def _rewind(self, index: int) -> bool:
        """Files: position the source so the next packet is frame ``index`` (clamped to the last).

        A jump is a cut: the tracker and the smoother start over."""
        self._held.clear()
        from engine.video_source import SeekError, SourceError, open_source

        if self._source.seekable:  # files: exact random access
            try:
                try:
                    self._source.seek(index)
                except SeekError as e:  # past the end (the header promised more)
                    self.frame_count_known.emit(e.frame_count)
                    index = e.frame_count - 1
                    self._source.seek(index)
            except (SourceError, ValueError) as e:
                self.failed.emit("Cannot seek", str(e))
                return False
            self._frames = iter(self._source)
            self._read = index
            self._at_end = False
            self._pipeline.reset()
            self._pulled.clear()
            return True
        # Other sources (image folders, factories): reopen and decode up to the target.
        if index < self._read or self._at_end:
            self._source.close()
            try:
                self._source = open_source(self._spec) if not callable(self._spec) else self._spec()
            except (OSError, ValueError) as e:
                self.failed.emit("Cannot reopen video", str(e))
                self._close_source()
                return False
            self._frames = iter(self._source)
            self._read = 0
            self._at_end = False
        # No random access: decode and drop up to the target.
        while self._read < index and not self.stop_requested.is_set():
            try:
                next(self._frames)
            except StopIteration:
                break
            self._read += 1
        self._pipeline.reset()
        self._pulled.clear()
        return True

    def _restart_clock(self) -> None:
        self._clock0 = time.monotonic()
        self._ts0 = self._read / self._source.fps if self._source is not None else 0.0

    def _set_playing(self, playing: bool) -> None:
        playing = playing and self._frames is not None and not self._at_end
        if playing and not self._playing:
            self._restart_clock()
            self._schedule(0)
        if playing != self._playing:
            self._playing = playing
            self.playing_changed.emit(playing)

    def _schedule(self, delay_ms: float) -> None:
        if self._timer is not None:
            self._timer.start(max(0, int(delay_ms)))

    def _close_source(self, emit: bool = True) -> None:
        self._held.clear()
        if self._timer is not None:
            self._timer.stop()
        if self._playing:
            self._playing = False
            if emit:
                self.playing_changed.emit(False)
        if self._source is not None:
            self._source.close()
            self._source = self._frames = self._pipeline = None
            self._credits.reset()
            if emit:
                self.source_closed.emit()

    def _stop_recording(self, emit: bool = True, at_end: bool = False, error: str | None = None) -> None:
        """Finish the recording: held frames exported (and shown), files closed, run.json final.

        Stopped before the source's end, the run is ``interrupted`` (kept, not complete)."""
        session, self._session = self._session, None
        if session is None:
            return
        source = self._source
        try:
            for result in session.flush():
                if emit:
                    self._send(result)
        finally:
            session.finish(interrupted=not at_end and error is None,
                           error=error or (source.error if at_end and source is not None else None),
                           warning=source.warning if source is not None else None)
        self._recording_dir = None
        if emit and session.error is not None and session.error != (source.error if source else None):
            self.failed.emit("Recording stopped", session.error)
        if emit:
            self.recording_changed.emit(None)


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
