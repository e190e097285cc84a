"""Engine settings: loads ``configs/default.yaml`` into typed dataclasses, strictly.

The YAML file is the single source of truth for tunable numbers; the dataclass
defaults only exist so that a partial user file can override a few keys (a test
checks that they equal the shipped file).

One loader (``load_config``) serves every settings file of the project (this one and
the app's ``configs/gui.yaml``). It checks each key against its dataclass field: the
type comes from the annotation (so a field added later is type-checked without more
work), the range from ``setting(default, minimum=..., ...)`` next to the field. Any
mistake is a ``ConfigError`` naming the file and the dotted key, in one line.
Type rules: ``bool`` takes only true/false (never "false" or 0), ``int`` only
integers (2.9 is refused, not truncated), ``float`` any finite number (NaN and
infinities are refused), ``str`` only strings, ``Path`` a string, relative to the
working directory unless absolute (a leading ``~/`` is the home folder), ``X | None`` also takes null (``~``).
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

# The asset file names are defined in engine/assets.py and re-exported here for callers.
from engine.assets import DETECTOR_ONNX as DETECTOR_ONNX
from engine.assets import FACE_EMBEDDING_ONNX as FACE_EMBEDDING_ONNX
from engine.assets import FACE_MODEL_NPZ as FACE_MODEL_NPZ
from engine.assets import REGRESSOR_ONNX as REGRESSOR_ONNX
from engine.assets import default_weights_dir
from engine.brief import brief
from engine.cpus import usable_cpu_count
from engine.errors import TrackerError
from engine.file_kinds import unusable_path_problem

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

REPO_ROOT = Path(__file__).resolve().parent.parent
# configs/*.yaml ship inside the package (engine/configs links to the repository's configs/).
CONFIGS: Traversable = resources.files("engine") / "configs"
DEFAULT_CONFIG_PATH: Traversable = CONFIGS / "default.yaml"
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


# Pillow refuses, before we can read a header's size, images over twice its own
# MAX_IMAGE_PIXELS (89,478,485): the pixel budget cannot usefully be set above that.
PILLOW_HARD_PIXEL_LIMIT = 2 * 89_478_485

_T = TypeVar("_T")
_BOUNDS_KEY = "bounds"


class ConfigError(TrackerError, ValueError):
    """A configuration file is missing, unreadable or has wrong keys or values."""


@dataclass(frozen=True)
class Bounds:
    """The values a setting accepts beyond its type (all limits inclusive, except ``above``)."""

    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None          # exclusive lower limit (sizes and rates: > 0)
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is out of bounds, or None."""
        if self.choices and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}"
        if not isinstance(value, (int, float)):
            return None
        if self.above is not None and not value > self.above:
            return f"must be > {_number(self.above)}"
        low, high = self.minimum, self.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            if low is not None and high is not None:
                return f"must be in {_number(low)}..{_number(high)}"
            return f"must be >= {_number(low)}" if low is not None else f"must be <= {_number(high)}"
        return None


def _number(x: float | None) -> str:
    return str(int(x)) if x is not None and float(x).is_integer() else str(x)


def setting(default: _T, *, minimum: float | None = None, maximum: float | None = None,
            above: float | None = None, choices: tuple[str, ...] = ()) -> _T:
    """A dataclass field with its default and the range ``load_config`` enforces."""
    bounds = Bounds(minimum=minimum, maximum=maximum, above=above, choices=choices)
    return field(default=default, metadata={_BOUNDS_KEY: bounds})


def section(factory: type[_T]) -> _T:
    """A nested settings section (a YAML mapping), defaulting to the section's defaults."""
    return field(default_factory=factory)


@dataclass(frozen=True)
class RuntimeConfig:
    intra_op_threads: int = setting(4, minimum=1, maximum=256)
    allow_spinning: bool = False
    pipelined: bool = True
    pipeline_queue_frames: int = setting(2, minimum=1, maximum=64)
    pipelined_decoder_threads: int = setting(1, minimum=0, maximum=64)  # 0: FFmpeg's choice

    def effective_threads(self) -> int:
        """Requested threads, never more than the CPUs this process may use."""
        return max(1, min(int(self.intra_op_threads), usable_cpu_count()))


@dataclass(frozen=True)
class InputConfig:
    """Limits on what image files may cost before they are decoded."""

    max_image_pixels: int = setting(100_000_000, minimum=1, maximum=PILLOW_HARD_PIXEL_LIMIT)


@dataclass(frozen=True)
class DetectorConfig:
    max_height: int = setting(720, minimum=32, maximum=16384)
    max_width: int = setting(1080, minimum=32, maximum=16384)
    candidate_score: float = setting(0.05, minimum=0.0, maximum=1.0)
    candidate_top_k: int = setting(5000, minimum=1)
    nms_iou: float = setting(0.3, above=0.0, maximum=1.0)
    min_score: float = setting(0.5, minimum=0.0, maximum=1.0)


@dataclass(frozen=True)
class RegressorConfig:
    roi_shift: float = setting(0.14, minimum=-1.0, maximum=1.0)
    roi_scale: float = setting(1.58, minimum=0.5, maximum=4.0)
    landmark_refinements: int = setting(1, minimum=0, maximum=10)


@dataclass(frozen=True)
class TrackerConfig:
    """Video tracking: detector scheduling, track identities and the failure test."""

    max_faces: int = setting(8, minimum=0)
    detect_every: int = setting(6, minimum=0)
    recover_every: int = setting(5, minimum=0)
    recover_frames: int = setting(250, minimum=0)
    match_iou: float = setting(0.3, minimum=0.0, maximum=1.0)
    duplicate_iou: float = setting(0.6, minimum=0.0, maximum=1.0)
    max_param_rms: float = setting(1.5, above=0.0)
    min_crop_contrast: float = setting(8.0, minimum=0.0, maximum=255.0)
    max_roi_scale_change: float = setting(1.35, minimum=1.0)
    min_roi_side: float = setting(24.0, minimum=1.0, maximum=1000.0)
    min_landmarks_inside: float = setting(0.5, minimum=0.0, maximum=1.0)
    suspect_param_rms: float = setting(0.8, above=0.0)
    suspect_crop_contrast: float = setting(16.0, minimum=0.0, maximum=255.0)
    suspect_roi_scale_change: float = setting(1.1, minimum=1.0)
    suspect_landmarks_inside: float = setting(0.9, minimum=0.0, maximum=1.0)
    verify_every: int = setting(5, minimum=0)
    min_face_score: float = setting(0.5, minimum=0.0, maximum=1.0)
    # -- real footage: face search, scene cuts --
    search_max_width: int = setting(640, minimum=0)
    cut_threshold: float = setting(0.15, minimum=0.0, maximum=1.0)
    # -- track states (engine/tracker.py) --
    confirm_frames: int = setting(2, minimum=0, maximum=25)
    confirm_score: float = setting(0.95, minimum=0.0, maximum=1.0)
    coast_frames: int = setting(25, minimum=0)
    coast_detection_score: float = setting(0.3, minimum=0.0, maximum=1.0)
    coast_match_iou: float = setting(0.15, minimum=0.0, maximum=1.0)
    anchor_iou: float = setting(0.5, minimum=0.0, maximum=1.0)
    # -- people (engine/track_identity.py, engine/reid.py) --
    reid: bool = setting(True)
    reid_same_person: float = setting(0.5, above=0.0)
    reid_min_quality: float = setting(0.15, minimum=0.0, maximum=1.0)
    reid_gallery_size: int = setting(6, minimum=1, maximum=100)
    reid_every: int = setting(25, minimum=1)
    reid_better_view: float = setting(1.3, minimum=1.0)
    reid_min_gap: int = setting(5, minimum=1)
    return_frames: int = setting(250, minimum=0)


@dataclass(frozen=True)
class SmootherConfig:
    """Temporal smoothing: look-ahead window (offline) and One Euro filter (live)."""

    n_pre: int = setting(3, minimum=0, maximum=100)
    n_next: int = setting(3, minimum=0, maximum=100)
    sigma: float = setting(2.0, minimum=0.0)
    min_cutoff: float = setting(1.5, above=0.0)
    beta: float = setting(2.0, minimum=0.0)
    d_cutoff: float = setting(1.0, above=0.0)


@dataclass(frozen=True)
class ExpressionConfig:
    """Named expression weights (engine/expressions.py): the change of each measure, in
    outer eye-corner distances (eyes: eye aspect ratio), that makes a weight 1."""

    mouth_open: float = setting(0.17, above=0.0)
    jaw_drop: float = setting(0.10, above=0.0)
    mouth_width: float = setting(0.12, above=0.0)
    corner_left: float = setting(0.03, above=0.0)
    corner_right: float = setting(0.03, above=0.0)
    brow_inner: float = setting(0.015, above=0.0)
    brow_left: float = setting(0.008, above=0.0)
    brow_right: float = setting(0.008, above=0.0)
    eye_left: float = setting(0.03, above=0.0)
    eye_right: float = setting(0.03, above=0.0)
    # Measured eyes (engine.eyes): the openness at which a blink weight starts and is full,
    # and the gaze angle (degrees) that makes a look weight 1.
    blink_open: float = setting(0.75, minimum=0.0)
    blink_closed: float = setting(0.25, minimum=0.0)
    look_range_deg: float = setting(30.0, above=0.0)
    # Head position in metres: a typical outer eye-corner distance, and the distance from
    # the camera assumed when the face's change in size is turned into depth.
    eye_corner_distance_m: float = setting(0.095, above=0.0)
    camera_distance_m: float = setting(0.6, above=0.0)

    @property
    def ranges(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in dataclasses.fields(self)
                if not f.name.endswith(("_m", "_deg")) and not f.name.startswith("blink_")}


@dataclass(frozen=True)
class EyesConfig:
    """Per-eye openness and gaze from the image (engine/eyes.py) and their filter (engine/eye_filter.py)."""

    enabled: bool = True
    dark_threshold: float = setting(0.45, above=0.0, maximum=1.0)
    widen_rows: int = setting(2, minimum=0, maximum=8)
    top_columns: int = setting(6, minimum=1, maximum=48)
    default_opening: float = setting(3.1, above=0.0)
    min_open_height: float = setting(0.9, minimum=0.0)
    confident_eye_px: float = setting(20.0, minimum=0.0)
    default_outward_yaw: float = setting(6.5, minimum=-45.0, maximum=45.0)
    default_pitch: float = setting(-16.5, minimum=-45.0, maximum=45.0)
    calibration_frames: int = setting(75, minimum=1)
    min_calibration_frames: int = setting(10, minimum=1)
    neutral_percentile: float = setting(50.0, minimum=0.0, maximum=100.0)
    min_eye_px: float = setting(8.0, minimum=0.0)
    closing_step: float = setting(0.15, minimum=0.0)
    steady_alpha: float = setting(0.3, above=0.0, maximum=1.0)
    full_step: float = setting(0.3, above=0.0)
    gaze_full_step_deg: float = setting(10.0, above=0.0)
    closed_below: float = setting(0.3, minimum=0.0, maximum=1.0)
    blink_min_frames: int = setting(1, minimum=1)


@dataclass(frozen=True)
class VmcConfig:
    """VMC protocol sender (engine/vmc.py)."""

    host: str = "127.0.0.1"
    port: int = setting(39539, minimum=1, maximum=65535)


@dataclass(frozen=True)
class BatchConfig:
    """`tracker-app batch`: worker processes and task retries (see configs/default.yaml)."""

    workers: int = setting(0, minimum=0, maximum=256)  # 0: from the CPU count
    threads_per_worker: int = setting(1, minimum=1, maximum=256)
    task_retries: int = setting(2, minimum=0, maximum=100)
    progress_every_frames: int = setting(10, minimum=1)


@dataclass(frozen=True)
class EngineConfig:
    weights_dir: Path = field(default_factory=default_weights_dir)  # null in YAML: engine/assets.py's rule
    runtime: RuntimeConfig = section(RuntimeConfig)
    input: InputConfig = section(InputConfig)
    detector: DetectorConfig = section(DetectorConfig)
    regressor: RegressorConfig = section(RegressorConfig)
    tracker: TrackerConfig = section(TrackerConfig)
    smoother: SmootherConfig = section(SmootherConfig)
    expressions: ExpressionConfig = section(ExpressionConfig)
    eyes: EyesConfig = section(EyesConfig)
    vmc: VmcConfig = section(VmcConfig)
    batch: BatchConfig = section(BatchConfig)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> "EngineConfig":
        """Read the default YAML file, then ``path`` on top of it when given."""
        return load_config(cls, [DEFAULT_CONFIG_PATH] + ([Path(path)] if path else []))

    def with_threads(self, threads: int) -> "EngineConfig":
        return dataclasses.replace(self, runtime=dataclasses.replace(self.runtime, intra_op_threads=threads))

    def with_choices(self, choices: EngineChoices, source: str) -> "EngineConfig":
        """This configuration with a user's ``choices`` over it: the one place where command-line
        flags and the app's settings become engine settings, checked like the YAML files (a
        mistake is a one-line ``ConfigError`` naming ``source`` and the dotted key)."""
        overrides: dict[str, dict[str, Any]] = {}
        for f in dataclasses.fields(choices):
            value = getattr(choices, f.name)
            if value is not None:
                section_name, key = f.metadata[_TARGET_KEY]
                overrides.setdefault(section_name, {})[key] = value
        checked = _checked_values(EngineConfig, overrides, source, "")
        return dataclasses.replace(self, **{name: dataclasses.replace(getattr(self, name), **values)
                                            for name, values in checked.items()})


_TARGET_KEY = "target"


def _choice(section_name: str, key: str) -> Any:
    """A field of EngineChoices: None keeps the file's value; else it sets ``section.key``."""
    return field(default=None, metadata={_TARGET_KEY: (section_name, key)})


@dataclass(frozen=True)
class EngineChoices:
    """What a user chooses over the configuration files (command-line flags, the app's Settings
    dialog); each field names the key it sets. None keeps the files' value."""

    threads: int | None = _choice("runtime", "intra_op_threads")
    allow_spinning: bool | None = _choice("runtime", "allow_spinning")
    min_score: float | None = _choice("detector", "min_score")
    max_faces: int | None = _choice("tracker", "max_faces")
    detect_every: int | None = _choice("tracker", "detect_every")
    n_pre: int | None = _choice("smoother", "n_pre")
    n_next: int | None = _choice("smoother", "n_next")


def bounds_like(cls: type, name: str) -> Any:
    """A field (without a default) checked like field ``name`` of ``cls``: one range for both."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return field(metadata=f.metadata)


# -- the one loader --------------------------------------------------------------------------


def load_config(cls: type[_T], paths: Sequence[Path | Traversable]) -> _T:
    """``cls`` (a settings dataclass) from its defaults, then each YAML file in turn on top.

    Every file is checked on its own, so an error names the file that holds the bad key.
    """
    merged: dict[str, Any] = {}
    for path in paths:
        _deep_update(merged, _checked_values(cls, read_yaml_mapping(path), str(path), ""))
    return _build(cls, merged)


# What a config file may cost before it is parsed: the shipped files are 5 KB and two
# levels deep. libyaml's composer recurses once per level (50,000 levels of "[" crashed
# the process with SIGSEGV in PyYAML 6.0.3), and anchors let a few hundred bytes stand
# for a billion values ("billion laughs"), so size, depth and expanded size are checked
# on the parser's event stream (iterative, in every PyYAML) before anything is built.
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_DEPTH = 32
MAX_CONFIG_VALUES = 100_000  # scalars and collections, aliases counted as what they repeat


def read_yaml_mapping(path: Path | Traversable) -> dict[str, Any]:
    """The top-level mapping of a YAML file (empty file: {}); one-line ConfigError otherwise."""
    import yaml  # deferred: keeps `tracker-app --help` fast

    # libyaml's safe loader when PyYAML has it: the same documents and types as the pure
    # Python SafeLoader, 9 ms -> 0.7 ms per config file, read at every start.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    # A FIFO would block the start until someone writes to it; a missing file is open()'s to say.
    problem = unusable_path_problem(path) if isinstance(path, Path) and path.exists() else None
    if problem is not None:
        raise ConfigError(f"cannot read config {path}: {problem}")
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror or e}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB; "
                          "a config file holds a few settings")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config {path} is not UTF-8 text") from None
    try:
        _check_yaml_shape(yaml.parse(text, Loader=loader), path)
        data = yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or "syntax error"
        raise ConfigError(f"config {path} is not valid YAML{where}: {problem}") from None
    except ConfigError:
        raise
    except (ValueError, OverflowError) as e:  # a value YAML matched but Python cannot build (2001-13-45)
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"config {path} holds a value that cannot be read: {reason[:100]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping at the top level")
    return data


def _check_yaml_shape(events: Iterable[Any], path: Path | Traversable) -> None:
    """ConfigError when the document nests deeper than MAX_CONFIG_DEPTH or stands for more than
    MAX_CONFIG_VALUES values once its aliases are expanded; reads events one at a time."""
    import yaml

    anchored: dict[str, int] = {}  # anchor -> values it stands for
    open_collections: list[tuple[int, str | None]] = []  # (values so far, anchor)
    total = 0
    for event in events:
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_collections) >= MAX_CONFIG_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark is not None else 0
                raise ConfigError(f"config {path} nests more than {MAX_CONFIG_DEPTH} levels deep (line {line})")
            open_collections.append((1, event.anchor))
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            count, anchor = open_collections.pop()
        elif isinstance(event, yaml.AliasEvent):
            count, anchor = anchored.get(event.anchor or "", 1), None
        elif isinstance(event, yaml.ScalarEvent):
            count, anchor = 1, event.anchor
        else:
            continue
        if anchor is not None:
            anchored[anchor] = count
        total += count
        if open_collections:
            parent, parent_anchor = open_collections[-1]
            open_collections[-1] = (parent + count, parent_anchor)
        if total > MAX_CONFIG_VALUES:
            raise ConfigError(f"config {path} stands for more than {MAX_CONFIG_VALUES} values "
                              "(anchors and aliases expanded)")


def _checked_values(cls: type, data: Mapping[Any, Any], source: str, prefix: str) -> dict[str, Any]:
    """The values of ``data`` converted and checked against ``cls``'s fields (nested dicts for sections)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"config {source}: unknown config key '{dotted}'")
        if value is None and fields[key].default_factory is not dataclasses.MISSING:
            continue  # null selects a computed default (weights_dir: the folder rule of engine/assets.py)
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"config {source}: config section '{dotted}' must be a mapping")
            out[key] = _checked_values(typing.cast(type, hint), value, source, dotted + ".")
            continue
        converted, problem = _checked(fields[key], hint, value)
        if problem is not None:
            raise ConfigError(f"config {source}: '{dotted}' {problem}, got {_shown(value)}")
        out[key] = converted
    return out


def _checked(f: dataclasses.Field[Any], hint: Any, value: Any) -> tuple[Any, str | None]:
    """(value as the field's type, None), or (None, what is wrong): type, then bounds."""
    converted, problem = _convert(hint, value)
    if problem is None:
        bounds = f.metadata.get(_BOUNDS_KEY)
        problem = bounds.problem(converted) if bounds is not None and converted is not None else None
    return converted, problem


def check_value(cls: type, name: str, value: Any) -> tuple[Any, str | None]:
    """``value`` for field ``name`` of the settings dataclass ``cls``, by the rules of the YAML
    files: (the value as the field's type, None), or (None, what is wrong, e.g. "must be >= 0")."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return _checked(f, typing.get_type_hints(cls)[name], value)


def shown_value(value: Any) -> str:
    """A value as an error message quotes it (short)."""
    return _shown(value)


def _convert(hint: Any, value: Any) -> tuple[Any, str | None]:
    """(value as the annotated type, None) or (None, what is wrong)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None, None
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported settings annotation {hint}")
        return _convert(inner[0], value)
    if hint is bool:
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return (value, None) if ok else (None, "must be an integer")
    if hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None, "must be a number"
        return (float(value), None) if math.isfinite(value) else (None, "must be a finite number")
    if hint is str:
        return (value, None) if isinstance(value, str) else (None, "must be a string")
    if hint is Path:
        if not isinstance(value, str) or not value:
            return None, "must be a path (a non-empty string)"
        return Path(value).expanduser().absolute(), None  # relative: to the working directory
    if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, list):
            return None, "must be a list"
        items = [_convert(args[0], v) for v in value]
        problems = [p for _, p in items if p is not None]
        return (tuple(v for v, _ in items), None) if not problems else (None, f"items {problems[0]}")
    raise TypeError(f"unsupported settings annotation {hint}")


def _shown(value: Any) -> str:
    return "null" if value is None else brief(value, 40)


def _build(cls: type[_T], values: Mapping[str, Any]) -> _T:
    hints = typing.get_type_hints(cls)
    kwargs = {k: _build(hints[k], v) if dataclasses.is_dataclass(hints[k]) else v for k, v in values.items()}
    return cls(**kwargs)


def _deep_update(dst: dict[str, Any], src: Mapping[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_update(dst[k], v)
        else:
            dst[k] = v
