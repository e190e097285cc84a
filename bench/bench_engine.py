#!/usr/bin/env python3
"""Engine stage timings: detector on a 720p frame, regressor per face, sparse and
dense reconstruction, at 1, 2 and 4 onnxruntime threads (capped at the CPU count).

    python bench/bench_engine.py [--runs 50]

Prints medians in ms and each stage's cost relative to the 1-thread detector, so
figures from this shared, noisy machine are compared within one run.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from engine.analyzer import FaceAnalyzer
from engine.config import DEFAULT_DATA_DIR, EngineConfig
from engine.image_input import read_image
from engine.roi import roi_from_box


def median_ms(fn, runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def first_video_frame(path: Path) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"cannot read {path}")
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args()
    frame = first_video_frame(args.data / "media" / "obama.mp4")  # 1280x720, one face
    emma = read_image(str(args.data / "media" / "emma.jpg"))  # three faces, for batching
    rows = []
    for threads in (1, 2, 4):
        config = EngineConfig.load().with_threads(threads)
        analyzer = FaceAnalyzer.from_config(config)
        effective = config.runtime.effective_threads()
        (det,) = analyzer.detector.detect(frame)
        cfg = config.regressor
        roi = roi_from_box(det.box, cfg.roi_shift, cfg.roi_scale)
        crop = analyzer.regressor.crop(frame, roi)[None]
        params = analyzer.regressor.run(crop)[0]
        emma_rois = [roi_from_box(d.box, cfg.roi_shift, cfg.roi_scale) for d in analyzer.detector.detect(emma)]
        model = analyzer.face_model
        stages = {
            "detector, 1280x720 frame": lambda: analyzer.detector.detect(frame),
            "crop 120x120": lambda: analyzer.regressor.crop(frame, roi),
            "regressor, 1 face": lambda: analyzer.regressor.run(crop),
            f"regressor, batch of {len(emma_rois)} (per face)": None,
            "sparse reconstruction (68 pts)": lambda: model.landmarks(params, roi),
            "dense reconstruction (38,365 pts)": lambda: model.dense_vertices(params, roi),
            "head pose": lambda: model.head_pose(params),
            "analyze(), 1 face, sparse": lambda: analyzer.analyze(frame),
        }
        for name, fn in stages.items():
            if fn is None:
                ms = median_ms(lambda: analyzer.regressor.regress(emma, emma_rois), args.runs) / len(emma_rois)
            else:
                ms = median_ms(fn, args.runs)
            rows.append((name, threads, effective, ms))
    base = next(ms for name, t, _, ms in rows if t == 1 and name.startswith("detector"))
    print(f"\nEngine stages, median of {args.runs} runs (ratio = stage / 1-thread detector)\n")
    print(f"{'stage':40s} {'threads':>8s} {'used':>5s} {'ms':>9s} {'ratio':>7s}")
    print("-" * 73)
    for name, threads, effective, ms in rows:
        print(f"{name:40s} {threads:8d} {effective:5d} {ms:9.3f} {ms / base:7.3f}")


if __name__ == "__main__":
    main()
