"""`tracker-app` command line. Heavy modules are imported inside the commands, so
``tracker-app --help`` answers at once."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracker-app",
        description="Realtime 3D dense face tracker (3DDFA_V2 family). "
                    "With no command, opens the desktop window.")
    parser.add_argument("--config", type=Path, default=None,
                        help="YAML file overriding configs/default.yaml")
    parser.add_argument("--threads", type=int, default=None,
                        help="onnxruntime intra-op threads (default from config, capped at the CPU count)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the desktop window (the default with no command)")
    where = gui.add_mutually_exclusive_group()
    where.add_argument("--video", type=Path, default=None, help="start playing this video file")
    where.add_argument("--camera", type=int, default=None, metavar="N", help="start on camera N (0, 1, ...)")
    gui.set_defaults(func=run_gui)

    detect = sub.add_parser("detect", help="find and reconstruct faces in still images")
    detect.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    detect.add_argument("--out", type=Path, default=Path("out"),
                        help="folder for overlay images and JSON (default: %(default)s)")
    detect.add_argument("--dense", action="store_true", help="reconstruct the dense 38,365-vertex mesh")
    detect.add_argument("--json", action="store_true", help="write the full results as IMAGE.json")
    detect.add_argument("--render", default=None, metavar="MODES",
                        help="mesh: shaded dense mesh under the overlay; depth, pncc: IMAGE_depth.png, "
                             "IMAGE_pncc.png (comma-separated)")
    detect.add_argument("--mesh-texture", action="store_true",
                        help="write each face as a textured OBJ (IMAGE_face0.obj + .mtl + .png)")
    detect.set_defaults(func=run_detect)

    track = sub.add_parser(
        "track", help="track faces through a video, an image folder or a camera and export the results",
        description="Track every face through a video file, an image folder or a camera (index) and write "
                    "the chosen exports to --out. Ctrl-C stops cleanly: everything up to the last frame "
                    "processed is kept.")
    track.add_argument("source", metavar="VIDEO", help="video file, folder of images, or camera index (0, 1, ...)")
    track.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: %(default)s)")
    track.add_argument("--dense", action="store_true", help="reconstruct the dense 38,365-vertex mesh per face")
    track.add_argument("--smoother", choices=("lookahead", "realtime", "off"), default="lookahead",
                       help="lookahead: window over past and future frames (output delayed by n_next "
                            "frames); realtime: One Euro filter, no delay; off (default: %(default)s)")
    track.add_argument("--no-table", dest="table", action="store_false",
                       help="do not write faces.csv (one row per face per frame)")
    track.add_argument("--video", action="store_true", help="write overlay.avi (landmarks, pose axes, track IDs)")
    track.add_argument("--frames", type=_frame_selection, default=None, metavar="LIST",
                       help="frames to save as PNG, e.g. 0,10,100-200:25 or all")
    track.add_argument("--meshes", type=_frame_selection, default=None, metavar="LIST",
                       help="frames whose face meshes are saved (OBJ and PLY, colours from the frame), "
                            "e.g. 0-100:10 or all")
    track.add_argument("--mesh-space", choices=("image", "head"), default="image",
                       help="image: pixels over the frame (y up, not recentred); head: the canonical head "
                            "without the pose, metres, +Y up, looking down +Z (default: %(default)s)")
    track.add_argument("--mesh-format", default="obj,ply", metavar="FMT",
                       help="mesh formats, comma-separated: obj, ply (default: %(default)s)")
    track.add_argument("--render", default=None, metavar="MODES",
                       help="mesh: shaded dense mesh in the overlay video and PNGs; depth, pncc: depth.avi / "
                            "pncc.avi (with --video) and _depth/_pncc PNGs for --frames (comma-separated)")
    track.add_argument("--mesh-texture", action="store_true",
                       help="--meshes OBJ files carry a UV texture sampled from the frame (.mtl + .png)")
    track.add_argument("--animation", default=None, metavar="FMTS",
                       help="glb, pc2 (comma-separated): per track, animation/track_<id>.glb (morph targets + "
                            "head motion), .pc2 point cache and track_<id>_base.obj")
    track.add_argument("--overwrite", action="store_true",
                       help="replace an earlier run's files in --out (otherwise such a folder is refused)")
    track.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N frames")
    track.add_argument("--detect-every", type=int, default=None, metavar="N",
                       help="also run the detector every N frames to pick up new faces (0 = only when needed)")
    track.add_argument("--max-faces", type=int, default=None, metavar="N", help="track at most N faces (0 = any)")
    track.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    track.add_argument("--vmc", nargs="?", const="", default=None, metavar="HOST:PORT",
                       help="stream head pose and expressions of the oldest track over the VMC protocol "
                            "(default target from configs/default.yaml vmc:, 127.0.0.1:39539)")
    track.add_argument("--vmc-mirror", action="store_true",
                       help="stream the motion mirrored (the avatar moves like the user's mirror image)")
    track.set_defaults(func=run_track)
    return parser


def _frame_selection(text: str):
    """'0,10,100-200:25' or 'all' -> a lazy engine.frame_selection.FrameSelection."""
    from engine.frame_selection import FrameSelection, FrameSelectionError

    try:
        return FrameSelection.parse(text)
    except FrameSelectionError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # plain `tracker-app` opens the window
        args.func, args.video, args.camera = run_gui, None, None
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("tracker-app: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as e:  # our errors are ValueError/OSError subclasses with one-line text
        print(f"tracker-app: error: {e}", file=sys.stderr)
        return 1


def run_gui(args: argparse.Namespace) -> int:
    import os

    # Without a display Qt aborts the process with a screenful of plugin advice; say it in one line.
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        raise OSError("no display for the desktop window (DISPLAY is not set); "
                      "use `tracker-app detect` or `tracker-app track` to work headless")
    if args.video is not None and not args.video.is_file():
        raise OSError(f"{args.video}: no such file")
    from tracker_app.gui_main import run_gui as open_window

    return open_window(video=args.video, camera=args.camera, config_path=args.config, threads=args.threads)


def _load_analyzer(args: argparse.Namespace):
    from engine.analyzer import FaceAnalyzer
    from engine.config import EngineConfig

    return FaceAnalyzer.from_config(EngineConfig.load(args.config), threads=args.threads)


def run_detect(args: argparse.Namespace) -> int:
    import json

    from engine.atomic_files import write_atomic, write_image
    from engine.frame_render import FrameRenderer, parse_render_modes
    from engine.image_input import ImageError, read_image
    from engine.mesh_export import MeshWriter
    from engine.overlay import draw_faces

    modes = parse_render_modes(args.render)
    analyzer = _load_analyzer(args)
    renderer = FrameRenderer(analyzer.face_model) if modes else None
    mesh_writer = MeshWriter(analyzer.face_model, ("obj",), texture=True) if args.mesh_texture else None
    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in args.images:
        try:
            image = read_image(str(path))
        except ImageError as e:
            print(f"{path}: error: {e}", file=sys.stderr)
            failures += 1
            continue
        # Numbered left to right (by the box centre), so "face 0" is the leftmost in the picture.
        faces = sorted(analyzer.analyze(image, dense=args.dense), key=lambda f: float(f.box[0] + f.box[2]))
        if not faces:
            print(f"{path}: no faces found")
        elif len(faces) > 1:
            print(f"{path}: {len(faces)} faces, numbered left to right")
        for i, face in enumerate(faces):
            x1, y1, x2, y2 = face.box
            print(f"{path}: face {i}: box=({x1:.0f},{y1:.0f},{x2:.0f},{y2:.0f}) score={face.score:.3f} "
                  f"yaw={face.pose.yaw:+.1f} pitch={face.pose.pitch:+.1f} roll={face.pose.roll:+.1f}")
        base = renderer.render(image, faces, "mesh") if "mesh" in modes else image
        overlay = draw_faces(base, faces, labels=[str(i) for i in range(len(faces))])
        write_image(args.out / f"{path.stem}_overlay.jpg", overlay)
        for mode in modes:
            if mode != "mesh":
                write_image(args.out / f"{path.stem}_{mode}.png", renderer.render(image, faces, mode))
        if mesh_writer is not None:
            for i, face in enumerate(faces):
                mesh_writer.write(args.out / f"{path.stem}_face{i}", image, face)
        if args.json:
            doc = {"image": str(path), "width": image.shape[1], "height": image.shape[0],
                   "faces": [f.to_dict() for f in faces]}
            write_atomic(args.out / f"{path.stem}.json", json.dumps(doc).encode("utf-8"))
    return 1 if failures else 0


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C so the exports are closed cleanly."""


def run_track(args: argparse.Namespace) -> int:
    import dataclasses
    import signal

    from engine.analyzer import FaceAnalyzer
    from engine.animation_export import parse_animation_formats
    from engine.config import EngineConfig
    from engine.frame_render import parse_render_modes
    from engine.frame_selection import FrameSelection
    from engine.session import ExportOptions, SessionOptions, SourceDescription, run_session
    from engine.video_source import open_source

    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError("--max-frames must be at least 1")
    formats = tuple(f.strip().lower() for f in args.mesh_format.split(",") if f.strip())
    if not formats or any(f not in ("obj", "ply") for f in formats):
        raise ValueError(f"--mesh-format: expected obj and/or ply, got '{args.mesh_format}'")
    exports = ExportOptions(table=args.table, video=args.video, render=parse_render_modes(args.render),
                            frames=args.frames or FrameSelection.none(),
                            meshes=args.meshes or FrameSelection.none(), mesh_formats=formats,
                            mesh_space=args.mesh_space, mesh_texture=args.mesh_texture,
                            animation=parse_animation_formats(args.animation or ""), overwrite=args.overwrite)
    config = EngineConfig.load(args.config)
    overrides = {}
    if args.detect_every is not None:
        overrides["detect_every"] = max(0, args.detect_every)
    if args.max_faces is not None:
        overrides["max_faces"] = max(0, args.max_faces)
    if overrides:
        config = dataclasses.replace(config, tracker=dataclasses.replace(config.tracker, **overrides))
    options = SessionOptions(dense=args.dense, smoother=args.smoother, max_frames=args.max_frames,
                             exports=exports)
    analyzer = FaceAnalyzer.from_config(config, threads=args.threads)
    sender = _vmc_sender(args, config, analyzer)

    # Ctrl-C / SIGTERM only set a flag, checked between frames, so a frame is never half
    # exported (in the table but not in the video); a second signal aborts at once.
    stop: list[int] = []

    def on_signal(signum, frame):
        if stop:
            raise _Terminated()
        stop.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    bar = None
    try:
        with open_source(args.source) as source:
            total = SourceDescription.of(source).frame_count
            if args.max_frames and total:
                total = min(total, args.max_frames)
            if args.progress:
                from tqdm import tqdm

                bar = tqdm(total=total, file=sys.stderr, unit="frame", dynamic_ncols=True, leave=True,
                           desc=Path(str(args.source)).name or str(args.source))
            summary = run_session(source, analyzer, options, args.out, stop=lambda: bool(stop),
                                  sinks=[sender] if sender is not None else [],
                                  on_result=(lambda r: bar.update(1)) if bar is not None else None)
    finally:
        if sender is not None:
            sender.close()  # the session closed it already, unless the source failed to open
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if bar is not None:
            if bar.total is not None and bar.n != bar.total:
                bar.total = bar.n
                bar.refresh()
            bar.close()
    _print_summary(args, summary)
    if sender is not None:
        print(f"  streamed {sender.bundles_sent} VMC bundles to {sender.target}")
        if sender.error:
            print(f"tracker-app: note: {sender.error}", file=sys.stderr)
    if summary.interrupted:
        print("tracker-app: interrupted; everything up to the last frame processed was kept", file=sys.stderr)
        return 130
    if summary.warning:
        print(f"tracker-app: note: {summary.warning}", file=sys.stderr)
    for flag, selection in (("--frames", exports.frames), ("--meshes", exports.meshes)):
        past = selection.beyond(summary.frames_read)
        if past:
            read = summary.frames_read
            print(f"tracker-app: note: {flag} {past.text()}: past the end ({read} frame{'' if read == 1 else 's'} "
                  f"read, 0-based); nothing written for them", file=sys.stderr)
    if summary.error:
        print(f"tracker-app: error: {summary.error} (the frames before it were processed and kept)",
              file=sys.stderr)
        return 1
    return 0


def _vmc_sender(args: argparse.Namespace, config, analyzer):
    """The VMC sink asked for by ``--vmc`` (None without it); a bad target is a ValueError."""
    if args.vmc is None:
        return None
    from engine.expressions import ExpressionModel
    from engine.vmc import VmcSender, VmcTarget

    target = VmcTarget.parse(args.vmc, VmcTarget(config.vmc.host, config.vmc.port))
    return VmcSender(ExpressionModel(analyzer.face_model, config.expressions), target, mirror=args.vmc_mirror)


def _print_summary(args: argparse.Namespace, summary) -> None:
    frames, secs = summary.frames, summary.seconds
    fps = frames / secs if secs > 0 else 0.0
    print(f"{args.source}: {frames} frames in {secs:.1f} s ({fps:.1f} fps); {summary.tracks} track(s), "
          f"faces in {summary.frames_with_faces}/{frames} frames (at most {summary.max_faces_in_a_frame} "
          f"at once); detector calls {summary.detector_calls}, face checks {summary.face_checks}")
    med, mean = summary.ms_per_frame_median, summary.ms_per_frame_mean
    parts = [f"{k} {med[k]:.2f}/{mean[k]:.2f}" for k in med]
    print(f"  ms per frame (median/mean): {', '.join(parts)}; total {sum(mean.values()):.2f} (mean)")
    print(f"  wrote to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
