"""`tracker-app` command line. Heavy modules are imported inside the commands, so
``tracker-app --help`` answers at once."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracker-app",
        description="Realtime 3D dense face tracker (3DDFA_V2 family).")
    parser.add_argument("--config", type=Path, default=None,
                        help="YAML file overriding configs/default.yaml")
    parser.add_argument("--threads", type=int, default=None,
                        help="onnxruntime intra-op threads (default from config, capped at the CPU count)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    detect = sub.add_parser("detect", help="find and reconstruct faces in still images")
    detect.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    detect.add_argument("--out", type=Path, default=Path("out"),
                        help="folder for overlay images and JSON (default: %(default)s)")
    detect.add_argument("--dense", action="store_true", help="reconstruct the dense 38,365-vertex mesh")
    detect.add_argument("--json", action="store_true", help="write the full results as IMAGE.json")
    detect.set_defaults(func=run_detect)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
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


def _load_analyzer(args: argparse.Namespace):
    from engine.analyzer import FaceAnalyzer
    from engine.config import EngineConfig

    return FaceAnalyzer.from_config(EngineConfig.load(args.config), threads=args.threads)


def run_detect(args: argparse.Namespace) -> int:
    import json

    import cv2

    from engine.image_input import ImageError, read_image
    from engine.overlay import draw_faces

    analyzer = _load_analyzer(args)
    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in args.images:
        try:
            image = read_image(str(path))
        except ImageError as e:
            print(f"{path}: error: {e}", file=sys.stderr)
            failures += 1
            continue
        faces = analyzer.analyze(image, dense=args.dense)
        if not faces:
            print(f"{path}: no faces found")
        for i, face in enumerate(faces):
            x1, y1, x2, y2 = face.box
            print(f"{path}: face {i}: box=({x1:.0f},{y1:.0f},{x2:.0f},{y2:.0f}) score={face.score:.3f} "
                  f"yaw={face.pose.yaw:+.1f} pitch={face.pose.pitch:+.1f} roll={face.pose.roll:+.1f}")
        overlay = draw_faces(image, faces, labels=[str(i) for i in range(len(faces))])
        _write_image(args.out / f"{path.stem}_overlay.jpg", overlay, cv2)
        if args.json:
            doc = {"image": str(path), "width": image.shape[1], "height": image.shape[0],
                   "faces": [f.to_dict() for f in faces]}
            _write_text(args.out / f"{path.stem}.json", json.dumps(doc))
    return 1 if failures else 0


def _write_image(path: Path, image, cv2) -> None:
    ok, data = cv2.imencode(path.suffix, image)
    if not ok:
        raise OSError(f"cannot encode {path}")
    _write_bytes(path, data.tobytes())


def _write_text(path: Path, text: str) -> None:
    _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name, then rename: a full disk never leaves a half file."""
    import os

    tmp = path.with_name(path.name + ".partial")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OSError(f"cannot write {path}: {e.strerror}") from None


if __name__ == "__main__":
    sys.exit(main())
