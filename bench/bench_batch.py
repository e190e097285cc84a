#!/usr/bin/env python3
"""Batch throughput on one set, every engine in one run, printed as one table.

    python bench/bench_batch.py [--data DIR] [--copies N] [--repeats R] [--no-ray] [--grid]

The set is the tests' one (tests/test_batch.py) built from the shared media: both
obama clips, an image folder, a zero-byte file, a truncated file and a missing path;
``--copies N`` (default 2) links every good input N times under other names, like a
dataset of many clips. Each configuration is one `tracker-app` process from start to end, so
start-up and model loading count, as they do for a user:

* baseline: one `tracker-app track` process per input, run input after input
  (what a shell loop over a dataset does), at the default onnxruntime threads;
* `tracker-app batch` on the local pool at 1 and 2 workers, and at its default
  (configs/default.yaml batch:); ``--grid`` adds 1, 2, 4 workers x 1, 2 threads,
  the measurement the default was chosen from;
* `tracker-app batch --ray` (a local Ray instance, started and stopped by the run).

frames/s is the frames tracked over the wall time; CPU s adds every process of the
run; peak RSS is the largest sum over the run's process tree, sampled every 0.1 s.
With ``--repeats R`` the configurations take turns R times and each keeps its fastest
run (the machine may be shared: compare the ratios within one run; the load average
is printed). No assertion: a report.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.batch.index import InputStatus, read_index  # noqa: E402
from engine.batch.local_pool import default_workers  # noqa: E402
from engine.config import DEFAULT_DATA_DIR, EngineConfig  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch_scale import tree_usage  # noqa: E402  (one /proc walker for both batch benches)

SAMPLE_SECONDS = 0.1
BAD_INPUTS = 3  # the zero-byte file, the truncated file and the missing path, last in the set


@dataclass(frozen=True)
class Measurement:
    label: str
    wall: float
    cpu: float
    peak_rss_mb: float
    frames: int

    @property
    def fps(self) -> float:
        return self.frames / self.wall if self.wall > 0 else 0.0


def build_set(media: Path, root: Path, copies: int) -> list[Path]:
    """The inputs of the set, in order (the missing path included)."""
    images = root / "images"
    images.mkdir()
    for p in sorted((media / "dlib_faces").glob("*.jpg"))[:6]:
        shutil.copy(p, images / p.name)
    good = [media / "obama_pingpong.mp4", media / "obama.mp4", images]
    for k in range(1, copies):
        for p in good[:2]:
            (root / f"{p.stem}_copy{k}{p.suffix}").symlink_to(p)
        (root / f"images_copy{k}").symlink_to(images, target_is_directory=True)
    inputs = good + sorted(p for p in root.iterdir() if "_copy" in p.name)
    (root / "empty.mp4").write_bytes(b"")
    (root / "truncated.mp4").write_bytes((media / "obama_pingpong.mp4").read_bytes()[:300_000])
    bad = [root / "empty.mp4", root / "truncated.mp4", root / "vanished.mp4"]
    assert len(bad) == BAD_INPUTS
    return inputs + bad


def tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of ``root_pid`` and all its descendants (Linux /proc)."""
    return tree_usage(root_pid)[0]


def _sample_rss(pid: int, done: threading.Event, peaks: list[int]) -> None:
    while not done.wait(SAMPLE_SECONDS):
        peaks.append(tree_rss_bytes(pid))


def run_processes(commands: list[list[str]]) -> tuple[float, float, float]:
    """Run the commands one after the other: wall s, CPU s of them all, peak tree RSS MB."""
    cpu0 = os.times()
    peak = 0
    t0 = time.perf_counter()
    for command in commands:
        errors = tempfile.TemporaryFile()
        p = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=errors)
        done = threading.Event()
        peaks: list[int] = []
        sampler = threading.Thread(target=_sample_rss, args=(p.pid, done, peaks), daemon=True)
        sampler.start()
        p.wait()
        done.set()
        sampler.join()
        peak = max([peak, *peaks])
        if p.returncode not in (0, 1):  # 1: some inputs of the set are bad on purpose
            errors.seek(0)
            text = errors.read().decode(errors="replace").strip().splitlines()
            raise SystemExit(f"{' '.join(command[:6])} ... ended with {p.returncode}: {text[-1] if text else ''}")
        errors.close()
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    cpu = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
    return wall, cpu, peak / 2**20


def measure_track(inputs: list[Path], out: Path) -> Measurement:
    shutil.rmtree(out, ignore_errors=True)  # every repeat from nothing
    commands = [[sys.executable, "-m", "tracker_app", "track", str(p), "--out", str(out / f"{k}_{p.name}"),
                 "--no-progress"] for k, p in enumerate(inputs)]
    wall, cpu, rss = run_processes(commands)
    frames = 0
    for k, p in enumerate(inputs):
        table = out / f"{k}_{p.name}" / "faces.csv"
        if table.is_file():
            frames += len({line.split(",", 1)[0] for line in table.read_text().splitlines()[1:]})
    return Measurement("track, one process per input", wall, cpu, rss, frames)


def measure_batch(label: str, inputs: list[Path], out: Path, *options: str, threads: int | None = None) -> Measurement:
    shutil.rmtree(out, ignore_errors=True)  # every repeat from nothing, nothing skipped
    command = [sys.executable, "-m", "tracker_app"] + (["--threads", str(threads)] if threads else [])
    command += ["batch", *map(str, inputs), "--out", str(out), "--no-progress", *options]
    wall, cpu, rss = run_processes([command])
    rows = read_index(out / "index.csv")
    done = sum(r.status is InputStatus.DONE for r in rows)
    if done != len(inputs) - BAD_INPUTS:
        print(f"  note: {label}: {done} inputs done, expected {len(inputs) - BAD_INPUTS} ({out / 'index.csv'})",
              file=sys.stderr)
    return Measurement(label, wall, cpu, rss, sum(r.frames for r in rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("TRACKER_DATA_DIR", DEFAULT_DATA_DIR)))
    parser.add_argument("--copies", type=int, default=2, help="link every good input this many times")
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration, the fastest kept")
    parser.add_argument("--grid", action="store_true", help="also 1, 2, 4 workers x 1, 2 threads")
    parser.add_argument("--no-ray", action="store_true", help="leave out the Ray backend")
    args = parser.parse_args()

    config = EngineConfig.load().batch
    threads = config.threads_per_worker
    workers = config.workers or default_workers(threads)
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        root = Path(tmp)
        (root / "set").mkdir()
        inputs = build_set(args.data / "media", root / "set", args.copies)
        print(f"set: {len(inputs)} inputs ({len(inputs) - BAD_INPUTS} good), {os.cpu_count()} CPUs; "
              f"default batch: {workers} workers x {threads} thread(s)", flush=True)
        runs = [("track", lambda: measure_track(inputs, root / "track"))]
        grid = [(w, t) for w in (1, 2, 4) for t in (1, 2)] if args.grid else [(1, threads), (2, threads)]
        for w, t in grid:
            runs.append((f"local {w}x{t}", lambda w=w, t=t: measure_batch(
                f"batch, local pool, {w} worker(s) x {t} thread(s)", inputs, root / f"local_{w}x{t}",
                "--workers", str(w), threads=t)))
        runs.append(("default", lambda: measure_batch(
            f"batch, local pool, default ({workers} x {threads})", inputs, root / "default")))
        if not args.no_ray:
            runs.append(("ray", lambda: measure_batch(
                f"batch --ray, local instance ({workers} x {threads})", inputs, root / "ray", "--ray")))
        results: dict[str, Measurement] = {}
        for _ in range(args.repeats):
            for key, run in runs:
                m = run()
                print(f"  {m.label}: {m.wall:.1f} s, {m.fps:.1f} frames/s "
                      f"(load average {os.getloadavg()[0]:.1f})", flush=True)
                if key not in results or m.wall < results[key].wall:
                    results[key] = m

    base = results["track"]
    print()
    print("| configuration | wall s | frames | frames/s | vs track | CPU s | peak RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in results.values():
        print(f"| {m.label} | {m.wall:.1f} | {m.frames} | {m.fps:.1f} | {m.fps / base.fps:.2f}x | {m.cpu:.1f} "
              f"| {m.peak_rss_mb:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
