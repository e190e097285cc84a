#!/usr/bin/env python3
"""Screenshots of the desktop app into screenshots/ (git-ignored: they show the shared media).

    python scripts/take_screenshots.py [VIDEO] [--out screenshots] [--frames 30]

Opens the real window on VIDEO (default: obama.mp4 of the shared data), plays it
with the real models until --frames frames were shown, pauses and writes:
  window_video.png  the whole window in video mode (mesh, landmarks, pose axes, plots)
  view_video.png    the GL view alone, as "Save Frame" writes it
  window_3d.png     the whole window in 3D mode, turned a little
  view_3d.png       the GL view alone in 3D mode
  view_wireframe.png the GL view in video mode with the wireframe overlay
  window_3d_faces.png the window in 3D mode on --faces (default emma.jpg: three faces, all framed)
  window_960x600.png, window_1600x1000.png  the whole window at a small and a large size
                    (video mode, paused after a seek back: the plots keep the frames after the cursor)
With --readme it writes instead the pictures the README shows, into docs/images/ (committed):
they are made only from media whose licence allows publishing them (MIT): crowd.mp4 of
facenet-pytorch, scaled to 900 px wide with a 256-colour palette to stay small:
  empty.png         the first window, before anything is opened (what to do: open, cameras, recent files)
  window.png        the window on crowd.mp4, paused (landmarks, pose axes, plots)
No README picture shows the 3D View: it is a render of the dense face model, which is derived
from the BFM (academic use only), and nothing converted from the upstream data is committed.
The developer shots above (screenshots/, git-ignored) include it.
Without a display it re-runs itself under xvfb-run (Mesa software OpenGL is enough).
The user's settings are not touched (a temporary settings file is used).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

SCREEN = "1700x1100x24"  # room for the largest window size below
WINDOW_SIZES = ((960, 600), (1600, 1000))
README_WIDTH = 900  # the README's pictures: wide enough to read the menus, small enough to commit


def main() -> int:
    from engine.config import DEFAULT_DATA_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT_DATA_DIR / "media" / "obama.mp4")
    parser.add_argument("--faces", type=Path, default=DEFAULT_DATA_DIR / "media" / "emma.jpg",
                        help="an image with several faces for the 3D shot")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "screenshots")
    parser.add_argument("--frames", type=int, default=30, help="frames to play before the shots")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the frames")
    parser.add_argument("--readme", action="store_true",
                        help="write the README's pictures into docs/images/ from MIT-licensed media")
    args = parser.parse_args()
    if args.readme:
        media = DEFAULT_DATA_DIR / "media"
        args.video = media / "footage" / "crowd.mp4"
        args.out = REPO_ROOT / "docs" / "images"

    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        xvfb = shutil.which("xvfb-run")
        if xvfb is None:
            print("take_screenshots: no display and no xvfb-run: install xvfb or run in a desktop session",
                  file=sys.stderr)
            return 1
        os.execv(xvfb, [xvfb, "-a", "-s", f"-screen 0 {SCREEN}", sys.executable, *sys.argv])
    if not args.video.is_file():
        print(f"take_screenshots: {args.video} not found", file=sys.stderr)
        return 1

    from PyQt6.QtCore import QSettings

    from engine.config import EngineConfig
    from tracker_app.capture_worker import CaptureWorker
    from tracker_app.gui_main import make_application
    from tracker_app.main_window import MainWindow
    from tracker_app.settings import GuiConfig, SettingsStore, startup_settings

    app = make_application()
    settings_dir = tempfile.mkdtemp(prefix="tracker-app-shots-")
    store = SettingsStore(QSettings(str(Path(settings_dir) / "settings.ini"), QSettings.Format.IniFormat))
    engine, gui = EngineConfig.load(), GuiConfig.load()
    if args.readme:  # the first window lists recent files: these two, as after opening them
        for path in (args.faces, args.video):
            store.add_recent(str(path), gui.recent_files)
    window = MainWindow(engine, gui, store, startup_settings(engine, gui, store))
    window.resize(1500, 860)
    window.show()

    def wait_until(condition, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise SystemExit(f"take_screenshots: timed out waiting for {what}")
            app.processEvents()
            time.sleep(0.005)
            if window.errors:
                raise SystemExit(f"take_screenshots: the app reported: {window.errors[-1]}")

    args.out.mkdir(parents=True, exist_ok=True)
    shots = []

    def shoot(name: str, image, dither: bool = True) -> None:
        path = args.out / name
        if args.readme:
            from PyQt6.QtCore import Qt
            from PyQt6.QtGui import QImage
            image = image.toImage()  # README shots are window grabs (QPixmap)
            image = image.scaledToWidth(README_WIDTH, Qt.TransformationMode.SmoothTransformation)
            # Dithering keeps a video's gradients smooth in 256 colours; flat widgets look cleaner without.
            flags = Qt.ImageConversionFlag.DiffuseDither if dither else Qt.ImageConversionFlag.ThresholdDither
            image = image.convertToFormat(QImage.Format.Format_Indexed8, flags)
        if not image.save(str(path)):
            raise SystemExit(f"take_screenshots: cannot write {path}")
        shots.append(path)

    if args.readme:
        wait_until(lambda: window.model.state.engine_ready, args.timeout, "the models")
        settle = time.monotonic() + 0.5
        wait_until(lambda: time.monotonic() > settle, 5, "the first page")
        shoot("empty.png", window.grab(), dither=False)
    window.open_source(str(args.video))
    wait_until(lambda: window.model.frames_shown >= args.frames, args.timeout, f"{args.frames} frames")
    window.controller.submit(CaptureWorker.pause)
    wait_until(lambda: not window.model.playing, 10, "pause")
    settle = time.monotonic() + 0.5  # let the plots' timer redraw with the last samples
    wait_until(lambda: time.monotonic() > settle, 5, "plots")

    if args.readme:
        shoot("window.png", window.grab())
    else:
        developer_shots(window, args, wait_until, shoot)
    window.close()
    shutil.rmtree(settings_dir, ignore_errors=True)
    for path in shots:
        print(path)
    return 0


def developer_shots(window, args, wait_until, shoot) -> None:
    """The full set into screenshots/: video mode at two sizes after a seek back, the view alone,
    wireframe, 3D, and 3D on the image of several faces."""
    shoot("window_video.png", window.grab())
    back_to = max(0, window.model.frame.result.index - 12)
    window.go_to_frame(back_to)
    wait_until(lambda: window.model.frame.result.index == back_to, args.timeout, "the seek back")
    for w, h in WINDOW_SIZES:
        window.resize(w, h)
        settle = time.monotonic() + 1.0  # layout, a repaint and a plot redraw at the new size
        wait_until(lambda settle=settle: time.monotonic() > settle, 5, "the resize")
        shoot(f"window_{w}x{h}.png", window.grab())
    window.resize(1500, 860)
    shoot("view_video.png", window.view.grab_frame())
    window.model.update_overlay(wireframe=True)
    shoot("view_wireframe.png", window.view.grab_frame())
    window.model.update_overlay(wireframe=False)
    window.model.set_view_3d(True)
    window.view.camera.orbit(60, 25)  # as a mouse drag 60 px right, 25 px down: turned towards the front
    shoot("window_3d.png", window.grab())
    shoot("view_3d.png", window.view.grab_frame())
    window.view.camera.reset()
    shoot_faces(window, args, wait_until, shoot, "window_3d_faces.png")


def shoot_faces(window, args, wait_until, shoot, name: str) -> None:
    """The window in 3D mode on the image of several faces, turned a little."""
    window.model.set_view_3d(True)
    window.open_source(str(args.faces))
    wait_until(lambda: window.model.source is not None and window.model.source.path == args.faces
               and window.model.frame is not None and not window.model.playing, args.timeout, args.faces.name)
    window.view.camera.orbit(40, 15)
    settle = time.monotonic() + 0.5
    wait_until(lambda: time.monotonic() > settle, 5, "the plots")
    shoot(name, window.grab())


if __name__ == "__main__":
    sys.exit(main())
