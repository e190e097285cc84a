"""`tracker-app` command line. Heavy modules are imported inside the commands, so
``tracker-app --help`` answers at once."""
from __future__ import annotations

import argparse
import logging
import sys
import traceback
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.choices import MESH_SPACES, SMOOTHERS
from engine.errors import TrackerError, UsageError
from tracker_app import __version__

if TYPE_CHECKING:  # the commands import these when they run (a fast --help)
    from engine.analyzer import FaceAnalyzer
    from engine.batch.engine import BatchEngine
    from engine.batch.index import InputOutcome
    from engine.batch.runner import BatchPlan
    from engine.config import EngineConfig
    from engine.frame_selection import FrameSelection
    from engine.session import SessionOptions, SessionSummary
    from engine.vmc import VmcSender, VmcTarget


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the usage block (9 lines for `track`) buries the message."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"tracker-app: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tracker-app",
        description="Realtime 3D dense face tracker (3DDFA_V2 family). "
                    "With no command, opens the desktop window.")
    parser.add_argument("--config", type=Path, default=None,
                        help="YAML file overriding configs/default.yaml")
    parser.add_argument("--threads", type=_int_at_least(1), default=None,
                        help="onnxruntime intra-op threads (default from config, capped at the CPU count)")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of every error, not only a one-line message")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    setup = sub.add_parser(
        "setup", help="convert the upstream data into the model folder (needed once)",
        description="Verify the upstream data against its SHA256SUMS and convert it into the models the "
                    "tracker runs: the weights_dir of the config, else $TRACKER_WEIGHTS_DIR, else weights/ "
                    "in a source checkout, else the per-user data folder. Re-running skips what is up to date.")
    setup.add_argument("--data", type=Path, default=None,
                       help="upstream data folder (default: $TRACKER_DATA_DIR, or ../shared/data beside a checkout)")
    setup.add_argument("--bfm", type=Path, default=None,
                       help="official bfm_noneck_v3.pkl; when given it replaces the rebuilt dense model")
    setup.add_argument("--weights", type=Path, default=None, help="model folder to write (default: see above)")
    setup.add_argument("--force", action="store_true", help="convert everything again")
    setup.set_defaults(func=run_setup)

    desktop = sub.add_parser(
        "install-desktop", help="add the app to the desktop menu of the current user (icon + .desktop entry)")
    desktop.add_argument("--data-home", type=Path, default=None,
                         help="XDG data folder to install into (default: $XDG_DATA_HOME or ~/.local/share)")
    desktop.set_defaults(func=run_install_desktop)

    gui = sub.add_parser("gui", help="open the desktop window (the default with no command)")
    where = gui.add_mutually_exclusive_group()
    where.add_argument("--video", type=Path, default=None, help="start playing this video file")
    where.add_argument("--camera", type=_int_at_least(0), default=None, metavar="N",
                       help="start on camera N (0, 1, ...)")
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
    _add_session_flags(track)
    track.add_argument("--overwrite", action="store_true",
                       help="replace an earlier run's files in --out (otherwise such a folder is refused)")
    track.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    _add_wait_flag(track)
    track.add_argument("--vmc", nargs="?", const="", default=None, metavar="HOST:PORT",
                       help="stream head pose and expressions of the first person in view over the VMC protocol "
                            "(default target from configs/default.yaml vmc:, 127.0.0.1:39539)")
    track.add_argument("--vmc-mirror", action="store_true",
                       help="stream the motion mirrored (the avatar moves like the user's mirror image)")
    track.set_defaults(func=run_track)
    _add_batch_parser(sub)
    return parser


def _add_session_flags(parser: argparse.ArgumentParser) -> None:
    """The tracking and export flags of `track`, shared with `batch` (read by _session_options)."""
    parser.add_argument("--dense", action="store_true", help="reconstruct the dense 38,365-vertex mesh per face")
    parser.add_argument("--smoother", choices=SMOOTHERS, default="lookahead",
                        help="lookahead: window over past and future frames (output delayed by n_next "
                             "frames); realtime: One Euro filter, no delay; off (default: %(default)s)")
    parser.add_argument("--no-table", dest="table", action="store_false",
                        help="do not write faces.csv (one row per face per frame)")
    parser.add_argument("--video", action="store_true", help="write overlay.avi (landmarks, pose axes, person IDs)")
    parser.add_argument("--frames", type=_frame_selection, default=None, metavar="LIST",
                        help="frames to save as PNG, e.g. 0,10,100-200:25 or all")
    parser.add_argument("--meshes", type=_frame_selection, default=None, metavar="LIST",
                        help="frames whose face meshes are saved (OBJ and PLY, colours from the frame), "
                             "e.g. 0-100:10 or all")
    parser.add_argument("--mesh-space", choices=MESH_SPACES, default="image",
                        help="image: pixels over the frame (y up, not recentred); head: the canonical head "
                             "without the pose, metres, +Y up, looking down +Z (default: %(default)s)")
    parser.add_argument("--mesh-format", default="obj,ply", metavar="FMT",
                        help="mesh formats, comma-separated: obj, ply (default: %(default)s)")
    parser.add_argument("--render", default=None, metavar="MODES",
                        help="mesh: shaded dense mesh in the overlay video and PNGs; depth, pncc: depth.avi / "
                             "pncc.avi (with --video) and _depth/_pncc PNGs for --frames (comma-separated)")
    parser.add_argument("--mesh-texture", action="store_true",
                        help="--meshes OBJ files carry a UV texture sampled from the frame (.mtl + .png)")
    parser.add_argument("--animation", default=None, metavar="FMTS",
                        help="glb, pc2 (comma-separated): per person, animation/person_<id>.glb (morph targets + "
                             "head motion), .pc2 point cache and person_<id>_base.obj")
    parser.add_argument("--max-frames", type=_int_at_least(1), default=None, metavar="N", help="stop after N frames")
    parser.add_argument("--detect-every", type=_int_at_least(0), default=None, metavar="N",
                        help="also run the detector every N frames to pick up new faces (0 = only when needed)")
    parser.add_argument("--max-faces", type=_int_at_least(0), default=None, metavar="N",
                        help="track at most N faces (0 = any)")


def _int_at_least(low: int) -> typing.Callable[[str], int]:
    """An argparse type: a whole number >= ``low``; argparse names the flag in its one-line error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got '{text[:40]}'") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return parse


def _frame_selection(text: str) -> FrameSelection:
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
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="tracker-app: %(levelname)s: %(name)s: %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        print("tracker-app: interrupted", file=sys.stderr)
        return 130
    # The project's errors and real I/O errors carry a one-line message for the user;
    # anything else is a bug and keeps its traceback.
    except (TrackerError, OSError) as e:
        if args.debug:
            traceback.print_exc()
        print(f"tracker-app: error: {e}", file=sys.stderr)
        return 1


def run_setup(args: argparse.Namespace) -> int:
    from engine.assets import DATA_ENV, default_data_dir, install_assets
    from engine.config import EngineConfig

    data = args.data or default_data_dir()
    if data is None:
        raise UsageError(f"where is the upstream data? pass --data DIR or set {DATA_ENV}")
    weights = args.weights or EngineConfig.load(args.config).weights_dir
    install_assets(data, weights, bfm=args.bfm, force=args.force)
    return 0


def run_install_desktop(args: argparse.Namespace) -> int:
    from tracker_app.desktop_entry import install_desktop_entry

    for path in install_desktop_entry(args.data_home):
        print(f"installed {path}")
    return 0


def run_gui(args: argparse.Namespace) -> int:
    import os

    # Without a display Qt aborts the process with a screenful of plugin advice; say it in one line.
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        raise OSError("no display for the desktop window (DISPLAY is not set); "
                      "use `tracker-app detect` or `tracker-app track` to work headless")
    if args.video is not None and not args.video.is_dir():  # a folder of images opens as a video
        from engine.file_kinds import unusable_path_problem

        problem = unusable_path_problem(args.video)
        if problem is not None:
            raise OSError(f"{args.video}: {problem}")
    from tracker_app.gui_main import run_gui as open_window

    return open_window(video=args.video, camera=args.camera, config_path=args.config, threads=args.threads)


def _load_analyzer(args: argparse.Namespace) -> FaceAnalyzer:
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
    _check_out_folder(args.out)
    stems = _output_stems(args.images)
    analyzer = _load_analyzer(args)
    renderer = FrameRenderer(analyzer.face_model) if modes else None
    mesh_writer = MeshWriter(analyzer.face_model, ("obj",), texture=True) if args.mesh_texture else None
    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path, stem in zip(args.images, stems):
        try:
            image = read_image(str(path), analyzer.config.input.max_image_pixels)
        except ImageError as e:
            print(f"tracker-app: error: {e}", file=sys.stderr)  # e names the file
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
        base = renderer.render(image, faces, "mesh") if renderer is not None and "mesh" in modes else image
        overlay = draw_faces(base, faces, labels=[str(i) for i in range(len(faces))])
        write_image(args.out / f"{stem}_overlay.jpg", overlay)
        for mode in modes:
            if mode != "mesh" and renderer is not None:
                write_image(args.out / f"{stem}_{mode}.png", renderer.render(image, faces, mode))
        if mesh_writer is not None:
            for i, face in enumerate(faces):
                mesh_writer.write(args.out / f"{stem}_face{i}", image, face)
        if args.json:
            doc = {"image": str(path), "width": image.shape[1], "height": image.shape[0],
                   "faces": [f.to_dict() for f in faces]}
            write_atomic(args.out / f"{stem}.json", json.dumps(doc).encode("utf-8"))
    return 1 if failures else 0


def _check_out_folder(out: Path) -> None:
    """--out must be a folder or not exist yet (mkdir's '[Errno 17] File exists' says neither)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file, not a folder")


def _output_stems(images: list[Path]) -> list[str]:
    """The name each input's outputs start with: its stem, unless inputs share one (emma.png,
    emma.webp), when the extension (and then a number) keeps their outputs apart; said on stdout."""
    from collections import Counter

    shared = Counter(p.stem for p in images)
    stems: list[str] = []
    taken: set[str] = set()
    for path in images:
        stem = path.stem if shared[path.stem] == 1 else f"{path.stem}_{path.suffix.lstrip('.').lower() or 'noext'}"
        base, n = stem, 2
        while stem in taken:
            stem, n = f"{base}_{n}", n + 1
        taken.add(stem)
        stems.append(stem)
        if stem != path.stem:
            print(f"{path}: outputs named {stem}_* (another input is also called {path.stem})")
    return stems


def _session_options(args: argparse.Namespace, *, overwrite: bool) -> tuple[EngineConfig, SessionOptions]:
    """(EngineConfig, SessionOptions) from the flags of _add_session_flags and --config."""
    from engine.animation_export import parse_animation_formats
    from engine.config import EngineChoices, EngineConfig
    from engine.frame_render import parse_render_modes
    from engine.frame_selection import FrameSelection
    from engine.mesh_export import MESH_FORMATS
    from engine.name_lists import parse_names
    from engine.session import ExportOptions, SessionOptions

    formats = parse_names(args.mesh_format, MESH_FORMATS, "mesh format")
    if not formats:
        raise UsageError(f"--mesh-format: expected {' and/or '.join(MESH_FORMATS)}, got '{args.mesh_format}'")
    exports = ExportOptions(table=args.table, video=args.video, render=parse_render_modes(args.render),
                            frames=args.frames or FrameSelection.none(),
                            meshes=args.meshes or FrameSelection.none(), mesh_formats=formats,
                            mesh_space=args.mesh_space, mesh_texture=args.mesh_texture,
                            animation=parse_animation_formats(args.animation or ""), overwrite=overwrite)
    # The flags reach the engine by the path the app's settings take (EngineConfig.with_choices).
    choices = EngineChoices(detect_every=args.detect_every,
                            max_faces=args.max_faces)  # both refused in one line when negative (argparse)
    config = EngineConfig.load(args.config).with_choices(choices, source="the command line")
    options = SessionOptions(dense=args.dense, smoother=args.smoother, max_frames=args.max_frames,
                             exports=exports)
    return config, options


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C so the exports are closed cleanly."""


def _catch_stop_signals(stop: list[int]) -> dict[int, Any]:
    """Ctrl-C / SIGTERM append to ``stop`` (checked between frames); a second one aborts at
    once. Returns the previous handlers, to put back."""
    import signal

    from engine.interrupts import interrupt

    def on_signal(signum: int, frame: object) -> None:
        if stop:
            interrupt(_Terminated())  # at once, or once the frame being written is in every file
        stop.append(signum)

    return {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}


def run_track(args: argparse.Namespace) -> int:
    import signal

    from engine.analyzer import FaceAnalyzer
    from engine.session import SourceDescription, run_session
    from engine.video_source import open_source

    _check_track_source(args.source)
    _check_out_folder(args.out)
    config, options = _session_options(args, overwrite=args.overwrite)
    target = _vmc_target(args, config)
    analyzer = FaceAnalyzer.from_config(config, threads=args.threads)
    sender = _vmc_sender(args, config, analyzer, target)

    # Ctrl-C / SIGTERM only set a flag, checked between frames, so a frame is never half
    # exported (in the table but not in the video); a second signal aborts at once.
    stop: list[int] = []
    previous = _catch_stop_signals(stop)
    bar = None
    out_lock = None
    try:
        if args.wait:  # the session takes the folder's lock again (re-entrant) and keeps it to its end
            from engine.out_lock import lock_out_dir

            out_lock = lock_out_dir(args.out, wait=True)
        with open_source(args.source, max_image_pixels=config.input.max_image_pixels,
                         decoder_threads=options.decoder_threads(config)) as source:
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
        if out_lock is not None:
            out_lock.release()
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
    exports = options.exports
    for flag, selection in (("--frames", exports.frames), ("--meshes", exports.meshes)):
        past = selection.beyond(summary.frames_read)
        if past:
            read = summary.frames_read
            print(f"tracker-app: note: {flag} {_cut(past.text(), 60)}: past the end ({read} "
                  f"frame{'' if read == 1 else 's'} read, 0-based); nothing written for them", file=sys.stderr)
    if summary.error:
        print(f"tracker-app: error: {summary.error} (the frames before it were processed and kept)",
              file=sys.stderr)
        return 1
    return 0


def _cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: a frame list can be 54 KB long."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _vmc_target(args: argparse.Namespace, config: EngineConfig) -> VmcTarget | None:
    """The target of ``--vmc`` (None without it), checked before the models load; a bad one is a UsageError."""
    if args.vmc is None:
        return None
    from engine.vmc import VmcTarget, VmcTargetError

    try:
        return VmcTarget.parse(args.vmc, VmcTarget(config.vmc.host, config.vmc.port))
    except VmcTargetError as e:
        raise UsageError(f"--vmc: {e}") from None


def _vmc_sender(args: argparse.Namespace, config: EngineConfig, analyzer: FaceAnalyzer,
                target: VmcTarget | None) -> VmcSender | None:
    """The VMC sink for ``target`` (None without one)."""
    if target is None:
        return None
    from engine.expressions import ExpressionModel
    from engine.vmc import VmcSender

    return VmcSender(ExpressionModel(analyzer.face_model, config.expressions), target, mirror=args.vmc_mirror)


def _check_track_source(source: str) -> None:
    """Say what a source that cannot be tracked is: a negative camera index, a FIFO, a device."""
    import re

    from engine.file_kinds import unusable_path_problem

    path = Path(source)
    if re.fullmatch(r"\s*-\d+\s*", source) and not path.exists():
        raise UsageError(f"{source}: not a camera (cameras are 0, 1, ...) and no file of that name")
    if path.exists() and not path.is_dir():
        problem = unusable_path_problem(path)
        if problem is not None:
            raise UsageError(f"{source}: {problem}")


def _print_summary(args: argparse.Namespace, summary: SessionSummary) -> None:
    frames, secs = summary.frames, summary.seconds
    fps = frames / secs if secs > 0 else 0.0
    people = "1 person" if summary.people == 1 else f"{summary.people} people"
    print(f"{args.source}: {frames} frames in {secs:.1f} s ({fps:.1f} fps); {summary.tracks} track(s) of {people}, "
          f"faces in {summary.frames_with_faces}/{frames} frames (at most {summary.max_faces_in_a_frame} "
          f"at once); detector calls {summary.detector_calls}, face checks {summary.face_checks}")
    med, mean = summary.ms_per_frame_median, summary.ms_per_frame_mean
    parts = [f"{k} {med[k]:.2f}/{mean[k]:.2f}" for k in med]
    print(f"  ms per frame (median/mean): {', '.join(parts)}; total {sum(mean.values()):.2f} (mean)")
    print(f"  wrote to {args.out}")


def _add_batch_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    batch = sub.add_parser(
        "batch", help="track many videos and image folders into one resumable dataset folder",
        description="Run `track` on every INPUT, each into its own folder under --out, with a dataset index "
                    "(index.csv, and index.parquet with pyarrow). Re-running skips the inputs already done "
                    "and redoes partial ones; Ctrl-C stops cleanly. Runs on a pool of worker processes here, "
                    "or on a Ray cluster with --ray.")
    batch.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="video file, image folder, text file listing inputs (.txt/.list/.lst, one a line), "
                            "or a glob such as 'clips/*.mp4'")
    batch.add_argument("--out", type=Path, required=True, help="dataset folder: one folder per input, index.csv")
    _add_session_flags(batch)
    batch.add_argument("--workers", type=_int_at_least(1), default=None, metavar="N",
                       help="tasks at once (default: from configs/default.yaml batch:, by default the CPUs "
                            "divided by the onnxruntime threads per worker; --threads sets those)")
    batch.add_argument("--retry-failed", action="store_true", help="run the inputs that failed before again")
    batch.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="run the tasks on Ray (pip install '.[ray]'): the cluster at ADDRESS, or a local "
                            "Ray instance without one; inputs and --out must be paths every node shares")
    batch.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    _add_wait_flag(batch)
    batch.set_defaults(func=run_batch_command)


def _add_wait_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true",
                        help="when another command writes into --out, wait for it to end (default: refuse)")


# The summary lists this many failed inputs; the index has them all.
BATCH_FAILURES_LISTED = 20


def run_batch_command(args: argparse.Namespace) -> int:
    from engine.batch.inputs import expand_inputs
    from engine.batch.local_pool import LocalPoolEngine, default_workers
    from engine.batch.runner import run_batch
    from engine.batch.task import BatchSettings

    # Folders without a completion marker are partial runs of this batch: replaced.
    config, options = _session_options(args, overwrite=True)
    threads = args.threads or config.batch.threads_per_worker
    workers = args.workers if args.workers is not None else config.batch.workers or default_workers(threads)
    inputs = expand_inputs(args.inputs)
    settings = BatchSettings(config=config, threads=threads, session=options, out_dir=str(args.out.resolve()))
    if args.ray is not None:
        from engine.batch.ray_engine import RayEngine

        engine: BatchEngine = RayEngine(args.ray or None, workers, threads, config.batch.task_retries)
    else:
        engine = LocalPoolEngine(workers, config.batch.task_retries)
    progress = _BatchProgress(args.progress)
    stop: list[int] = []
    previous = _catch_stop_signals(stop)
    try:
        report = run_batch(inputs, settings, engine, retry_failed=args.retry_failed, observer=progress,
                           stop=lambda: bool(stop), wait=args.wait)
    finally:
        import signal

        for sig, handler in previous.items():
            signal.signal(sig, handler)
        progress.close()
    print(f"batch: {report.done} done, {report.failed} failed, {report.skipped} skipped (finished before); "
          f"{report.frames} frames in {report.seconds:.1f} s ({report.fps:.1f} fps overall)")
    for outcome in report.failures[:BATCH_FAILURES_LISTED]:
        print(f"  failed: {outcome.error}")  # the error names the input
    if len(report.failures) > BATCH_FAILURES_LISTED:
        print(f"  ... and {len(report.failures) - BATCH_FAILURES_LISTED} more failed (see the index)")
    print(f"  index: {report.index_path}")
    if report.not_finished:
        print(f"tracker-app: interrupted; {report.not_finished} input(s) not finished, "
              "run the same command again to do them", file=sys.stderr)
        return 130
    return 1 if report.failed else 0


class _BatchProgress:
    """The batch's progress bar: inputs over the whole set (with the ETA), frames beside them."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None
        self.frames = 0

    def planned(self, plan: BatchPlan, engine: BatchEngine) -> None:
        unreadable = (f"{len(plan.unreadable)} missing or unreadable, recorded as failed; "
                      if plan.unreadable else "")
        print(f"batch: {len(plan.inputs)} input(s); {plan.skipped} finished before, skipped; {unreadable}"
              f"{len(plan.to_run)} to run on {engine.description}", flush=True)
        if self.enabled and plan.to_run:
            from tqdm import tqdm

            self.bar = tqdm(total=len(plan.to_run), file=sys.stderr, unit="input", dynamic_ncols=True,
                            desc="batch")

    def frames_done(self, count: int) -> None:
        self.frames += count
        if self.bar is not None:
            fps = self.frames / max(self.bar.format_dict["elapsed"], 1e-3)
            self.bar.set_postfix_str(f"{self.frames} frames, {fps:.1f} fps")

    def input_finished(self, outcome: InputOutcome) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if outcome.error:
                self.bar.write(f"batch: failed: {outcome.error}", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


if __name__ == "__main__":
    sys.exit(main())
