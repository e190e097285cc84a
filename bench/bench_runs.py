#!/usr/bin/env python3
"""Whole-run benchmark: wall time, CPU seconds and peak RSS of real `tracker-app` runs.

    python bench/bench_runs.py [--video PATH] [--repeats R] [--modes serial,pipelined]
                               [--peer] [--startup] [--split] [--skip-loops]

Every run is its own process (``python -m tracker_app ...``), measured from outside
with ``os.wait4`` (the child's own user+system CPU and peak RSS, nothing of this
script), so start-up, model loading, decoding and writing all count, as a user sees
them. Runs:

* ``detect`` on one image (start-up + one detection);
* ``track --no-progress`` table only (faces.csv + run.json);
* ``track --video`` landmark overlay video (MJPG);
* ``track --video --dense --render mesh`` rendered-mesh overlay video;

each serial and pipelined (decode, track and export on overlapping threads;
``--modes`` picks). ``--peer`` also runs MediaPipe FaceMesh in its own virtualenv
(bench/peer_mediapipe.sh) on the same clip in the same run and prints our ratios to
it; ``--startup`` launches ``tracker-app gui --video`` (needs a display) until its
first tracked frame is on screen; ``--split`` adds table-only runs at 1 and 2
onnxruntime threads, spinning on and off.

Then, in this process, the tracking loops on frames decoded beforehand (decoding
excluded, smoothing off): sparse (landmarks, failure test included) and dense
(plus the 38,365-vertex mesh), wall and CPU ms per frame.

Runs are interleaved over the repeats (A B C A B C ...) so drift on this shared
machine hits every configuration alike; the best of the repeats is printed.
No assertion: a report.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
PEER_SCRIPT = REPO / "bench" / "peer_mediapipe.sh"
# --config overrides selecting each track mode (configs/default.yaml holds the default).
MODE_CONFIGS = {"serial": "runtime:\n  pipelined: false\n", "pipelined": "runtime:\n  pipelined: true\n"}
# Thread split measured with --split: onnxruntime intra-op threads x spinning, table only.
SPLITS = tuple((mode, threads, spin) for mode in ("serial", "pipelined") for threads in (1, 2)
               for spin in (False, True))
# The aims printed beside the figures (loops: ms per frame; ratios to MediaPipe).
AIMS = {"dense loop": 1.5, "sparse loop": 0.5, "table wall vs peer": 0.6, "table cpu vs peer": 0.8}


@dataclasses.dataclass(frozen=True)
class RunSpec:
    name: str
    args: tuple[str, ...]  # after `python -m tracker_app --config FILE`; {video}, {image}, {out} filled in
    per_frame: bool  # report ms per frame of the clip
    config: str = "{}\n"  # YAML written to FILE (over configs/default.yaml)


@dataclasses.dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_s: float
    rss_mb: float
    returncode: int
    stages_ms: dict[str, float] = dataclasses.field(default_factory=dict)  # run.json: mean ms per frame


def stage_means(out: Path) -> dict[str, float]:
    """The run's mean milliseconds per frame by stage (its run.json), empty without one."""
    import json

    try:
        return dict(json.loads((out / "run.json").read_text())["summary"]["ms_per_frame_mean"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def run_process(argv: list[str], env: dict[str, str]) -> Measured:
    """Run one child to completion; its own wall, user+sys CPU and peak RSS."""
    t = time.perf_counter()
    # cwd: `python -m` puts the working directory first on sys.path, before PYTHONPATH
    child = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t
    stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
    child.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen
    if child.returncode != 0:
        print(f"  ! {' '.join(argv[-6:])} exited {child.returncode}: {stderr.strip()[-300:]}", file=sys.stderr)
    return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, child.returncode)


def run_specs(modes: list[str], split: bool) -> list[RunSpec]:
    specs = [RunSpec("detect, one image", ("detect", "{image}", "--out", "{out}"), False)]
    track = {"table only": (), "landmark video": ("--video",),
             "rendered-mesh video": ("--video", "--dense", "--render", "mesh")}
    base = ("track", "{video}", "--out", "{out}", "--no-progress")
    for mode in modes:
        for name, extra in track.items():
            specs.append(RunSpec(f"{name} ({mode})", base + extra, True, MODE_CONFIGS[mode]))
    if split:
        for mode, threads, spin in SPLITS:
            config = (MODE_CONFIGS[mode] + f"  intra_op_threads: {threads}\n"
                      f"  allow_spinning: {'true' if spin else 'false'}\n")
            specs.append(RunSpec(f"table only ({mode}, {threads} onnxruntime thread{'s' * (threads > 1)}, "
                                 f"spinning {'on' if spin else 'off'})", base, True, config))
    return specs


def gui_startup(video: Path, env: dict[str, str], tmp: Path) -> tuple[float, float] | None:
    """Seconds from launching `tracker-app gui --video` to its first tracked frame on screen,
    and the app's CPU seconds by then (TRACKER_APP_STARTUP_REPORT); None without a display."""
    import json

    if not env.get("DISPLAY"):
        return None
    report = tmp / "startup.json"
    report.unlink(missing_ok=True)
    env = dict(env, TRACKER_APP_STARTUP_REPORT=str(report), XDG_CONFIG_HOME=str(tmp / "config"))
    launched = time.monotonic()
    app = subprocess.Popen([sys.executable, "-m", "tracker_app", "gui", "--video", str(video)], env=env, cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not report.is_file() and app.poll() is None and time.monotonic() - launched < 120:
            time.sleep(0.005)
        if not report.is_file():
            print(f"  ! the app showed no tracked frame (exit code {app.poll()})", file=sys.stderr)
            return None
        times = json.loads(report.read_text())
    finally:
        app.kill()
        app.wait()
    return times["first_tracked_frame"] - launched, times["cpu_seconds"]


def count_frames(path: Path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def loop_figures(video: Path, repeats: int) -> dict[str, tuple[float, float]]:
    """(wall ms, CPU ms) per frame of the sparse and dense tracking loops, decoding excluded."""
    sys.path.insert(0, str(REPO))
    from engine.analyzer import FaceAnalyzer
    from engine.pipeline import TrackingPipeline
    from engine.video_source import open_source

    analyzer = FaceAnalyzer.from_config()
    with open_source(video) as source:
        packets = list(source)
    out: dict[str, tuple[float, float]] = {}
    for _ in range(repeats):
        for name, dense in (("sparse loop", False), ("dense loop", True)):
            pipeline = TrackingPipeline(analyzer, dense=dense, smoother="off")
            wall, cpu = time.perf_counter(), time.process_time()
            for p in packets:
                pipeline.process(p)
            pipeline.flush()
            figures = ((time.perf_counter() - wall) * 1000 / len(packets),
                       (time.process_time() - cpu) * 1000 / len(packets))
            if name not in out or figures[0] < out[name][0]:
                out[name] = figures
    return out


def compile_bytecode() -> None:
    """Write the project's .pyc files first, as an installed app has them (pip compiles a
    wheel's modules; Python writes them on a first run unless PYTHONDONTWRITEBYTECODE is
    set, as on this machine): otherwise every measured process compiles the sources again
    (0.1 s of start-up here, and 8 MB of peak memory)."""
    import compileall

    for package in ("engine", "tracker_app", "render_c"):
        compileall.compile_dir(REPO / package, quiet=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=DATA / "media" / "obama_pingpong.mp4")
    parser.add_argument("--image", type=Path, default=DATA / "media" / "emma.jpg")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--modes", default="serial,pipelined",
                        help="track modes to compare, comma-separated (serial, pipelined)")
    parser.add_argument("--peer", action="store_true", help="also run MediaPipe FaceMesh (bench/peer_mediapipe.sh)")
    parser.add_argument("--skip-loops", action="store_true", help="only the whole-process runs")
    parser.add_argument("--split", action="store_true",
                        help="also table-only runs at 1 and 2 onnxruntime threads, spinning on and off")
    parser.add_argument("--startup", action="store_true",
                        help="also launch `tracker-app gui --video` (needs a display) until its first tracked frame")
    args = parser.parse_args(argv)

    frames = count_frames(args.video)
    compile_bytecode()
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    specs = run_specs([m.strip() for m in args.modes.split(",") if m.strip()], args.split)
    best: dict[str, Measured] = {}
    peer: Measured | None = None
    startup: tuple[float, float] | None = None
    tmp = Path(tempfile.mkdtemp(prefix="bench_runs_"))
    try:
        for _ in range(max(1, args.repeats)):
            for spec in specs:
                out = tmp / "out"
                shutil.rmtree(out, ignore_errors=True)
                config = tmp / "config.yaml"
                config.write_text(spec.config)
                argv_ = [sys.executable, "-m", "tracker_app", "--config", str(config)] + [
                    a.format(video=args.video, image=args.image, out=out) for a in spec.args]
                m = run_process(argv_, env)
                if spec.per_frame:
                    m = dataclasses.replace(m, stages_ms=stage_means(out))
                if spec.name not in best or m.wall_s < best[spec.name].wall_s:
                    best[spec.name] = m
            if args.peer:
                m = run_process(["bash", str(PEER_SCRIPT), str(args.video)], dict(os.environ))
                if m.returncode == 0 and (peer is None or m.wall_s < peer.wall_s):
                    peer = m
            if args.startup:
                got = gui_startup(args.video, env, tmp)
                if got is not None and (startup is None or got[0] < startup[0]):
                    startup = got
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{args.video.name}: {frames} frames; whole processes, best of {args.repeats} "
          f"(interleaved); CPU = user + system of the process")
    print()
    print("| run | wall s | CPU s | ms/frame wall | ms/frame CPU | peak RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for spec in specs:
        m = best[spec.name]
        per = (f"{1000 * m.wall_s / frames:.2f} | {1000 * m.cpu_s / frames:.2f}" if spec.per_frame
               else "- | -")
        print(f"| {spec.name} | {m.wall_s:.2f} | {m.cpu_s:.2f} | {per} | {m.rss_mb:.0f} |")
    if startup is not None:
        print(f"| app: launch to first tracked frame on screen (`gui --video`) | {startup[0]:.2f} | "
              f"{startup[1]:.2f} | - | - | - |")
    if peer is not None:
        print(f"| MediaPipe FaceMesh 0.10.14 (peer, own venv) | {peer.wall_s:.2f} | {peer.cpu_s:.2f} | "
              f"{1000 * peer.wall_s / frames:.2f} | {1000 * peer.cpu_s / frames:.2f} | {peer.rss_mb:.0f} |")
        print()
        print("| table-only run vs MediaPipe | wall ratio | CPU ratio | aim |")
        print("| --- | ---: | ---: | --- |")
        for spec in specs:
            if spec.name.startswith("table only"):
                m = best[spec.name]
                print(f"| {spec.name} | {m.wall_s / peer.wall_s:.2f} | {m.cpu_s / peer.cpu_s:.2f} | "
                      f"<= {AIMS['table wall vs peer']} wall, <= {AIMS['table cpu vs peer']} CPU |")
    staged = [spec for spec in specs if best[spec.name].stages_ms]
    if staged:
        names = list(best[staged[0].name].stages_ms)
        print()
        print("Mean ms per frame by stage (run.json; in pipelined runs decode, track and export "
              "overlap on their own threads):")
        print()
        print("| run | " + " | ".join(names) + " |")
        print("| --- |" + " ---: |" * len(names))
        for spec in staged:
            stages = best[spec.name].stages_ms
            print(f"| {spec.name} | " + " | ".join(f"{stages.get(n, 0.0):.2f}" for n in names) + " |")
    serial = {s.name.split(" (")[0]: best[s.name] for s in specs if s.name.endswith("(serial)")}
    piped = {s.name.split(" (")[0]: best[s.name] for s in specs if s.name.endswith("(pipelined)")}
    if serial and piped:
        print()
        print("| run | pipelined / serial wall | pipelined / serial CPU |")
        print("| --- | ---: | ---: |")
        for name in serial:
            if name in piped:
                print(f"| {name} | {piped[name].wall_s / serial[name].wall_s:.2f} | "
                      f"{piped[name].cpu_s / serial[name].cpu_s:.2f} |")

    if not args.skip_loops:
        loops = loop_figures(args.video, max(1, args.repeats))
        print()
        print("| tracking loop (decoding excluded, no smoothing) | ms/frame wall | ms/frame CPU | aim |")
        print("| --- | ---: | ---: | ---: |")
        for name, (wall_ms, cpu_ms) in loops.items():
            print(f"| {name} | {wall_ms:.3f} | {cpu_ms:.3f} | <= {AIMS[name]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
