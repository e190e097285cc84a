#!/usr/bin/env python3
"""What the eyes add to the window's display arrays per face and frame, printed as one table.

    python bench/bench_display_eyes.py [--data DIR] [--crowd-frames N]

The faces are tracked densely as the app tracks them (not timed); on one thread, each
frame then runs ``engine.display_arrays.display_arrays`` as the app's capture thread does,
and, on the same faces, the two parts the eyes add to it: closing the lids of the mesh
(``lid_closure``, the face's camera and ``EyeRegions.close_lids``) and the 3D gaze arrows
(``gaze_arrows``). Inputs: obama_pingpong.mp4 (one 1280x720 face, a few dozen blinks) and
the first frames of crowd.mp4 (1920x1080, up to a dozen faces). CPU time of the thread
(``time.thread_time``) per face-frame beside wall time; the lids also over the face-frames
where a lid closes (the others skip the work); peak RSS.
No assertion: a report (docs/eyes.md quotes it).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from engine.analyzer import FaceAnalyzer  # noqa: E402
from engine.config import DEFAULT_DATA_DIR  # noqa: E402
from engine.display_arrays import eye_regions, display_arrays, gaze_arrows  # noqa: E402
from engine.eyelids import lid_closure  # noqa: E402
from engine.face_model import FaceModel  # noqa: E402
from engine.pipeline import TrackingPipeline  # noqa: E402
from engine.video_source import open_source  # noqa: E402


@dataclass
class Times:
    """Summed CPU and wall seconds of one part, and how many face-frames they cover."""

    cpu: float = 0.0
    wall: float = 0.0
    count: int = 0

    def add(self, cpu: float, wall: float) -> None:
        self.cpu, self.wall, self.count = self.cpu + cpu, self.wall + wall, self.count + 1

    def ms(self) -> str:
        n = max(self.count, 1)
        return f"{self.cpu * 1000 / n:.3f} / {self.wall * 1000 / n:.3f}"


@dataclass
class Row:
    frames: int = 0
    faces: int = 0
    whole: Times = field(default_factory=Times)  # display_arrays, per face-frame
    lids: Times = field(default_factory=Times)
    closing: Times = field(default_factory=Times)  # lids, on the face-frames where one closes
    gaze: Times = field(default_factory=Times)


def timed(fn, *args):  # type: ignore[no-untyped-def]
    c0, w0 = time.thread_time(), time.perf_counter()
    out = fn(*args)
    return out, time.thread_time() - c0, time.perf_counter() - w0


def time_display(analyzer: FaceAnalyzer, path: Path, max_frames: int) -> Row:
    model = analyzer.face_model
    regions = eye_regions(model)  # once per face model, as the app (not timed)
    pipeline = TrackingPipeline(analyzer, dense=True, smoother="realtime", keep_pixels=False)
    row = Row()
    with open_source(path, decoder_threads=1) as source:
        for packet in source:
            if packet.index >= max_frames:
                break
            for r in pipeline.process(packet):
                if not r.faces:
                    continue
                _, cpu, wall = timed(display_arrays, r, model)
                row.frames += 1
                row.faces += len(r.faces)
                for tf in r.faces:
                    row.whole.add(cpu / len(r.faces), wall / len(r.faces))
                    face = tf.face
                    assert face.vertices is not None

                    def close(face=face):  # type: ignore[no-untyped-def]
                        closure = lid_closure(face.eyes)
                        camera = FaceModel.image_camera(face.params, face.roi)[:, :3]
                        return regions.close_lids(face.vertices, camera, closure), closure

                    (v, closure), cpu_l, wall_l = timed(close)
                    row.lids.add(cpu_l, wall_l)
                    if np.any(closure > 0):
                        row.closing.add(cpu_l, wall_l)
                    _, cpu_g, wall_g = timed(gaze_arrows, face, v[model.keypoints])
                    row.gaze.add(cpu_g, wall_g)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(DEFAULT_DATA_DIR))
    parser.add_argument("--crowd-frames", type=int, default=60)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    analyzer = FaceAnalyzer.from_config(threads=1)
    media = args.data / "media"
    rows = [(name, time_display(analyzer, path, frames)) for name, path, frames in (
        ("obama_pingpong.mp4", media / "obama_pingpong.mp4", 10**9),
        (f"crowd.mp4 (first {args.crowd_frames} frames)", media / "footage" / "crowd.mp4", args.crowd_frames))]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| input | frames | face-frames | display_arrays | of which: lids closed | lids, where one closes "
          "(face-frames) | 3D gaze arrows |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows:
        print(f"| {name} | {r.frames} | {r.faces} | {r.whole.ms()} | {r.lids.ms()} | "
              f"{r.closing.ms()} ({r.closing.count}) | {r.gaze.ms()} |")
    print(f"\nms per face-frame, CPU / wall, one thread; peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
