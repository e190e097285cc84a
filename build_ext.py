#!/usr/bin/env python3
"""Set-up: build the compiled extensions and convert the upstream data into weights/.

    python build_ext.py [--data DIR] [--bfm bfm_noneck_v3.pkl] [--force] [--sanitize]

Steps, each skipped when its output is newer than what it was built from:
  1. verify DIR/SHA256SUMS (default DIR: ../shared/data);
  2. compile render_c/_nms (Cython) and render_c/_raster (C rasteriser) in place;
  3. write weights/mb05_120x120.onnx and weights/faceboxes.onnx from the legacy
     PyTorch pickles (read with our own NumPy reader: no torch);
  4. write weights/face_model.npz: the dense 38,365-vertex face model, rebuilt from
     the sparse upstream files (or taken from an official bfm_noneck_v3.pkl).
Any failure ends with one line on stderr naming what is wrong, and exit code 1.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO_ROOT))  # run from a clean clone before `pip install -e .`

from engine.config import (  # noqa: E402
    DEFAULT_DATA_DIR,
    DETECTOR_ONNX,
    FACE_MODEL_NPZ,
    REGRESSOR_ONNX,
)

MANIFEST = "manifest.json"

# Upstream files each output is built from (paths relative to the data folder).
REGRESSOR_INPUTS = ["3ddfa_v2/mb05_120x120.pth", "3ddfa_v2/param_mean_std_62d_120x120.pkl"]
DETECTOR_INPUTS = ["3ddfa_v2/FaceBoxesProd.pth"]
FACE_MODEL_INPUTS = [
    "3ddfa_v2/tri.pkl", "3ddfa_v2/indices.npy", "3ddfa_v2/ncc_code.npy", "3ddfa_v2/BFM_UV.mat",
    "3ddfa_v2/param_mean_std_62d_120x120.pkl",
    "3ddfa_v1/u_shp.npy", "3ddfa_v1/u_exp.npy", "3ddfa_v1/keypoints_sim.npy", "3ddfa_v1/Model_PAF.pkl",
    "keypoint_basis/w_shp_base.npy", "keypoint_basis/w_exp_base.npy",
]


class SetupError(RuntimeError):
    """A set-up step failed; the message is one line for the user."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR,
                        help="folder with the upstream data (default: %(default)s)")
    parser.add_argument("--bfm", type=Path, default=None,
                        help="official bfm_noneck_v3.pkl; when given it replaces the rebuilt dense model")
    parser.add_argument("--weights", type=Path, default=REPO_ROOT / "weights",
                        help="output folder (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="rebuild everything")
    parser.add_argument("--sanitize", action="store_true",
                        help="compile the C extensions with -fsanitize=address,undefined (for tests)")
    parser.add_argument("--extensions-only", action="store_true", help="only compile the extensions")
    args = parser.parse_args(argv)
    try:
        run(args)
    except (SetupError, ValueError, OSError) as e:  # converters raise one-line ValueError/OSError
        print(f"build_ext.py: error: {e}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    build_extensions(sanitize=args.sanitize, force=args.force)
    if args.extensions_only:
        return
    data_dir: Path = args.data.resolve()
    checksums = verify_data(data_dir)
    weights: Path = args.weights.resolve()
    weights.mkdir(parents=True, exist_ok=True)
    manifest_path = weights / MANIFEST
    manifest = _read_manifest(manifest_path)

    def step(name: str, inputs: list[str], extra: list[Path], builder: Callable[[Path], list[str]]) -> None:
        out = weights / name
        key = _fingerprint([checksums[i] for i in inputs] + [_file_hash(p) for p in extra])
        if not args.force and out.exists() and manifest.get(name) == key:
            print(f"[skip] {name} is up to date")
            return
        t = time.perf_counter()
        tmp = out.with_name(out.stem + ".partial" + out.suffix)
        report = builder(tmp)
        tmp.replace(out)  # atomic: a crash never leaves a half-written asset
        manifest[name] = key
        _write_manifest(manifest_path, manifest)
        print(f"[done] {name} ({time.perf_counter() - t:.1f} s)")
        for line in report:
            print(f"       {line}")

    from engine.convert import face_model_build, faceboxes_onnx, regressor_onnx, torch_legacy

    converters = Path(__file__).resolve().parent / "engine" / "convert"
    step(REGRESSOR_ONNX, REGRESSOR_INPUTS,
         [converters / "regressor_onnx.py", converters / "torch_legacy.py", converters / "onnx_layers.py"],
         lambda out: regressor_onnx.build_regressor_onnx(
             torch_legacy.load_legacy_state_dict(data_dir / REGRESSOR_INPUTS[0]),
             data_dir / REGRESSOR_INPUTS[1], out))
    step(DETECTOR_ONNX, DETECTOR_INPUTS,
         [converters / "faceboxes_onnx.py", converters / "torch_legacy.py", converters / "onnx_layers.py"],
         lambda out: faceboxes_onnx.build_faceboxes_onnx(
             torch_legacy.load_legacy_state_dict(data_dir / DETECTOR_INPUTS[0]), out))
    bfm_extra = [args.bfm.resolve()] if args.bfm else []
    for p in bfm_extra:
        if not p.is_file():
            raise SetupError(f"--bfm file not found: {p}")
    step(FACE_MODEL_NPZ, FACE_MODEL_INPUTS, [converters / "face_model_build.py"] + bfm_extra,
         lambda out: face_model_build.build_face_model(data_dir, out, bfm_path=args.bfm))
    print(f"set-up finished in {time.perf_counter() - t0:.1f} s; assets in {weights}")


def verify_data(data_dir: Path) -> dict[str, str]:
    """Check every file listed in SHA256SUMS; return {relative path: sha256}."""
    sums = data_dir / "SHA256SUMS"
    if not sums.is_file():
        raise SetupError(f"no SHA256SUMS in {data_dir} (point --data at the upstream data folder)")
    expected: dict[str, str] = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            expected[name.strip().removeprefix("./")] = digest
    needed = set(REGRESSOR_INPUTS + DETECTOR_INPUTS + FACE_MODEL_INPUTS)
    missing = needed - expected.keys()
    if missing:
        raise SetupError(f"SHA256SUMS in {data_dir} does not list {sorted(missing)[0]}")
    for name, digest in sorted(expected.items()):
        path = data_dir / name
        if not path.is_file():
            raise SetupError(f"missing data file: {path}")
        if _file_hash(path) != digest:
            raise SetupError(f"damaged data file (checksum mismatch): {path}")
    print(f"[ok]   {len(expected)} data files verified in {data_dir}")
    return expected


def build_extensions(sanitize: bool, force: bool) -> None:
    """Compile the Cython/C extensions of render_c/ in place."""
    try:
        from Cython.Build import cythonize
        from setuptools import Distribution, Extension
    except ImportError as e:
        raise SetupError(f"{e.name} is needed to build the extensions: pip install -e '.[setup]'") from None
    import numpy as np

    flags = ["-O3", "-ffp-contract=off"]  # no FMA contraction: C and NumPy reference agree bit-for-bit
    link: list[str] = []
    if sanitize:
        # float-cast-overflow is outside GCC's `undefined` group, yet it is the rasteriser's risk.
        sanitizers = "-fsanitize=address,undefined,float-cast-overflow"
        flags = ["-O1", "-g", "-fno-omit-frame-pointer", "-ffp-contract=off", sanitizers,
                 "-fno-sanitize-recover=undefined"]
        link = [sanitizers]
    rc = REPO_ROOT / "render_c"
    extensions = [
        Extension("render_c._nms", [str(rc / "_nms.pyx")], include_dirs=[np.get_include()],
                  extra_compile_args=flags, extra_link_args=link),
        Extension("render_c._raster", [str(rc / "_raster.pyx"), str(rc / "rasterize.c")],
                  include_dirs=[np.get_include(), str(rc)], extra_compile_args=flags, extra_link_args=link,
                  depends=[str(rc / "rasterize.h")]),
        Extension("render_c._morph", [str(rc / "_morph.pyx"), str(rc / "morph.c")],
                  include_dirs=[np.get_include(), str(rc)], extra_compile_args=flags, extra_link_args=link,
                  depends=[str(rc / "morph.h")]),
    ]
    t = time.perf_counter()
    dist = Distribution({"ext_modules": cythonize(extensions, quiet=True, language_level=3,
                                                  force=force or sanitize)})
    cmd = dist.get_command_obj("build_ext")
    cmd.inplace = True
    cmd.force = force or sanitize
    cmd.build_temp = str(REPO_ROOT / "build" / ("sanitize" if sanitize else "release"))
    try:
        cmd.ensure_finalized()
        cmd.run()
    except Exception as e:  # setuptools raises several unrelated types here
        raise SetupError(f"compiling the extensions failed: {e}") from None
    label = " (sanitizers on)" if sanitize else ""
    print(f"[done] extensions render_c._nms, _raster, _morph{label} ({time.perf_counter() - t:.1f} s)")


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fingerprint(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_manifest(path: Path, manifest: dict[str, str]) -> None:
    from engine.atomic_files import write_atomic

    write_atomic(path, json.dumps(manifest, indent=2, sort_keys=True).encode())


if __name__ == "__main__":
    sys.exit(main())
