#!/usr/bin/env python3
"""Tracking benchmark on obama_pingpong.mp4 (440 frames), printed as one table.

    python bench/bench_tracking.py [--video PATH] [--threads N] [--repeats R]

Configurations (the same as the upstream figures quoted in the README):

* tracking loop, sparse / dense: ``TrackingPipeline.process`` on frames decoded
  beforehand (decoding excluded), per stage;
* full runs: decode + track + smooth + overlay + write an MJPG video, with
  landmarks (dense off) and with the dense mesh rendered (engine.render);
* detector calls, face checks;
* the face search for new faces: the detector's amortised ms per frame and its share
  of a whole `track` run (decode + track + smooth + faces.csv, what the CLI does by
  default), for the configured schedule and a few others (every N frames, on the
  frame shrunk to W px or whole);
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
from engine.choices import STAGES  # noqa: E402
from engine.pipeline import TrackingPipeline  # noqa: E402
from engine.video_source import open_source  # noqa: E402

# Upstream 3DDFA_V2 measured on this machine with the same weights (DATA.md).
UPSTREAM = {"sparse loop": 0.66, "dense loop": 7.2, "landmark video run": 30.0, "dense mesh video run": 57.0}


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
    """Decode + track + look-ahead smoothing + overlay + MJPG video (engine.session): wall ms per
    frame, and the detector's amortised ms per frame."""
    from engine.session import ExportOptions, SessionOptions, run_session

    options = SessionOptions(dense=dense, smoother="lookahead",
                             exports=ExportOptions(table=False, video=True, render=("mesh",) if render_mesh else (),
                                                   overwrite=True))
    detect_ms: list[float] = []
    t0 = time.perf_counter()
    with open_source(path) as source:
        summary = run_session(source, analyzer, options, out_dir,
                              on_result=lambda r: detect_ms.append(r.timings_ms.get("detect", 0.0)))
    return (time.perf_counter() - t0) * 1000 / summary.frames, sum(detect_ms) / summary.frames


def run_table(analyzer, path: Path, out_dir: Path, tracker_config) -> dict[str, float]:
    """A default `track` run (decode, track, look-ahead, faces.csv), fed frame by frame
    through the one session core (engine.session.Session).

    The machine is shared, so the search's cost is measured against its neighbours: the
    wall time of each frame with a face search minus the mean of the frames just before
    and after it (no detector on either), median over the run. ``frame_ms``: median wall
    time of the frames without a detector run (decode included)."""
    from engine.session import ExportOptions, Session, SessionOptions, SourceDescription

    config = dataclasses.replace(analyzer.config, tracker=tracker_config)
    options = SessionOptions(smoother="lookahead", config=config, exports=ExportOptions(table=True, overwrite=True))
    per_frame: list[tuple[float, str]] = []  # (wall ms, "none" | "search" | "detect")
    cpu_frame: list[float] = []  # CPU ms of the process, decode included
    c0 = time.process_time()
    with open_source(path) as source:
        session = Session(analyzer, options, out_dir, SourceDescription.of(source))
        tracker = session.pipeline.tracker
        # from the end of one frame to the end of the next: decoding the frame included
        t, c = time.perf_counter(), time.process_time()
        for packet in source:
            searches, detections = tracker.search_calls, tracker.detector_calls
            session.feed(packet)
            t_end, c_end = time.perf_counter(), time.process_time()
            cpu_frame.append((c_end - c) * 1000)
            per_frame.append(((t_end - t) * 1000, "detect" if tracker.detector_calls > detections else
                              "search" if tracker.search_calls > searches else "none"))
            t, c = t_end, c_end
        summary = session.finish()
        stats = session.pipeline.stats
    frames = summary.frames
    paired = [i for i, (_, kind) in enumerate(per_frame[1:-1], start=1)
              if kind == "search" and per_frame[i - 1][1] == per_frame[i + 1][1] == "none"]
    extra = [per_frame[i][0] - (per_frame[i - 1][0] + per_frame[i + 1][0]) / 2 for i in paired]
    extra_cpu = [cpu_frame[i] - (cpu_frame[i - 1] + cpu_frame[i + 1]) / 2 for i in paired]
    plain = [i for i, (_, kind) in enumerate(per_frame) if kind == "none"]
    return {"frame_ms": median([per_frame[i][0] for i in plain]), "search_ms": median(extra),
            "frame_cpu_ms": median([cpu_frame[i] for i in plain]), "search_cpu_ms": median(extra_cpu),
            "cpu_ms": (time.process_time() - c0) * 1000 / frames,
            "searches": stats.search_calls, "detections": stats.detector_calls}


def schedule_name(every: int, width: int) -> str:
    if every <= 0:
        return "no search"
    return f"every {every} frames, " + (f"frame shrunk to {width} px" if width else "whole frame")


def print_search_table(analyzer, video: Path, config, repeats: int) -> None:
    """The face search's cost per search (shrunk and whole frame, measured in default `track`
    runs), amortised over each schedule, and its share of the run's per-frame cost."""
    tc = config.tracker
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for width in (tc.search_max_width, 0):
            cfg = dataclasses.replace(tc, search_max_width=width)
            runs[width] = min((run_table(analyzer, video, Path(tmp) / f"t{width}_{j}", cfg)
                               for j in range(max(1, repeats))), key=lambda x: x["frame_ms"])
    frame_ms = runs[tc.search_max_width]["frame_ms"]
    r = runs[tc.search_max_width]
    print(f"default track run (decode + track + look-ahead + faces.csv): {frame_ms:.2f} ms per frame without a "
          f"detector run (median), {r['cpu_ms']:.2f} CPU ms per frame overall; one face search costs "
          f"{r['search_ms']:.2f} ms at {tc.search_max_width} px wide, {runs[0]['search_ms']:.2f} ms on the whole "
          f"frame (frame with a search minus its neighbours, median); configured run: {r['detections']} "
          f"whole-frame detections + {r['searches']} searches")
    frame_cpu = r["frame_cpu_ms"]
    print(f"CPU time: {frame_cpu:.2f} ms per frame without a detector run, one search {r['search_cpu_ms']:.2f} ms, "
          f"whole frame {runs[0]['search_cpu_ms']:.2f} ms")
    print("| face search (new faces) | found within | detector ms/frame (amortised) | detector share of the run "
          "| detector CPU ms/frame (amortised) | CPU share |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    w = tc.search_max_width
    schedules = list(dict.fromkeys([(tc.detect_every, w), (0, 0), (1, w), (3, w), (5, w), (10, w), (1, 0),
                                    (tc.detect_every, 0)]))
    for k, (every, width) in enumerate(schedules):
        amortised = runs[width]["search_ms"] / every if every > 0 else 0.0
        amortised_cpu = runs[width]["search_cpu_ms"] / every if every > 0 else 0.0
        name = schedule_name(every, width) + (" (configured)" if k == 0 else "")
        within = f"{every} frames" if every > 0 else "never"
        print(f"| {name} | {within} | {amortised:.2f} | {100 * amortised / (frame_ms + amortised):.0f} % "
              f"| {amortised_cpu:.2f} | {100 * amortised_cpu / (frame_cpu + amortised_cpu):.0f} % |")


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
    parser.add_argument("--search-only", action="store_true", help="only the face-search schedule table")
    args = parser.parse_args(argv)

    config = EngineConfig.load()
    analyzer = FaceAnalyzer.from_config(config, threads=args.threads)
    packets, decode_ms = decode_all(args.video)
    n = len(packets)
    print(f"{args.video.name}: {n} frames {packets[0].image.shape[1]}x{packets[0].image.shape[0]}, "
          f"{analyzer.config.runtime.effective_threads()} onnxruntime threads; decode {decode_ms:.2f} ms/frame")
    run_loop(analyzer, packets[:30], False, "off")  # warm-up
    if args.search_only:
        print_search_table(analyzer, args.video, config, args.repeats)
        return 0

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
        video_lm = min(run_video(analyzer, args.video, False, False, Path(tmp) / f"a{k}")
                       for k in range(max(1, args.repeats)))
        video_dense = min(run_video(analyzer, args.video, True, True, Path(tmp) / f"b{k}")
                          for k in range(max(1, args.repeats)))

    print()
    search = schedule_name(config.tracker.detect_every, config.tracker.search_max_width)
    print(f"face search: {search}")
    print("| configuration | ms/frame (median) | fps | upstream ms/frame | speed-up "
          "| detector ms/frame (amortised; share of the mean frame) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")

    def loop_row(key: str, up: str):
        return key, loops[key]["median"], up, loops[key]["stages_mean"]["detect"], loops[key]["mean"]

    rows = [loop_row("sparse loop (no smoothing)", "sparse loop"), loop_row("sparse loop + look-ahead", "sparse loop"),
            loop_row("dense loop + look-ahead", "dense loop"),
            ("landmark video run (decode+track+overlay+MJPG)", video_lm[0], "landmark video run", video_lm[1],
             video_lm[0]),
            ("dense mesh video run (+ rendered mesh)", video_dense[0], "dense mesh video run", video_dense[1],
             video_dense[0])]
    for name, ms, up, det, mean_ms in rows:
        print(f"| {name} | {ms:.2f} | {1000 / ms:.0f} | {UPSTREAM[up]:.2f} | {UPSTREAM[up] / ms:.1f}x | "
              f"{det:.2f} ({100 * det / mean_ms:.0f} %) |")

    print()
    print("| stage (median / mean ms per frame) | " + " | ".join(STAGES) + " |")
    print("| --- |" + " ---: |" * len(STAGES))
    for name, r in loops.items():
        cells = [f"{r['stages'][k]:.3f} / {r['stages_mean'][k]:.3f}" for k in STAGES]
        cells[0] = f"{decode_ms:.2f} (excl.)"
        print(f"| {name} | " + " | ".join(cells) + " |")

    print()
    print_search_table(analyzer, args.video, config, args.repeats)
    print()
    s = loops["sparse loop (no smoothing)"]["stats"]
    print(f"detector calls: {s.detector_calls} whole-frame + {s.search_calls} face searches in {n} frames; "
          f"scene cuts {s.scene_cuts}; face checks (FaceBoxes on the 128x128 ROI): "
          f"{s.verify_calls}; tracks started {s.tracks_started}, lost {s.tracks_lost}; "
          f"frames with one face {sum(len(r.faces) == 1 for r in loops['sparse loop (no smoothing)']['results'])}")

    raw = landmarks_of(loops["sparse loop (no smoothing)"]["results"])
    j_raw = jitter(raw)
    fps = 25.0
    print()
    print("| smoother | jitter (px) | vs none | buffering delay | measured lag |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
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
