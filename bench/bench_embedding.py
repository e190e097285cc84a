#!/usr/bin/env python3
"""Face embedding cost: ms per face for batches of 1, 4 and 8 at 1 and 2 onnxruntime
threads, chip extraction on its own, and dlib-bin's own network when it is installed.

    python bench/bench_embedding.py [--runs 20]

Every configuration runs in its own process, so its CPU time is its own. Chips are real:
the faces of the shared photos and of crowd.mp4's first frame, aligned from our
landmarks. Finding those faces loads the analyzer first, so the memory column is the
growth of the peak RSS from just before the network is loaded to the end of its runs
(the peak is reset through /proc/self/clear_refs on Linux). On this shared 2-core
machine wall times wait for other processes: CPU ms per face is the steadier figure.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.config import DEFAULT_DATA_DIR  # noqa: E402

PHOTOS = ("emma.jpg", "trump_hillary.jpg", "JianzhuGuo.jpg", "identity/couple.jpg", "identity/img1.jpg",
          "identity/img38.jpg")
BATCHES = (1, 4, 8)
THREADS = (1, 2)


def faces(data: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, landmarks) of every face in the photos, and of crowd.mp4's first frame."""
    import cv2

    from engine.analyzer import FaceAnalyzer
    from engine.image_input import read_image

    analyzer = FaceAnalyzer.from_config(threads=1)
    out = []
    for name in PHOTOS:
        image = read_image(data / "media" / name)
        out += [(image, f.landmarks) for f in analyzer.analyze(image)]
    cap = cv2.VideoCapture(str(data / "media" / "footage" / "crowd.mp4"))
    ok, frame = cap.read()
    cap.release()
    if ok:
        out += [(frame, f.landmarks) for f in analyzer.analyze(frame)]
    return out


def timed(fn, runs: int) -> tuple[float, float]:
    """Median wall ms and mean CPU ms of ``fn`` (after one warm-up call)."""
    fn()
    walls, cpu0 = [], time.process_time()
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        walls.append((time.perf_counter() - t) * 1000)
    return statistics.median(walls), (time.process_time() - cpu0) * 1000 / runs


def rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, MB (NaN where /proc has no status)."""
    try:
        with open("/proc/self/status") as f:
            line = next(x for x in f if x.startswith(field + ":"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return float("nan")


def reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # 5: reset the peak resident set size to the current one
    except OSError:
        pass


def child(kind: str, threads: int, batch: int, runs: int, data: Path) -> dict[str, float]:
    """One configuration, measured inside its own process."""
    from engine.assets import default_weights_dir, embedding_weights_file
    from engine.face_embedder import FaceEmbedder, chip_geometry, extract_chip

    found = faces(data)
    chips = np.stack([extract_chip(image, chip_geometry(lm)) for image, lm in found])
    picked = chips[np.arange(batch) % len(chips)]
    reset_peak_rss()
    before = rss_mb("VmRSS")
    t = time.perf_counter()
    if kind == "dlib":
        import dlib

        net = dlib.face_recognition_model_v1(str(embedding_weights_file()))
        run = lambda: net.compute_face_descriptor(list(picked))
    else:
        embedder = FaceEmbedder.from_weights(default_weights_dir(), threads=threads)
        run = lambda: embedder.embed_chips(picked)
    load_ms = (time.perf_counter() - t) * 1000
    if kind == "chips":
        per_face = [timed(lambda im=im, lm=lm: extract_chip(im, chip_geometry(lm)), runs) for im, lm in found]
        big = [i for i, (_, lm) in enumerate(found) if np.ptp(lm[:, 0]) > 150]
        small = [i for i, (_, lm) in enumerate(found) if np.ptp(lm[:, 0]) <= 150]
        return {"wall_ms": statistics.median(w for w, _ in per_face),
                "cpu_ms": statistics.mean(c for _, c in per_face),
                "big_ms": statistics.median(per_face[i][0] for i in big) if big else float("nan"),
                "small_ms": statistics.median(per_face[i][0] for i in small) if small else float("nan"),
                "faces": len(found), "load_ms": 0.0}
    wall, cpu = timed(run, runs)
    return {"wall_ms": wall / batch, "cpu_ms": cpu / batch, "faces": len(found), "load_ms": load_ms,
            "rss_growth_mb": rss_mb("VmHWM") - before}


def run_child(kind: str, threads: int, batch: int, runs: int, data: Path) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", kind, "--threads", str(threads), "--batch", str(batch),
           "--runs", str(runs), "--data", str(data)]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(threads))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read().decode() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"{kind} threads={threads} batch={batch} failed: {err[-800:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result.update(cpu_s=usage.ru_utime + usage.ru_stime)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--child", choices=("onnx", "dlib", "chips"), help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.threads, args.batch, args.runs, args.data)))
        return

    rows = [("onnx", t, b, run_child("onnx", t, b, args.runs, args.data)) for t in THREADS for b in BATCHES]
    try:
        import dlib  # noqa: F401

        rows += [("dlib-bin", 0, b, run_child("dlib", 1, b, args.runs, args.data)) for b in BATCHES]
    except ImportError:
        print("dlib-bin is not installed: its row is left out")
    chips = run_child("chips", 1, 1, args.runs, args.data)
    n = rows[0][3]["faces"]
    print(f"\nFace embedding, {n} real faces, median of {args.runs} runs; every row is its own process "
          "(process CPU s includes start-up and finding the faces)\n")
    print(f"{'network':10s} {'threads':>7s} {'batch':>5s} {'ms/face':>8s} {'CPU ms/face':>11s} "
          f"{'load ms':>8s} {'proc CPU s':>10s} {'+peak RSS MB':>12s}")
    print("-" * 79)
    for name, threads, batch, r in rows:
        label = str(threads) if threads else "own"
        print(f"{name:10s} {label:>7s} {batch:5d} {r['wall_ms']:8.1f} {r['cpu_ms']:11.1f} {r['load_ms']:8.0f} "
              f"{r['cpu_s']:10.1f} {r['rss_growth_mb']:12.0f}")
    print(f"\nchip extraction (align + warp, 150x150): median {chips['wall_ms']:.2f} ms per face, "
          f"CPU {chips['cpu_ms']:.2f} ms; faces over 150 px (pyramid) {chips['big_ms']:.2f} ms, "
          f"smaller faces {chips['small_ms']:.2f} ms")


if __name__ == "__main__":
    main()
