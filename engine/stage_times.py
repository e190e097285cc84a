"""Per-stage times of a run in constant memory: the mean exactly, the median from a histogram.

    times = StageTimes(("decode", "detect"))      # engine.choices.Stage names
    times.add({"decode": 1.7, "detect": 0.0})     # one frame's timings_ms
    times.medians(), times.means()                 # {stage: ms}, as run.json's summary reports them

A session used to keep every frame's time of every stage to take the median at the end:
about 90 bytes per frame, 80 MB over an eight-hour webcam session in the window. A
histogram of ``BINS_PER_DECADE`` bins per decade (a step of 1.2 %) over
``MIN_MS``..``MAX_MS`` holds the same medians to within 0.6 % (the bin's geometric middle),
at a fixed 8 KB per stage; times under ``MIN_MS`` (a stage that did nothing) count in a
bin of their own, valued 0.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from engine.choices import Stage

MIN_MS = 1e-3  # below: the stage did not run (a skipped detector reads 0.0)
MAX_MS = 1e6  # above: counted in the last bin (a stall of over 16 minutes)
BINS_PER_DECADE = 200
_DECADES = round(math.log10(MAX_MS / MIN_MS))
_BINS = _DECADES * BINS_PER_DECADE


class StageTimes:
    """Running totals and a log-spaced histogram per stage."""

    def __init__(self, stages: Iterable[Stage]) -> None:
        self._stages = tuple(stages)
        self._counts = np.zeros((len(self._stages), _BINS + 1), np.int64)  # column 0: under MIN_MS
        self._sums = np.zeros(len(self._stages))
        self.frames = 0

    def add(self, timings_ms: Mapping[Stage, float]) -> None:
        """One frame's times; a stage missing from ``timings_ms`` took 0 ms."""
        for row, stage in enumerate(self._stages):
            ms = float(timings_ms.get(stage, 0.0))
            self._sums[row] += ms
            self._counts[row, _bin(ms)] += 1
        self.frames += 1

    def means(self) -> dict[Stage, float]:
        if not self.frames:
            return {s: 0.0 for s in self._stages}
        return {s: float(self._sums[row] / self.frames) for row, s in enumerate(self._stages)}

    def medians(self) -> dict[Stage, float]:
        """The median of each stage (each value read as its bin's middle; for an even count, the
        mean of the two middle ones, as ``statistics.median``)."""
        if not self.frames:
            return {s: 0.0 for s in self._stages}
        ranks = ((self.frames - 1) // 2, self.frames // 2)  # 0-based ranks of the middle values
        out = {}
        for row, s in enumerate(self._stages):
            bins = np.searchsorted(np.cumsum(self._counts[row]), ranks, side="right")
            out[s] = 0.5 * (_value(int(bins[0])) + _value(int(bins[1])))
        return out


def _bin(ms: float) -> int:
    if not ms >= MIN_MS:  # NaN too
        return 0
    return min(int(math.log10(ms / MIN_MS) * BINS_PER_DECADE), _BINS - 1) + 1


def _value(k: int) -> float:
    """The geometric middle of bin ``k`` (0 for the bin under ``MIN_MS``)."""
    if k == 0:
        return 0.0
    return MIN_MS * 10 ** ((k - 1 + 0.5) / BINS_PER_DECADE)
