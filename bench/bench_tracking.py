#!/usr/bin/env python3
"""Tracking benchmark on obama_pingpong.mp4 (440 frames), printed as one table.

    python bench/bench_tracking.py [--video PATH] [--threads N] [--repeats R]

Configurations (the same as the upstream figures quoted in the README):

* tracking loop, sparse / dense: ``TrackingPipeline.process`` on frames decoded
  beforehand (decoding excluded), per stage;
* full runs: decode + track + smooth + overlay + write an MJPG video, with
  landmarks (dense off) and with the dense mesh rendered (engine.render);
* detector calls, face checks;
* jitter: mean magnitude of the second difference of the 68 landmarks (px) with
  no smoothing, the look-ahead window and the One Euro filter, with the delay
  each adds (frames of buffering) and the lag it shows (shift in frames that best
  aligns the smoothed landmark centroid with the raw one).

Medians of per-frame times; with --repeats R each configuration runs R times and
the best median is kept (the machine may be shared). No assertion: a report.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.analyzer import FaceAnalyzer  # noqa: E402
from engine.config import DEFAULT_DATA_DIR, EngineConfig  # noqa: E402
from engine.frames import FramePacket  # noqa: E402
from engine.pipeline import TrackingPipeline  # noqa: E402
from engine.video_source import open_source  # noqa: E402

# Upstream 3DDFA_V2 measured on this machine with the same weights (DATA.md).
UPSTREAM = {"sparse loop": 0.66, "dense loop": 7.2, "landmark video run": 30.0, "dense mesh video run": 57.0}
STAGES = ("decode", "detect", "regress", "verify", "smooth", "reconstruct")


def median(values) -> float:
    return float(statistics.median(values)) if values else 0.0


def decode_all(path: Path) -> tuple[list[FramePacket], float]:
    packets, times = [], []
    with open_source(path) as source:
        for p in source:
            packets.append(p)
            times.append(p.decode_ms)
    return packets, median(times[1:])


def run_loop(analyzer, packets, dense: bool, smoother: str):
    """Pipeline on in-memory frames: per-frame wall ms (decode excluded) and stage medians."""
    pipeline = TrackingPipeline(analyzer, dense=dense, smoother=smoother)
    per_frame, results = [], []
    for p in packets:
        p = dataclasses.replace(p, decode_ms=0.0)
        t = time.perf_counter()
        out = pipeline.process(p)
        per_frame.append((time.perf_counter() - t) * 1000)
        results += out
    t = time.perf_counter()
    results += pipeline.flush()
    per_frame[-1] += (time.perf_counter() - t) * 1000
    stages = {k: median([r.timings_ms.get(k, 0.0) for r in results]) for k in STAGES}
    stages_mean = {k: float(np.mean([r.timings_ms.get(k, 0.0) for r in results])) for k in STAGES}
    return {"median": median(per_frame), "mean": float(np.mean(per_frame)), "stages": stages,
            "stages_mean": stages_mean, "results": results, "stats": pipeline.stats}


def run_video(analyzer, path: Path, dense: bool, render_mesh: bool, out_dir: Path):
    """Decode + track + look-ahead smoothing + overlay + MJPG video (engine.session): wall ms per frame."""
    from engine.session import ExportOptions, SessionOptions, run_session

    options = SessionOptions(dense=dense, smoother="lookahead",
                             exports=ExportOptions(table=False, video=True, render=("mesh",) if render_mesh else (),
                                                   overwrite=True))
    t0 = time.perf_counter()
    with open_source(path) as source:
        summary = run_session(source, analyzer, options, out_dir)
    return (time.perf_counter() - t0) * 1000 / summary.frames


def landmarks_of(results, track_id=1) -> np.ndarray:
    return np.array([next(tf.face.landmarks[:, :2] for tf in r.faces if tf.track_id == track_id)
                     for r in results])


def jitter(xy: np.ndarray) -> float:
    return float(np.linalg.norm(xy[2:] - 2 * xy[1:-1] + xy[:-2], axis=2).mean())


def lag_frames(raw: np.ndarray, smooth: np.ndarray) -> float:
    """Shift s (frames, 0..5) minimising |smooth(t) - raw(t - s)| on the landmark centroid."""
    c_raw, c_s = raw.mean(axis=1), smooth.mean(axis=1)
    t = np.arange(len(c_raw), dtype=float)
    best, best_err = 0.0, float("inf")
    for s in np.arange(-2.0, 5.01, 0.1):
        shifted = np.stack([np.interp(t - s, t, c_raw[:, k]) for k in range(2)], axis=1)
        err = float(np.abs(c_s[10:-10] - shifted[10:-10]).mean())
        if err < best_err:
            best, best_err = float(s), err
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_DATA_DIR / "media" / "obama_pingpong.mp4")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    config = EngineConfig.load()
    analyzer = FaceAnalyzer.from_config(config, threads=args.threads)
    packets, decode_ms = decode_all(args.video)
    n = len(packets)
    print(f"{args.video.name}: {n} frames {packets[0].image.shape[1]}x{packets[0].image.shape[0]}, "
          f"{analyzer.config.runtime.effective_threads()} onnxruntime threads; decode {decode_ms:.2f} ms/frame")
    run_loop(analyzer, packets[:30], False, "off")  # warm-up

    def best(fn, *a):
        runs = [fn(*a) for _ in range(max(1, args.repeats))]
        return min(runs, key=lambda r: r["median"] if isinstance(r, dict) else r)

    loops = {
        "sparse loop (no smoothing)": best(run_loop, analyzer, packets, False, "off"),
        "sparse loop + look-ahead": best(run_loop, analyzer, packets, False, "lookahead"),
        "sparse loop + One Euro": best(run_loop, analyzer, packets, False, "realtime"),
        "dense loop + look-ahead": best(run_loop, analyzer, packets, True, "lookahead"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        video_lm = min(run_video(analyzer, args.video, False, False, Path(tmp) / "a")
                       for _ in range(max(1, args.repeats)))
        video_dense = min(run_video(analyzer, args.video, True, True, Path(tmp) / "b")
                          for _ in range(max(1, args.repeats)))

    print()
    print("| configuration | ms/frame (median) | fps | upstream ms/frame | speed-up |")
    print("| --- | ---: | ---: | ---: | ---: |")
    rows = [("sparse loop (no smoothing)", loops["sparse loop (no smoothing)"]["median"], "sparse loop"),
            ("sparse loop + look-ahead", loops["sparse loop + look-ahead"]["median"], "sparse loop"),
            ("dense loop + look-ahead", loops["dense loop + look-ahead"]["median"], "dense loop"),
            ("landmark video run (decode+track+overlay+MJPG)", video_lm, "landmark video run"),
            ("dense mesh video run (+ rendered mesh)", video_dense, "dense mesh video run")]
    for name, ms, up in rows:
        print(f"| {name} | {ms:.2f} | {1000 / ms:.0f} | {UPSTREAM[up]:.2f} | {UPSTREAM[up] / ms:.1f}x |")

    print()
    print("| stage (median / mean ms per frame) | " + " | ".join(STAGES) + " |")
    print("| --- |" + " ---: |" * len(STAGES))
    for name, r in loops.items():
        cells = [f"{r['stages'][k]:.3f} / {r['stages_mean'][k]:.3f}" for k in STAGES]
        cells[0] = f"{decode_ms:.2f} (excl.)"
        print(f"| {name} | " + " | ".join(cells) + " |")

    print()
    s = loops["sparse loop (no smoothing)"]["stats"]
    print(f"detector calls: {s.detector_calls} in {n} frames; face checks (FaceBoxes on the 128x128 ROI): "
          f"{s.verify_calls}; tracks started {s.tracks_started}, lost {s.tracks_lost}; "
          f"frames with one face {sum(len(r.faces) == 1 for r in loops['sparse loop (no smoothing)']['results'])}")

    raw = landmarks_of(loops["sparse loop (no smoothing)"]["results"])
    j_raw = jitter(raw)
    fps = 25.0
    print()
    print("| smoother | jitter (px) | vs none | buffering delay | measured lag |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| none | {j_raw:.3f} | - | 0 | 0 |")
    sm = config.smoother
    for name, key, delay in (("look-ahead", "sparse loop + look-ahead", sm.n_next),
                             ("One Euro", "sparse loop + One Euro", 0)):
        xy = landmarks_of(loops[key]["results"])
        print(f"| {name} | {jitter(xy):.3f} | {100 * (1 - jitter(xy) / j_raw):.0f} % lower | "
              f"{delay} frames ({1000 * delay / fps:.0f} ms) | {lag_frames(raw, xy):+.1f} frames |")
    print(f"\nlook-ahead: n_pre={sm.n_pre}, n_next={sm.n_next}, sigma={sm.sigma}; One Euro: "
          f"min_cutoff={sm.min_cutoff} Hz, beta={sm.beta}, d_cutoff={sm.d_cutoff} Hz")
    # dense reconstruction alone (one 115,095 x 50 GEMV + transform)
    face = loops["sparse loop (no smoothing)"]["results"][0].faces[0].face
    model = analyzer.face_model
    times = []
    for _ in range(200):
        t = time.perf_counter()
        model.dense_vertices(face.params, face.roi)
        times.append((time.perf_counter() - t) * 1000)
    print(f"dense reconstruction alone (FaceModel.dense_vertices): {median(times):.3f} ms median")
    return 0


if __name__ == "__main__":
    sys.exit(main())
