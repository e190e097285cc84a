#!/usr/bin/env python3
"""Export benchmark: what the animated export costs, and whether memory stays flat on long runs.

    python bench/bench_exports.py [--video PATH] [--threads N] [--repeats R] [--loops K]

Each row is one `tracker-app track` process (the real command line), measured with
``os.wait4``: wall seconds, CPU seconds (user + system) and peak RSS of that process.

* ``track`` vs ``track --animation glb,pc2`` on obama_pingpong.mp4 (440 frames):
  the ratio of the best wall and CPU times of R alternating runs (aim: at most 1.3x);
* peak RSS of ``track --video --animation glb,pc2`` over the video looped K times
  (default 5: 2,200 frames) vs its first 440 frames of the same file (aim: within
  50 MB). The loop is written once into a temporary Motion-JPEG AVI.

No assertion: a report (the machine may be shared; compare within one run).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.config import DEFAULT_DATA_DIR  # noqa: E402


@dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float


def run_track(args: list[str], threads: int) -> Measured:
    """One `tracker-app track` process; its own wall time, CPU time and peak RSS."""
    cmd = [sys.executable, "-m", "tracker_app.cli", "--threads", str(threads), "track", *args, "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"track failed ({proc.returncode}): {stderr[-800:]}")
    return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def loop_video(video: Path, loops: int, out: Path) -> int:
    """``video`` ``loops`` times over into a Motion-JPEG AVI; the frame count.

    Streamed (the video is decoded again for each loop): this process stays small, so the
    `track` processes it starts do not inherit a large resident set."""
    from engine.avi_writer import MjpegAviWriter
    from engine.video_source import open_source

    writer = None
    for _ in range(loops):
        with open_source(video) as source:
            if writer is None:
                writer = MjpegAviWriter(out, source.fps, source.frame_size)
            for packet in source:
                writer.write(packet.image)
    assert writer is not None
    writer.close()
    return writer.frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_DATA_DIR / "media" / "obama_pingpong.mp4")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--loops", type=int, default=5)
    args = parser.parse_args()

    rows: list[tuple[str, int, Measured]] = []
    with tempfile.TemporaryDirectory(prefix="bench_exports_") as tmp:
        tmpdir = Path(tmp)
        plain: list[Measured] = []
        animated: list[Measured] = []
        for k in range(args.repeats):  # alternate, so drift in the machine's load hits both alike
            plain.append(run_track([str(args.video), "--out", str(tmpdir / f"plain{k}")], args.threads))
            animated.append(run_track([str(args.video), "--out", str(tmpdir / f"anim{k}"),
                                       "--animation", "glb,pc2"], args.threads))
        best_plain = min(plain, key=lambda m: m.wall_s)
        best_anim = min(animated, key=lambda m: m.wall_s)
        rows += [("track", 440, best_plain), ("track --animation glb,pc2", 440, best_anim)]

        looped = tmpdir / "looped.avi"
        n_long = loop_video(args.video, args.loops, looped)
        long_args = ["--video", "--animation", "glb,pc2"]
        short = run_track([str(looped), "--out", str(tmpdir / "short"), "--max-frames", "440", *long_args],
                          args.threads)
        long = run_track([str(looped), "--out", str(tmpdir / "long"), *long_args], args.threads)
        rows += [("track --video --animation glb,pc2 (looped file)", 440, short),
                 (f"track --video --animation glb,pc2 (looped file x{args.loops})", n_long, long)]

    print(f"Exports on {args.video.name}, {args.threads} threads, best wall of {args.repeats} alternating runs")
    print()
    print("| configuration | frames | wall s | CPU s | peak RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, frames, m in rows:
        print(f"| {name} | {frames} | {m.wall_s:.1f} | {m.cpu_s:.1f} | {m.peak_rss_mb:.0f} |")
    print()
    print(f"animation cost: wall {best_anim.wall_s / best_plain.wall_s:.2f}x, "
          f"CPU {best_anim.cpu_s / best_plain.cpu_s:.2f}x (aim <= 1.3x)")
    print(f"peak RSS, {n_long} vs 440 frames: {long.peak_rss_mb - short.peak_rss_mb:+.1f} MB (aim within 50 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
