#!/usr/bin/env python3
"""The Blender picture of docs/exports.md: track a video with `--animation glb`, import the glb in
headless Blender (its own glTF importer) and render three frames side by side.

    python scripts/blender_preview.py [VIDEO] [--frames 0,20,43] [--out screenshots/animation_blender.png]

The picture shows the BFM-derived face model, so, like the app's screenshots, it is
written to the git-ignored screenshots/ folder and never committed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
PROBE = REPO / "tests" / "blender_probe.py"


def main() -> int:
    from engine.config import DEFAULT_DATA_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT_DATA_DIR / "media" / "obama.mp4")
    parser.add_argument("--frames", default="0,20,43")
    parser.add_argument("--out", type=Path, default=REPO / "screenshots" / "animation_blender.png")
    args = parser.parse_args()
    blender = shutil.which("blender")
    if blender is None:
        print("blender_preview: error: blender not found (apt-get install blender)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        subprocess.run([sys.executable, "-m", "tracker_app", "track", str(args.video), "--out", str(run),
                        "--no-table", "--animation", "glb", "--no-progress"], check=True, cwd=REPO)
        glb = sorted((run / "animation").glob("track_*.glb"))[0]
        # Blender built on the system Python finds its library through PATH: its folder first.
        env = dict(os.environ, PATH=os.pathsep.join([str(Path(blender).resolve().parent), os.environ["PATH"]]))
        shot = Path(tmp) / "shot.png"
        subprocess.run([blender, "-b", "--factory-startup", "--python", str(PROBE), "--", "render", str(glb),
                        "--fps", "25", "--frames", args.frames, "--out", str(shot)],
                       check=True, env=env, capture_output=True)
        images = [cv2.imread(str(Path(tmp) / f"shot_{f}.png")) for f in args.frames.split(",")]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.out), np.concatenate(images, axis=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
