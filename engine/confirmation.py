"""Hold frames until their tentative faces are decided: no phantom in any output.

    gate = ConfirmationGate(hold_frames=2)
    for result in gate.push(result):    # results leave hold_frames frames later
        ...
    gate.flush()                        # at the end of the stream

A new track is tentative for its first frames (``engine.tracker``). The gate keeps the
last ``hold_frames`` results; when a result leaves, each of its faces is kept if its
track was confirmed by then (its tentative frames are back-filled: one row per face per
frame), and removed if the track was dropped. Faces also leave with their track's
latest person: a person recognised a frame or two after a track was confirmed labels
those first frames too. With ``hold_frames`` 0 (live use, no delay) tentative faces
are simply not shown.
"""
from __future__ import annotations

import dataclasses
from collections import deque

from engine.frames import FrameResult


class ConfirmationGate:
    """Delays results by ``hold_frames`` and keeps only confirmed faces."""

    def __init__(self, hold_frames: int) -> None:
        self.hold_frames = max(0, int(hold_frames))
        self._held: deque[FrameResult] = deque()
        self._confirmed: set[int] = set()
        self._person: dict[int, int] = {}

    @property
    def delay_frames(self) -> int:
        return self.hold_frames

    def reset(self) -> None:
        self._held.clear()
        self._confirmed.clear()
        self._person.clear()

    def push(self, result: FrameResult) -> list[FrameResult]:
        """Take the newest result; return the results that leave the gate (oldest first)."""
        for tf in result.faces:
            if tf.confirmed:
                self._confirmed.add(tf.track_id)
                self._person[tf.track_id] = tf.person_id
        self._held.append(result)
        out = []
        while len(self._held) > self.hold_frames:
            out.append(self._release(self._held.popleft()))
        return out

    def flush(self) -> list[FrameResult]:
        """End of stream: everything held. Tracks still tentative now were never confirmed."""
        out = [self._release(r) for r in self._held]
        self._held.clear()
        return out

    def _release(self, result: FrameResult) -> FrameResult:
        faces = [dataclasses.replace(tf, person_id=self._person[tf.track_id], confirmed=True)
                 for tf in result.faces if tf.track_id in self._confirmed]
        return dataclasses.replace(result, faces=faces)
