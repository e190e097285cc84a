#!/usr/bin/env python3
"""Identity figures of `tracker-app track` on real footage (issue 19), printed as one table.

    python bench/bench_identity.py [CLIP ...] [--out DIR] [--data DIR]

CLIP is a video path or the name of a test clip built from the shared media
(tests/support/real_footage.py): ``crowd`` (crowd.mp4 as it is), ``splice`` (crowd,
a cut to obama.mp4, a cut back), ``occluder`` (a hand passes over obama's face),
``profile`` (obama's face turns to a profile and back), ``obama`` (obama.mp4).
Default: crowd, splice, occluder, obama.

Each clip goes through the real command, ``python -m tracker_app track CLIP --out
DIR/NAME`` (the table only, as a user would run it), in its own process; the table
is then scored with tests/support/identity_metrics.py: IDs (person_id, else
track_id), tracks shorter than 5 frames, switches inside shots (cut frames from
run.json when it lists them, else the clip's own), face-frames, and the embedding
calls, their total ms and that as a share of the run's CPU time when run.json reports
them ("-" when it does not; the embedding may run on its own thread, so its share of
the CPU, not of the wall time, is its cost). Wall
time, CPU time and peak memory are the track process's own (os.wait4). For the
clips with ground truth, the IDs each ground-truth person got follow the table.
No assertion: a report (tests/test_identity_footage.py asserts the issue's figures).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.config import DEFAULT_DATA_DIR  # noqa: E402
from tests.support import real_footage  # noqa: E402
from tests.support.identity_metrics import (  # noqa: E402
    identity_figures,
    ids_of_truth,
    read_cuts,
    read_embedding_cost,
    read_faces,
    read_run,
)

DEFAULT_CLIPS = ("crowd", "splice", "occluder", "obama")
NAMED_CLIPS = ("crowd", "splice", "occluder", "profile", "obama")


@dataclass
class Clip:
    name: str
    path: Path
    cuts: list[int] = field(default_factory=list)
    truth: dict = field(default_factory=dict)  # person -> frame -> box


@dataclass
class Usage:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float


def build(name: str, media: Path, work: Path) -> Clip:
    """A named test clip (built into ``work``) or a video path."""
    if name == "crowd":
        clip = real_footage.crowd_clip(media)
        return Clip(name, clip.path, clip.cuts, clip.people)
    if name == "splice":
        splice = real_footage.splice_clip(work, media)
        return Clip(name, splice.path, splice.cuts, splice.people)
    if name == "occluder":
        occluder = real_footage.occluder_clip(work, media)
        return Clip(name, occluder.path, occluder.cuts, occluder.people)
    if name == "profile":
        from engine.analyzer import FaceAnalyzer

        profile = real_footage.profile_clip(work, media, FaceAnalyzer.from_config(threads=1))
        return Clip(name, profile.path, profile.cuts, profile.people)
    if name == "obama":
        return Clip(name, media / real_footage.OBAMA)
    path = Path(name)
    if not path.exists():
        raise SystemExit(f"error: {name} is neither a file nor one of {', '.join(NAMED_CLIPS)}")
    return Clip(path.stem, path)


def run_track(video: Path, out_dir: Path) -> Usage:
    """``python -m tracker_app track`` in a child process; its own wall, CPU and peak RSS."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, "-m", "tracker_app", "track", str(video), "--out", str(out_dir), "--overwrite"]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(no message)"]
        raise SystemExit(f"error: track {video} failed ({proc.returncode}): {last[0]}")
    return Usage(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, peak_rss_mb=usage.ru_maxrss / 1024)


COLUMNS = ("clip", "frames", "IDs", "tracks<5", "switches", "face-frames", "embed calls", "embed ms",
           "embed % CPU", "wall s", "CPU s", "peak MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="*", default=list(DEFAULT_CLIPS), help="video paths or test clip names")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("TRACKER_DATA_DIR", DEFAULT_DATA_DIR)))
    args = parser.parse_args(argv)
    media = args.data / "media"
    with tempfile.TemporaryDirectory(prefix="bench_identity_") as tmp:
        out = args.out or Path(tmp)
        work = out / "clips"
        work.mkdir(parents=True, exist_ok=True)
        rows, notes = [], []
        for name in args.clips:
            clip = build(name, media, work)
            run_dir = out / clip.name
            usage = run_track(clip.path, run_dir)
            faces = read_faces(run_dir / "faces.csv")
            run = read_run(run_dir / "run.json")
            cuts = read_cuts(run_dir / "run.json")
            figures = identity_figures(faces, cuts)
            cost = read_embedding_cost(run_dir / "run.json")
            rows.append((clip.name, str(run["summary"]["frames_read"]), str(figures.ids), str(figures.short_tracks),
                         str(len(figures.switches)), str(figures.face_frames),
                         str(cost.calls), f"{cost.ms:.0f}", f"{cost.ms / 10 / max(usage.cpu_s, 1e-9):.1f}",
                         f"{usage.wall_s:.1f}", f"{usage.cpu_s:.1f}", f"{usage.peak_rss_mb:.0f}"))
            notes.append(f"{clip.name}: switches at frames {[s.frame for s in figures.switches]} "
                         f"(cuts at {cuts} from run.json; the clip has them at {clip.cuts})")
            for person, ids in ids_of_truth(faces, clip.truth).items():
                notes.append(f"  {person}: IDs {ids}")
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    print("  ".join(c.rjust(w) for c, w in zip(COLUMNS, widths)))
    for r in rows:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths)))
    print()
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
