"""The live blink counter: blinks of each person in the frames shown since the source opened.

Counted by ``engine.eye_stats`` from every frame the window shows (the frames the
exports get, filtered), so the counter and a recording's run.json agree on what a blink
is: a run of frames with both eyes' mean openness under ``eyes.closed_below``. A person
is counted over all their tracks (re-identified across cuts and gaps). Files: a frame
that is not after the last one counted (a seek back, a step back, a loop) starts the
count again from it, so no frame is counted twice. No Qt.
"""
from __future__ import annotations

from engine.config import EyesConfig
from engine.eye_stats import EyeStats
from engine.frames import FrameResult

STATS_FPS = 25.0  # EyeStats needs a rate for its summaries; a count does not depend on it


class BlinkCounter:
    """``add`` every frame shown, in order; ``blinks(person_id)`` at any time (constant cost)."""

    def __init__(self, config: EyesConfig) -> None:
        self.config = config
        self.since = 0  # index of the first frame counted
        self._last: int | None = None
        self._stats = EyeStats(config, STATS_FPS)
        self._tracks: dict[int, set[int]] = {}  # person -> their track ids

    def reset(self, since: int = 0) -> None:
        self.since = since
        self._last = None
        self._stats = EyeStats(self.config, STATS_FPS)
        self._tracks = {}

    def add(self, result: FrameResult) -> None:
        if self._last is not None and result.index <= self._last:
            self.reset(result.index)
        self._last = result.index
        self._stats.add(result)
        for tf in result.faces:
            self._tracks.setdefault(tf.person_id, set()).add(tf.track_id)

    def blinks(self, person_id: int) -> int:
        return sum(self._stats.blinks(track) for track in self._tracks.get(person_id, ()))
