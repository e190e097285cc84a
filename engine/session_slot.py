"""Which ``engine.session.Session`` tracks a playback's open source, and the recording it writes.

One path for tracking and recording: while a recording lasts its session is the one that
tracks, so the files hold exactly what was shown. Each switch decides the pipeline's fate: a
restart or a recording's start closes it (new options, tracking restarted on the recording's
first frame); a cut (a seek) or a recording's end goes on with it (reset, or as it was)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from engine.active_recording import ActiveRecording

if TYPE_CHECKING:
    from engine.frames import FrameResult
    from engine.pipeline import TrackingPipeline
    from engine.session import ExportOptions, Session
    from engine.video_source import VideoSource


class SessionFactory(Protocol):
    """A session on the open source: no files without ``folder``; ``pipeline`` goes on tracking."""

    def __call__(self, folder: Path | None = None, exports: ExportOptions | None = None,
                 pipeline: TrackingPipeline | None = None) -> Session: ...


class RecordingListener(Protocol):
    """What the slot tells about recordings (``engine.playback.PlaybackListener`` does this)."""

    def failed(self, title: str, message: str) -> None: ...

    def recording_changed(self, folder: Path | None) -> None: ...


class SessionSlot:
    """The session that tracks (None: no source open) and the recording in progress."""

    def __init__(self, make: SessionFactory, listener: RecordingListener) -> None:
        self._make = make
        self.listener = listener
        self.session: Session | None = None
        self.recording: ActiveRecording | None = None

    @property
    def pipeline(self) -> TrackingPipeline | None:
        return self.session.pipeline if self.session is not None else None

    def restart(self) -> None:
        """A new session and pipeline (new options, or tracking restarted); the old pipeline closes."""
        old, self.session = self.session, self._make()
        if old is not None:
            old.pipeline.close()

    def cut(self) -> None:
        """Tracking and smoothing start over, in a fresh session (a flushed one is done)."""
        session = self.session
        assert session is not None
        session.pipeline.reset()
        self.session = self._make(pipeline=session.pipeline)

    def close(self) -> None:
        """The source closed: its pipeline closes (its embedding thread). ``Playback.close``
        stops a recording first."""
        if self.session is not None:
            self.session.pipeline.close()
        self.session = None

    def record(self, folder: Path, exports: ExportOptions) -> None:
        """A recording's session tracks from now on (tracking restarts on its first frame)."""
        try:
            recording = self._make(folder, exports)
        except (OSError, ValueError) as e:
            self.listener.failed("Cannot record", str(e))
            return
        if self.session is not None:
            self.session.pipeline.close()
        self.session = recording
        self.recording = ActiveRecording(folder, recording)
        self.listener.recording_changed(self.recording.folder)

    def stop_recording(self, source: VideoSource | None, show: Callable[[FrameResult], None] | None,
                       at_end: bool = False, error: str | None = None) -> None:
        """Finish the recording: the frames its smoother held exported (and to ``show``; None: told
        nothing), run.json final (``ActiveRecording.finish``). Tracking of an open ``source`` goes
        on, shown, in a session without files, on the same pipeline."""
        recording = self.recording
        if recording is None:  # while one lasts, its session is the one that tracks
            return
        self.session = self._make(pipeline=recording.session.pipeline) if source is not None else None
        try:
            for result in recording.session.flush():
                if show is not None:
                    show(result)
        finally:
            failure = recording.finish(source, at_end, error)
        self.recording = None
        if show is not None and failure is not None:
            self.listener.failed("Recording stopped", failure)
        if show is not None:
            self.listener.recording_changed(None)
