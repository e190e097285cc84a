#!/usr/bin/env python3
"""Batch at scale: is the cost per input constant, and the memory flat, over many inputs?

    python bench/bench_batch_scale.py [--data DIR] [--inputs 20000] [--ray-inputs 2000] [--missing 100000]
                                      [--window 1000] [--no-ray]

The bench makes its inputs from one shared photo: a one-frame 160x120 Motion-JPEG AVI
(written by engine.avi_writer, a face in it), hard-linked ``--inputs`` times under other
names, so every input is a real video file that is opened, tracked and exported (table,
run.json, marker). Each configuration is one `tracker-app batch` process over a list file:

* the local pool at its default workers, over ``--inputs`` inputs;
* ``--ray``, a local Ray instance, over ``--ray-inputs`` inputs;
* ``--missing`` paths that do not exist (found up front, recorded without a folder).

The time each input finished is read from the batch's journal (one line per finished
input, polled every 0.1 s: nothing is added to the program), the CPU time and resident
memory of the process tree (the coordinator and its workers) from /proc every second.
Printed per configuration: wall s, CPU s, and over the first and the last ``--window``
finished inputs the wall and the CPU milliseconds per input with their ratios (a constant
cost: ~1.0; on a shared machine the wall ratio also carries the other load, the CPU ratio
much less), and the tree's peak RSS in each window. No assertion: a report.
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

import cv2  # noqa: E402

from engine.avi_writer import MjpegAviWriter  # noqa: E402
from engine.batch.index import JOURNAL_NAME  # noqa: E402
from engine.config import DEFAULT_DATA_DIR  # noqa: E402

POLL_SECONDS = 0.1
SAMPLE_SECONDS = 1.0  # CPU and RSS of the process tree
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FRAME_SIZE = (160, 120)


@dataclass(frozen=True)
class ScaleRun:
    label: str
    inputs: int
    finished: int
    wall: float
    cpu: float
    first_s_per_input: float  # wall
    last_s_per_input: float
    first_cpu_per_input: float  # CPU seconds of the whole process tree
    last_cpu_per_input: float
    first_coordinator_cpu: float  # CPU seconds of the batch command's own process, per input
    last_coordinator_cpu: float
    rss_first_mb: float  # peak tree RSS during the first window
    rss_last_mb: float  # ... during the last window
    rss_peak_mb: float

    @property
    def ratio(self) -> float:
        return self.last_s_per_input / self.first_s_per_input if self.first_s_per_input > 0 else float("nan")

    @property
    def cpu_ratio(self) -> float:
        return (self.last_cpu_per_input / self.first_cpu_per_input if self.first_cpu_per_input > 0
                else float("nan"))


def one_frame_video(photo: Path, path: Path) -> None:
    image = cv2.imread(str(photo))
    h, w = image.shape[:2]
    cw, ch = (w, w * 3 // 4) if w * 3 // 4 <= h else (h * 4 // 3, h)  # the centre 4:3, where the face is
    y, x = (h - ch) // 2, (w - cw) // 2
    small = cv2.resize(image[y:y + ch, x:x + cw], FRAME_SIZE, interpolation=cv2.INTER_AREA)
    writer = MjpegAviWriter(path, 25.0, FRAME_SIZE)
    writer.write(small)
    writer.close()


def make_inputs(source: Path, folder: Path, count: int) -> Path:
    """``count`` hard links to ``source`` and a list file naming them; returns the list."""
    folder.mkdir()
    names = []
    for k in range(count):
        name = f"clip_{k:06d}.avi"
        os.link(source, folder / name)
        names.append(name)
    listing = folder / "inputs.txt"
    listing.write_text("\n".join(names) + "\n")
    return listing


def missing_inputs(folder: Path, count: int) -> Path:
    folder.mkdir()
    listing = folder / "missing.txt"
    listing.write_text("".join(f"/nonexistent/dataset/clip_{k:06d}.mp4\n" for k in range(count)))
    return listing


def tree_usage(root_pid: int) -> tuple[int, float, float]:
    """Resident bytes and CPU seconds (its own and its waited-for children's) of ``root_pid``
    and all its descendants, and the CPU seconds of ``root_pid`` alone (Linux /proc)."""
    parents: dict[int, int] = {}
    usage: dict[int, tuple[int, float, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            parents[int(entry.name)] = int(fields[1])
            own = int(fields[11]) + int(fields[12])  # utime, stime
            waited = int(fields[13]) + int(fields[14])  # cutime, cstime: children it waited for
            usage[int(entry.name)] = (int(fields[21]) * PAGE_BYTES, own / CLOCK_TICKS, waited / CLOCK_TICKS)
        except (OSError, ValueError):
            continue  # ended while we looked
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        pid = frontier.pop()
        children = [c for c, p in parents.items() if p == pid and c not in tree]
        tree.update(children)
        frontier.extend(children)
    none = (0, 0.0, 0.0)
    rss = sum(usage.get(pid, none)[0] for pid in tree)
    cpu = sum(usage.get(pid, none)[1] + usage.get(pid, none)[2] for pid in tree)
    return rss, cpu, usage.get(root_pid, none)[1]


@dataclass(frozen=True)
class Sample:
    finished: int  # journal lines so far
    cpu: float  # CPU seconds of the process tree so far
    rss: int  # resident bytes of the process tree
    coordinator_cpu: float  # CPU seconds of the batch command's own process so far


class JournalWatch:
    """The time each journal line appeared, and the process tree's CPU time and RSS meanwhile."""

    def __init__(self, journal: Path, pid: int) -> None:
        self.journal, self.pid = journal, pid
        self.times: list[float] = []
        self.samples: list[Sample] = []
        self._offset = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with open(self.journal, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        self._offset += end
        now = time.perf_counter()
        self.times.extend([now] * data[:end].count(b"\n"))

    def _run(self) -> None:
        last_sample_at = 0.0
        while not self._done.wait(POLL_SECONDS):
            self._read()
            if time.perf_counter() - last_sample_at >= SAMPLE_SECONDS:  # /proc walks cost
                last_sample_at = time.perf_counter()
                rss, cpu, own = tree_usage(self.pid)
                if rss:
                    self.samples.append(Sample(len(self.times), cpu, rss, own))

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        self._read()

    def window(self, start: int, end: int) -> tuple[float, float, int]:
        """CPU seconds per input (the process tree, the coordinator alone) and peak RSS between
        ``start`` and ``end`` finished inputs (from the samples taken then; NaN when the
        window is too short to hold two)."""
        inside = [s for s in self.samples if start <= s.finished <= end]
        if len(inside) < 2 or inside[-1].finished == inside[0].finished:
            return float("nan"), float("nan"), max((s.rss for s in inside), default=0)
        first, last = inside[0], inside[-1]
        n = last.finished - first.finished
        return ((last.cpu - first.cpu) / n, (last.coordinator_cpu - first.coordinator_cpu) / n,
                max(s.rss for s in inside))


def run_batch(label: str, listing: Path, out: Path, window: int, *options: str, tree_cpu: bool = True) -> ScaleRun:
    command = [sys.executable, "-m", "tracker_app", "batch", str(listing), "--out", str(out), "--no-progress",
               *options]
    cpu0 = os.times()
    t0 = time.perf_counter()
    errors = tempfile.TemporaryFile()
    p = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=errors)
    watch = JournalWatch(out / JOURNAL_NAME, p.pid)
    p.wait()
    wall = time.perf_counter() - t0
    watch.stop()
    cpu1 = os.times()
    if p.returncode not in (0, 1):
        errors.seek(0)
        text = errors.read().decode(errors="replace").strip().splitlines()
        raise SystemExit(f"{label}: ended with {p.returncode}: {text[-1] if text else ''}")
    times = watch.times
    n = len(times)
    w = min(window, max(1, n // 2))

    def per_input(span: list[float]) -> float:
        return (span[-1] - span[0]) / (len(span) - 1) if len(span) > 1 else float("nan")

    cpu_first, own_first, rss_first = watch.window(1, w)  # from the first input on: not start-up
    cpu_last, own_last, rss_last = watch.window(n - w, n)
    if not tree_cpu:  # Ray's workers are not the driver's descendants: their CPU is not seen here
        cpu_first = cpu_last = float("nan")
    mb = 2 ** 20
    return ScaleRun(label, int(listing.read_text().count("\n")), n, wall,
                    (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system),
                    per_input(times[:w]), per_input(times[-w:]), cpu_first, cpu_last, own_first, own_last,
                    rss_first / mb, rss_last / mb, max((s.rss for s in watch.samples), default=0) / mb)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("TRACKER_DATA_DIR", DEFAULT_DATA_DIR)))
    parser.add_argument("--inputs", type=int, default=20_000, help="one-frame videos for the local pool")
    parser.add_argument("--ray-inputs", type=int, default=2_000, help="one-frame videos for --ray")
    parser.add_argument("--missing", type=int, default=100_000, help="missing paths (0: leave out)")
    parser.add_argument("--window", type=int, default=1_000, help="inputs in the first and last windows")
    parser.add_argument("--no-ray", action="store_true", help="leave out the Ray run")
    args = parser.parse_args()

    runs: list[ScaleRun] = []
    with tempfile.TemporaryDirectory(prefix="bench_batch_scale_") as tmp:
        root = Path(tmp)
        clip = root / "one_frame.avi"
        one_frame_video(args.data / "media" / "emma.jpg", clip)
        print(f"inputs: one-frame {FRAME_SIZE[0]}x{FRAME_SIZE[1]} AVIs ({clip.stat().st_size} bytes), "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
        plans: list[tuple[str, Path, tuple[str, ...]]] = []
        if args.missing:
            plans.append((f"{args.missing:,} missing paths", missing_inputs(root / "missing", args.missing), ()))
        plans.append((f"{args.inputs:,} one-frame videos, local pool", make_inputs(clip, root / "local", args.inputs),
                      ()))
        if not args.no_ray:
            plans.append((f"{args.ray_inputs:,} one-frame videos, --ray (local instance)",
                          make_inputs(clip, root / "ray", args.ray_inputs), ("--ray",)))
        for k, (label, listing, options) in enumerate(plans):
            run = run_batch(label, listing, root / f"out{k}", args.window, *options, tree_cpu="--ray" not in options)
            runs.append(run)
            print(f"  {label}: {run.finished} finished in {run.wall:.1f} s; first/last {args.window}: "
                  f"{run.first_s_per_input * 1000:.2f} / {run.last_s_per_input * 1000:.2f} ms per input "
                  f"(x{run.ratio:.2f}), CPU {run.first_cpu_per_input * 1000:.2f} / "
                  f"{run.last_cpu_per_input * 1000:.2f} ms (x{run.cpu_ratio:.2f}), coordinator "
                  f"{run.first_coordinator_cpu * 1000:.2f} / {run.last_coordinator_cpu * 1000:.2f} ms; "
                  f"RSS {run.rss_first_mb:.0f} / "
                  f"{run.rss_last_mb:.0f} MB (load average {os.getloadavg()[0]:.1f})", flush=True)
            shutil.rmtree(root / f"out{k}", ignore_errors=True)
    print()
    w = args.window
    print(f"| run | inputs | wall s | CPU s | wall ms/input, first {w} / last {w} | ratio "
          f"| CPU ms/input, first {w} / last {w} | ratio | coordinator CPU ms/input | "
          f"peak RSS MB, first {w} / last {w} | peak RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        print(f"| {r.label} | {r.finished:,} | {r.wall:.1f} | {r.cpu:.1f} "
              f"| {r.first_s_per_input * 1000:.2f} / {r.last_s_per_input * 1000:.2f} | {r.ratio:.2f} "
              f"| {r.first_cpu_per_input * 1000:.2f} / {r.last_cpu_per_input * 1000:.2f} | {r.cpu_ratio:.2f} "
              f"| {r.first_coordinator_cpu * 1000:.2f} / {r.last_coordinator_cpu * 1000:.2f} "
              f"| {r.rss_first_mb:.0f} / {r.rss_last_mb:.0f} | {r.rss_peak_mb:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
