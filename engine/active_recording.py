"""A recording in progress in the app: the folder and the session that writes it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.session import Session
    from engine.video_source import VideoSource


@dataclass(frozen=True)
class ActiveRecording:
    """A recording in progress: ``session`` writes ``folder``. While it lasts it is the session
    that tracks the source (``Playback.session``), so the files hold exactly what was tracked."""

    folder: Path
    session: Session

    def finish(self, source: VideoSource | None, at_end: bool, error: str | None) -> str | None:
        """Close the files and make run.json final; the frames the smoother held were flushed first.

        Stopped before the source's end without an ``error``, the run is ``interrupted`` (kept,
        not complete). Returns a write failure to tell the user (None: none, or only the
        source's own error, which the user is told of anyway)."""
        source_error = source.error if source is not None else None
        self.session.finish(interrupted=not at_end and error is None,
                            error=error or (source_error if at_end else None),
                            warning=source.warning if source is not None else None,
                            ending=source.ending() if source is not None else None)
        failure = self.session.error
        return failure if failure is not None and failure != source_error else None
