"""Playing a source through the tracking pipeline: the app's capture thread, without Qt.

``Playback`` owns the open source, the ``engine.session.Session`` that tracks it (with
no output folder, or the recording's, an ``ActiveRecording``: one path for both, no
pipeline swapped in and out), the clock that paces a file at its frame rate
(``PlaybackClock``), play/pause, step, seek, loop and speed, and what happens at a
source's end. Its parts: where it is in the source (``SourceCursor``), which session tracks
and the recording (``SessionSlot``), the frames a seek read ahead (``ReadAhead``) and what
it says about the source (``SourceRemarks``).
It reports through a ``PlaybackListener``; the app's ``CaptureWorker`` turns those calls
into Qt signals and calls ``advance()`` when ``due_in()`` says so. Tests drive it
directly, with no event loop and no display.

Files are paced at their own frame rate and every frame is processed; a seek is a cut
(tracker and smoother start over). With a look-ahead smoother, frames come out a few
packets after they go in: a seek near the end shows its frame, and the frames after it
that the final flush releases wait (``held``) for Step or Play.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from engine.config import EngineConfig
from engine.display_arrays import DisplayArrays, display_arrays
from engine.frames import FrameResult
from engine.playback_clock import PlaybackClock
from engine.read_ahead import ReadAhead
from engine.session_slot import SessionSlot
from engine.source_cursor import MoveFailed, SourceCursor
from engine.source_remarks import SourceRemarks
from engine.source_remarks import plural as plural  # the app's wording of counts (status bar)
from engine.video_source import VideoSource

if TYPE_CHECKING:
    from engine.analyzer import FaceAnalyzer
    from engine.pipeline import TrackingPipeline
    from engine.session import ExportOptions, Session, SessionOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShownFrame:
    """A processed frame to show: the result, what a view draws of it, and when its packet
    was read (``time.monotonic()``)."""

    result: FrameResult
    arrays: DisplayArrays
    pulled_at: float


class PlaybackListener(Protocol):
    """What a Playback tells its owner (the app forwards each as a Qt signal)."""

    def frame(self, shown: ShownFrame) -> None:
        """A processed frame to show."""

    def playing_changed(self, playing: bool) -> None: ...

    def failed(self, title: str, message: str) -> None:
        """Something the user must see (a dialog): a title and a one-line message."""

    def notice(self, message: str) -> None:
        """A remark for the status bar."""

    def no_faces(self, message: str) -> None:
        """No face for a while (said at most once per source)."""

    def end_of_stream(self, frames_read: int) -> None: ...

    def frame_count_known(self, frames: int) -> None:
        """A file's true length, learnt before its end (a seek past the end)."""

    def source_closed(self) -> None: ...

    def recording_changed(self, folder: Path | None) -> None: ...


@dataclass(frozen=True)
class PlaybackOptions:
    """The engine-side choices of a playback (the app builds them from its settings)."""

    config: EngineConfig
    file_smoother: str = "lookahead"
    live_smoother: str = "realtime"
    no_face_frames: int = 50  # frames without a face before ``no_faces`` is said

    def smoother_for(self, is_live: bool) -> str:
        return self.live_smoother if is_live else self.file_smoother

    def session_options(self, is_live: bool, exports: ExportOptions | None = None) -> SessionOptions:
        """How the app's sessions track: shown frames keep their pixels; no files without ``exports``."""
        from engine.session import ExportOptions, SessionOptions

        return SessionOptions(dense=True, smoother=self.smoother_for(is_live), exports=exports or ExportOptions(),
                              config=self.config, keep_pixels=True,  # the frames are shown
                              background_embedding=True)  # the frame loop never waits for it


class Playback:
    """One source at a time, played through the pipeline. Not thread-safe: one thread drives it."""

    def __init__(self, analyzer: FaceAnalyzer, options: PlaybackOptions, listener: PlaybackListener,
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self.analyzer = analyzer
        self.options = options
        self.listener = listener
        self._should_stop = should_stop  # checked inside long loops (step, seek): the window is closing
        self._cursor = SourceCursor()  # the open source and where its next packet is
        self._sessions = SessionSlot(self._session, listener)  # what tracks it, and the recording
        self._clock = PlaybackClock()  # files: paces the packets at the file's frame rate over speed
        self._remarks = SourceRemarks(listener)
        self.held = ReadAhead()  # the frames a seek near the end read ahead: they wait for Step or Play
        self.playing = False
        self.loop = False  # files: start again at the end
        self.last_result: FrameResult | None = None

    @property
    def source(self) -> VideoSource | None:
        return self._cursor.source

    @property
    def read(self) -> int:
        """Packets taken from the source."""
        return self._cursor.read

    @property
    def at_end(self) -> bool:
        return self._cursor.at_end

    @property
    def session(self) -> Session | None:
        """Tracks the open source; writes files while recording."""
        return self._sessions.session

    @property
    def pipeline(self) -> TrackingPipeline | None:
        """The tracking of the open source (its session's)."""
        return self._sessions.pipeline

    @property
    def recording_dir(self) -> Path | None:
        """The folder being recorded into (None: not recording)."""
        recording = self._sessions.recording
        return recording.folder if recording is not None else None

    # -- source ------------------------------------------------------------------------

    def open(self, source: VideoSource, reopen: Callable[[], VideoSource], start: bool = True) -> None:
        """Take ``source`` from its start (the one before is closed, a recording ends); ``start``: play.

        ``reopen`` returns a fresh copy of the source, for going back in one without ``seek``."""
        self.stop_recording()
        self.close()
        self._cursor.open(source, reopen)
        self._remarks.reset()
        self.restart_pipeline()
        if start:
            self.set_playing(True)

    def close(self, notify: bool = True) -> None:
        """Close the source; a recording ends first (its files flushed, run.json final)."""
        self.stop_recording(notify)
        self.held.clear()
        if self.playing:
            self.playing = False
            if notify:
                self.listener.playing_changed(False)
        if self.source is not None:
            self._cursor.close()
            self._sessions.close()
            if notify:
                self.listener.source_closed()

    def restart_pipeline(self, options: PlaybackOptions | None = None) -> None:
        """A new session (new options, or tracking restarted); a recording ends first."""
        self.stop_recording()
        self.options = options or self.options
        if self.source is None:
            return
        self._sessions.restart()
        self._cursor.forget_read_times()
        self.last_result = None

    def _session(self, folder: Path | None = None, exports: ExportOptions | None = None,
                 pipeline: TrackingPipeline | None = None) -> Session:
        """A session on the open source: no files without ``folder``; ``pipeline`` goes on tracking."""
        from engine.session import Session, SourceDescription

        assert self.source is not None
        options = self.options.session_options(bool(self.source.is_live), exports)
        return Session(self.analyzer, options, folder, SourceDescription.of(self.source), pipeline=pipeline)

    # -- transport -------------------------------------------------------------------------

    def set_playing(self, playing: bool) -> None:
        playing = playing and self._cursor.is_open and not self.at_end
        if playing and not self.playing:
            self.restart_clock()
        if playing != self.playing:
            self.playing = playing
            self.listener.playing_changed(playing)

    def play(self) -> None:
        if self.source is None:
            return
        if self.held.show(self._send, all_of_them=True):  # a seek near the end read these: shown, then it ends
            return
        if self.at_end and (self.source.is_live or not self.rewind(0)):  # play after the end: again
            return
        self.set_playing(True)

    def pause(self) -> None:
        self.set_playing(False)

    def step(self) -> None:
        """Pause and show the next frame (a look-ahead smoother may need several packets)."""
        self.set_playing(False)
        if self.held.show(self._send, all_of_them=False):  # past the end of the file
            return
        if not self._cursor.is_open or self.at_end:
            return
        while not self._should_stop() and self.advance() == 0:
            pass

    def seek(self, index: int) -> None:
        """Files only: continue from frame ``index`` (tracking restarts there; a recording ends)."""
        if self.source is None or self.source.is_live:
            return
        self.stop_recording()
        if not self.rewind(max(0, int(index))):
            return
        with self.held.showing(self.read):  # show the frame we landed on even when paused
            while not self._should_stop() and self.advance() == 0:
                pass
        self.restart_clock()

    @property
    def speed(self) -> float:
        """Files: playback rate relative to the file's fps (``set_speed`` changes it)."""
        return self._clock.speed

    def set_speed(self, speed: float) -> None:
        """Files: play at ``speed`` times the file's frame rate (every frame is still processed)."""
        self._clock.set_speed(speed, self._cursor.seconds())

    def restart_clock(self) -> None:
        self._clock.restart(self._cursor.seconds())

    def due_in(self) -> float:
        """Seconds until the next packet should be read (0: now). Cameras are always due."""
        if self.source is None or self.source.is_live:
            return 0.0
        return self._clock.due_in(self._cursor.seconds())

    # -- frames ----------------------------------------------------------------------------

    def advance(self) -> int:
        """Read one packet and process it: the number of frames sent, or -1 at the end or on failure."""
        session = self.session
        if not self._cursor.is_open or session is None:
            return -1
        packet = self._cursor.next_packet()
        if packet is None:
            self._end_of_stream()
            return -1
        try:
            results = session.feed(packet)
        except Exception as e:  # an engine bug must not end the app: tell the user once, log the traceback
            log.exception("tracking failed on frame %d", packet.index)
            self.set_playing(False)
            self.stop_recording(error=f"{type(e).__name__}: {e}")
            self.listener.failed("Tracking failed", f"Frame {packet.index}: {type(e).__name__}: {e}")
            return -1
        for result in results:
            self._send(result)
        if session.error is not None:
            self.stop_recording()  # a write failed (full disk...): run.json says so
        return len(results)

    def flush_to_screen(self) -> None:
        """Show the frames the smoother holds (they belong before a recording that starts now)."""
        if self.session is not None:
            for result in self.session.flush():
                self._send(result)

    def _send(self, result: FrameResult) -> None:
        self._remarks.frame(bool(result.faces), self.options.no_face_frames, self.source)
        self.last_result = result
        arrays = display_arrays(result, self.analyzer.face_model,  # here, off the GUI thread
                                self.options.config.eyes.closed_below)
        self.listener.frame(ShownFrame(result, arrays, self._cursor.read_time(result.index)))

    def _end_of_stream(self) -> None:
        source = self.source
        assert source is not None and self.session is not None
        with self._remarks.source_ending():
            # A recording exports and shows the frames the smoother held (then tracking goes on
            # in a session without files, already flushed); otherwise they are shown here.
            self.stop_recording(at_end=True)
            assert self.session is not None
            for result in self.held.to_show(self.session.flush()):
                self._send(result)
        self._cursor.at_end = True
        looping = self.loop and self.playing and not source.is_live and not source.error
        if not looping:
            self.set_playing(False)
        self._remarks.ended(source, self.read)
        if source.is_live:  # a camera that stopped is gone; the user picks another source
            self.close()
        elif looping:
            if self.rewind(0):
                self.restart_clock()
            else:
                self.set_playing(False)

    def rewind(self, index: int) -> bool:
        """Files: position the source so the next packet is frame ``index`` (clamped to the last).

        A jump is a cut: the tracker and the smoother start over."""
        self.held.clear()
        assert self.source is not None and self.session is not None
        try:
            self._cursor.move_to(index, self._should_stop, self.listener.frame_count_known)
        except MoveFailed as e:
            self.listener.failed(e.title, e.message)
            if e.source_lost:
                self.close()
            return False
        self._sessions.cut()
        return True

    # -- recording -------------------------------------------------------------------------

    def start_recording(self, folder: Path, exports: ExportOptions, from_start: bool) -> None:
        """Record into ``folder`` from the next frame read (``from_start``: files restart at frame 0).

        The recording is an engine Session with tracking restarted on its first frame, so it
        writes what ``tracker-app track`` writes from that frame on."""
        if self.source is None:
            self.listener.failed("Nothing to record", "Open a video or a camera first.")
            return
        self.stop_recording()
        if from_start and not self.source.is_live:
            if not self.rewind(0):
                return
        else:
            self.flush_to_screen()
        self._sessions.record(Path(folder), exports)

    def stop_recording(self, notify: bool = True, at_end: bool = False, error: str | None = None) -> None:
        """Finish the recording: held frames exported (and shown), files closed, run.json final
        (see ``ActiveRecording.finish``); ``at_end``: the source ended, ``error``: tracking failed."""
        self._sessions.stop_recording(self.source, self._send if notify else None, at_end, error)
