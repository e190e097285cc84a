"""What a playback remarks about its source: that no face is found (after a run of frames
without one, or at the end of a source that never showed one; at most once per source: the
user is told, not nagged), and how the source ended (an error, a warning, its length)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from engine.video_source import VideoSource


class RemarksListener(Protocol):
    """The remarks' part of ``engine.playback.PlaybackListener``."""

    def failed(self, title: str, message: str) -> None: ...

    def notice(self, message: str) -> None: ...

    def no_faces(self, message: str) -> None: ...

    def end_of_stream(self, frames_read: int) -> None: ...


class SourceRemarks:
    """Counts one source's frames without a face; ``reset`` for the next source."""

    def __init__(self, listener: RemarksListener) -> None:
        self.listener = listener
        self._ending = False  # the source's last frames are being flushed: nothing goes on any more
        self.reset()

    def reset(self) -> None:
        self._run = 0  # frames without a face in a row
        self._any_face = False
        self._said = False

    @contextmanager
    def source_ending(self) -> Iterator[None]:
        """Meanwhile the source's last frames are shown (a no-face remark does not say tracking goes on)."""
        self._ending = True
        try:
            yield
        finally:
            self._ending = False

    def frame(self, has_face: bool, after: int, source: VideoSource | None) -> None:
        """A frame shown, with a face or not: ``after`` frames without one in a row are said once."""
        if has_face:
            self._any_face, self._run = True, 0
            return
        self._run += 1
        if self._run >= after and not self._said and source:
            self._said = True
            goes_on = "" if self._ending else " Tracking goes on and picks up faces as soon as one appears."
            self.listener.no_faces(f"No face found in the last {self._run} frames of {source.description}.{goes_on}")

    def ended(self, source: VideoSource, frames_read: int) -> None:
        """The source ended after ``frames_read`` packets: its error or warning, no face in any of them."""
        if source.error:
            self.listener.failed("Camera stopped" if source.is_live else "Video ended early", source.error)
        elif source.warning:
            self.listener.notice(source.warning)
        if not self._any_face and not self._said and frames_read:
            self._said = True
            self.listener.no_faces(f"No face was found in {plural(frames_read, 'frame')} of {source.description}.")
        self.listener.end_of_stream(frames_read)


def plural(n: int, noun: str) -> str:
    """``"1 frame"``, ``"2 frames"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
