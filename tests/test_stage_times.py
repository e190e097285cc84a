"""run.json's per-stage medians and means come from constant memory (engine.stage_times)
and match the exact figures of the frames' own timings."""
from __future__ import annotations

import statistics
import tracemalloc

import numpy as np
import pytest

from engine.analyzer import FaceAnalyzer
from engine.choices import EXPORT_STAGE, STAGES
from engine.frames import FrameResult
from engine.session import SessionOptions, run_session
from engine.stage_times import BINS_PER_DECADE, StageTimes
from engine.video_source import open_source

BIN_RATIO = 10 ** (1 / BINS_PER_DECADE)  # a bin's width: a value is read as its bin's middle


def test_summary_times_match_the_frames_timings(weights_dir, media_dir) -> None:
    """A real run (obama_pingpong.mp4, 440 frames): the summary's median and mean of every stage
    against statistics.median and the mean of the times each frame carried."""
    seen: list[dict[str, float]] = []

    def keep(result: FrameResult) -> None:
        seen.append(dict(result.timings_ms))

    source = open_source(media_dir / "obama_pingpong.mp4")
    summary = run_session(source, FaceAnalyzer.from_config(threads=1), SessionOptions(pipelined=False), None,
                          on_result=keep)
    assert summary.frames == len(seen) == 440
    for stage in (*STAGES, EXPORT_STAGE):
        values = [t.get(stage, 0.0) for t in seen]
        exact = statistics.median(values)
        assert summary.ms_per_frame_mean[stage] == pytest.approx(np.mean(values), abs=1e-3), stage
        # within one bin (plus the summary's rounding to 3 decimals); 0 stays 0
        assert summary.ms_per_frame_median[stage] == pytest.approx(exact, rel=BIN_RATIO - 1, abs=1e-3), stage
    assert summary.ms_per_frame_median["regress"] > 0 and summary.ms_per_frame_median["detect"] == 0.0


def test_memory_does_not_grow_with_the_frames() -> None:
    """Eight hours at 30 fps used to take 80 MB of per-frame times; now a fixed histogram."""
    times = StageTimes(STAGES)
    rng = np.random.default_rng(0)
    frame = {s: float(v) for s, v in zip(STAGES, rng.lognormal(0.0, 1.0, len(STAGES)))}
    times.add(frame)
    tracemalloc.start()
    for _ in range(100_000):
        times.add(frame)
    grown, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert times.frames == 100_001
    assert grown < 50_000, f"{grown} bytes kept for 100,000 frames"
    assert times.medians()["decode"] == pytest.approx(frame["decode"], rel=BIN_RATIO - 1)
