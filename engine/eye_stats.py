"""Blink statistics for researchers: blinks per minute, mean blink duration, PERCLOS.

    from engine.eye_stats import EyeStats
    stats = EyeStats(config.eyes, fps=25.0)
    for result in results:            # the exported (filtered) results, in frame order
        stats.add(result)
    stats.summary()                   # {"tracks": {...}, "people": {...}} for run.json

Per track, over the frames where its eyes were measured (``EyeState.valid``), from the
mean openness of both eyes (a blink closes both; one eye's value alone flickers on
a turned head):

* a *blink* is a run of at least ``blink_min_frames`` frames under ``closed_below``
  (``blink_events``, the one definition the tests use too);
* blinks per minute: blinks / the track's measured time (frames / fps) x 60;
* mean blink duration: the runs' mean length in seconds (frames / fps);
* PERCLOS: the share of measured frames with the eyes more than 80 % closed
  (openness under ``PERCLOS_OPENNESS``), the drowsiness measure of Wierwille et al. 1994.

The per-person summary adds up the tracks of each person (``person_id``: the tracker
re-identifies a returning person, engine.reid).
"""
from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.config import EyesConfig
from engine.frames import FrameResult, TrackedFace

PERCLOS_OPENNESS = 0.2  # "more than 80 % closed"


def blink_events(openness: np.ndarray, closed_below: float, min_frames: int = 1) -> list[tuple[int, int]]:
    """(first, last) frame positions of every run of ``openness < closed_below`` at least
    ``min_frames`` long; NaN (not measured) ends a run."""
    closed = np.asarray(openness, np.float64) < closed_below
    events: list[tuple[int, int]] = []
    start = -1
    for i, c in enumerate(closed.tolist() + [False]):
        if c and start < 0:
            start = i
        elif not c and start >= 0:
            if i - start >= min_frames:
                events.append((start, i - 1))
            start = -1
    return events


@dataclass
class _Series:
    # both eyes' mean, NaN when not measured; 8 bytes a frame (a list of floats takes 32)
    openness: array[float] = field(default_factory=lambda: array("d"))
    last_index: int | None = None
    # blinks(): openness[:settled] ends on a frame that is not closed, so its blinks (``counted``)
    # are final; a live counter then looks only at the frames since (constant cost per call).
    settled: int = 0
    counted: int = 0


class EyeStats:
    """Collects each track's openness from the results and summarises it (see the module notes)."""

    def __init__(self, config: EyesConfig, fps: float) -> None:
        self.config = config
        self.fps = float(fps) if fps > 0 else 25.0
        self._tracks: dict[int, _Series] = {}
        self._person: dict[int, int] = {}  # track -> person

    def add(self, result: FrameResult) -> None:
        for tf in result.faces:
            eyes = tf.face.eyes
            if eyes is None:
                continue
            series = self._tracks.setdefault(tf.track_id, _Series())
            self._person[tf.track_id] = person_of(tf)
            if series.last_index is not None and result.index > series.last_index + 1:
                series.openness.append(float("nan"))  # a gap: a blink does not span it
            valid = eyes.right.valid and eyes.left.valid
            series.openness.append(eyes.openness if valid else float("nan"))
            series.last_index = result.index

    def blinks(self, track_id: int) -> int:
        """Blinks of one track so far (the app's live blink counter)."""
        series = self._tracks.get(track_id)
        if series is None:
            return 0
        cfg = self.config
        tail = np.asarray(series.openness[series.settled:], np.float64)
        not_closed = np.flatnonzero(~(tail < cfg.closed_below))  # NaN too: it ends a run
        if len(not_closed):
            end = int(not_closed[-1]) + 1
            series.counted += len(blink_events(tail[:end], cfg.closed_below, cfg.blink_min_frames))
            series.settled += end
            tail = tail[end:]
        return series.counted + len(blink_events(tail, cfg.closed_below, cfg.blink_min_frames))

    def track_summary(self, openness: Sequence[float]) -> dict[str, float | int]:
        """The figures of one openness series (see the module notes)."""
        cfg = self.config
        o = np.asarray(openness, np.float64)
        measured = o[np.isfinite(o)]
        events = blink_events(o, cfg.closed_below, cfg.blink_min_frames)
        seconds = len(measured) / self.fps
        durations = [(b - a + 1) / self.fps for a, b in events]
        return {"frames_measured": int(len(measured)), "seconds_measured": round(seconds, 3),
                "blinks": len(events),
                "blinks_per_minute": round(len(events) / seconds * 60.0, 3) if seconds > 0 else 0.0,
                "mean_blink_duration_s": round(float(np.mean(durations)), 4) if durations else 0.0,
                "perclos": round(float(np.mean(measured < PERCLOS_OPENNESS)), 4) if len(measured) else 0.0,
                "mean_openness": round(float(np.mean(measured)), 4) if len(measured) else 0.0}

    def summary(self, resolve: Callable[[int], int] = lambda person_id: person_id) -> dict[str, object]:
        """run.json's "eyes": per track, and per person (tracks of one ID together).

        ``resolve`` maps an ID to the person it turned out to be (``PersonRegistry.resolve``):
        a track's last ID can be provisional when it ended before a merge."""
        tracks = {str(k): self.track_summary(s.openness) for k, s in sorted(self._tracks.items())}
        series: dict[int, array[float]] = {}
        for k, s in sorted(self._tracks.items()):  # a person's tracks, one after the other, a gap between
            person = series.setdefault(resolve(self._person[k]), array("d"))
            person.extend(s.openness)
            person.append(float("nan"))
        people = {str(p): {key: value for key, value in self.track_summary(o).items()
                           if key in ("blinks_per_minute", "mean_blink_duration_s", "perclos")}
                  for p, o in sorted(series.items())}
        return {"definition": {"blink": f"both eyes' mean openness < {self.config.closed_below} for at least "
                                        f"{self.config.blink_min_frames} frame(s)",
                               "perclos": f"share of measured frames with openness < {PERCLOS_OPENNESS}",
                               "fps": self.fps},
                "tracks": tracks, "people": people}


def person_of(tracked: TrackedFace) -> int:
    """The person a tracked face is (re-identified across tracks and cuts)."""
    return tracked.person_id
