"""When a playback says that it finds no face: after a run of frames without one, or at the end
of a source that never showed one; at most once per source (the user is told, not nagged)."""
from __future__ import annotations


class NoFaceWatch:
    """Counts the frames without a face of one source; ``reset`` for the next source."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._run = 0  # frames without a face in a row
        self._any_face = False
        self._said = False

    def note(self, has_face: bool, after: int) -> int | None:
        """A frame, with a face or not. Returns the run of frames without one when it is time to
        say so (the run reached ``after`` frames, and nothing was said for this source yet)."""
        if has_face:
            self._any_face, self._run = True, 0
            return None
        self._run += 1
        if self._run < after or self._said:
            return None
        self._said = True
        return self._run

    def ended_without_faces(self, frames_read: int) -> bool:
        """At the source's end: True (once) when it had frames and none showed a face, unless a
        run without faces was already said."""
        if self._any_face or self._said or not frames_read:
            return False
        self._said = True
        return True
