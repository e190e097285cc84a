#!/usr/bin/env python3
"""What the eyes cost per face and frame (engine.eyes + engine.eye_filter), printed as one table.

    python bench/bench_eyes.py [--data DIR]

The faces are tracked (not timed); on one thread (OpenCV's own threads off, one
onnxruntime thread), each face-frame then runs what the pipeline adds for the eyes: the image
measure of both eyes, the person's calibration and gaze (``EyeEstimator.estimate``),
and the eye filter (``EyeFilter.apply``). Inputs: obama_pingpong.mp4 (one 1280x720 face,
eyes about 35 px wide) and crowd.mp4 (1920x1080, up to a dozen faces with eyes of 2 to
19 px). CPU time of the measuring thread (``time.thread_time``: the decoder's threads
run beside it) per face-frame beside wall time; peak RSS.
No assertion: a report (the README quotes it). The budget is 1 ms of CPU per face-frame.
"""
from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402

from engine.analyzer import FaceAnalyzer  # noqa: E402
from engine.config import DEFAULT_DATA_DIR  # noqa: E402
from engine.eye_filter import EyeFilter  # noqa: E402
from engine.eyes import EyeEstimator  # noqa: E402
from engine.pipeline import TrackingPipeline  # noqa: E402
from engine.video_source import open_source  # noqa: E402


def time_eyes(analyzer: FaceAnalyzer, path: Path) -> dict[str, float]:
    """Track ``path`` (eyes off, not timed) and time the eyes on each frame as it comes: no
    frames are held (a 1080p frame is 6 MB)."""
    config = dataclasses.replace(analyzer.config, eyes=dataclasses.replace(analyzer.config.eyes, enabled=False))
    pipeline = TrackingPipeline(analyzer, config, smoother="off")
    estimator, eye_filter = EyeEstimator(analyzer.config.eyes), EyeFilter(analyzer.config.eyes)
    cpu = wall = 0.0
    faces = frames = 0
    per_frame: list[float] = []
    with open_source(path, decoder_threads=1) as source:  # one FFmpeg thread: less beside the timed one
        for packet in source:
            for r in pipeline.process(packet):
                c0, w0 = time.thread_time(), time.perf_counter()
                measured = [dataclasses.replace(tf, face=dataclasses.replace(
                    tf.face, eyes=estimator.estimate(tf.track_id, packet.image, tf.face))) for tf in r.faces]
                eye_filter.apply(dataclasses.replace(r, faces=measured))
                dc, dw = time.thread_time() - c0, time.perf_counter() - w0
                cpu, wall = cpu + dc, wall + dw
                faces += len(r.faces)
                frames += 1
                if r.faces:
                    per_frame.append(dc * 1000 / len(r.faces))
    return {"faces": faces, "frames": frames, "cpu_mean": cpu * 1000 / max(faces, 1),
            "cpu_median": statistics.median(per_frame) if per_frame else 0.0,
            "wall_mean": wall * 1000 / max(faces, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(DEFAULT_DATA_DIR))
    args = parser.parse_args()
    cv2.setNumThreads(1)
    analyzer = FaceAnalyzer.from_config(threads=1)
    media = args.data / "media"
    rows = [(name, time_eyes(analyzer, path)) for name, path in (
        ("obama_pingpong.mp4", media / "obama_pingpong.mp4"), ("crowd.mp4", media / "footage" / "crowd.mp4"))]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| input | frames | face-frames | eyes CPU ms per face-frame (mean / median of frames) "
          "| wall ms per face-frame (mean) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in rows:
        print(f"| {name} | {r['frames']} | {r['faces']} | {r['cpu_mean']:.3f} / {r['cpu_median']:.3f} "
              f"| {r['wall_mean']:.3f} |")
    print(f"\npeak RSS of the benchmark process {peak_mb:.0f} MB (tracking and frames held included); "
          "budget: 1 ms of CPU per face-frame, one core")


if __name__ == "__main__":
    main()
