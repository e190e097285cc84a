"""Engine settings: loads ``configs/default.yaml`` into typed dataclasses.

The YAML file is the single source of truth for tunable numbers; the dataclass
defaults only exist so that a partial user file can override a few keys.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = REPO_ROOT / "configs" / "default.yaml"
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"

# File names inside the weights folder (written by build_ext.py).
DETECTOR_ONNX = "faceboxes.onnx"
REGRESSOR_ONNX = "mb05_120x120.onnx"
FACE_MODEL_NPZ = "face_model.npz"


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or has wrong keys."""


@dataclass(frozen=True)
class RuntimeConfig:
    intra_op_threads: int = 4
    allow_spinning: bool = True

    def effective_threads(self) -> int:
        """Requested threads, never more than the CPUs this process may use."""
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cpus = os.cpu_count() or 1
        return max(1, min(int(self.intra_op_threads), cpus))


@dataclass(frozen=True)
class DetectorConfig:
    max_height: int = 720
    max_width: int = 1080
    candidate_score: float = 0.05
    candidate_top_k: int = 5000
    nms_iou: float = 0.3
    min_score: float = 0.5


@dataclass(frozen=True)
class RegressorConfig:
    roi_shift: float = 0.14
    roi_scale: float = 1.58
    landmark_refinements: int = 1


@dataclass(frozen=True)
class TrackerConfig:
    """Video tracking: detector scheduling, track identities and the failure test."""

    max_faces: int = 8
    detect_every: int = 0
    recover_every: int = 5
    recover_frames: int = 250
    reuse_id_frames: int = 25
    reuse_id_iou: float = 0.3
    match_iou: float = 0.3
    duplicate_iou: float = 0.6
    max_param_rms: float = 1.5
    min_crop_contrast: float = 8.0
    max_roi_scale_change: float = 1.35
    min_roi_side: float = 24.0
    min_landmarks_inside: float = 0.5
    suspect_param_rms: float = 0.8
    suspect_crop_contrast: float = 16.0
    suspect_roi_scale_change: float = 1.1
    suspect_landmarks_inside: float = 0.9
    verify_every: int = 5
    min_face_score: float = 0.5


@dataclass(frozen=True)
class SmootherConfig:
    """Temporal smoothing: look-ahead window (offline) and One Euro filter (live)."""

    n_pre: int = 3
    n_next: int = 3
    sigma: float = 2.0
    min_cutoff: float = 1.5
    beta: float = 2.0
    d_cutoff: float = 1.0


@dataclass(frozen=True)
class ExpressionConfig:
    """Named expression weights (engine/expressions.py): the change of each measure, in
    outer eye-corner distances (eyes: eye aspect ratio), that makes a weight 1."""

    mouth_open: float = 0.17
    jaw_drop: float = 0.10
    mouth_width: float = 0.12
    corner_left: float = 0.03
    corner_right: float = 0.03
    brow_inner: float = 0.015
    brow_left: float = 0.008
    brow_right: float = 0.008
    eye_left: float = 0.03
    eye_right: float = 0.03
    # Head position in metres: a typical outer eye-corner distance, and the distance from
    # the camera assumed when the face's change in size is turned into depth.
    eye_corner_distance_m: float = 0.095
    camera_distance_m: float = 0.6

    @property
    def ranges(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in dataclasses.fields(self)
                if not f.name.endswith("_m")}


@dataclass(frozen=True)
class VmcConfig:
    """VMC protocol sender (engine/vmc.py)."""

    host: str = "127.0.0.1"
    port: int = 39539


@dataclass(frozen=True)
class EngineConfig:
    weights_dir: Path = REPO_ROOT / "weights"
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    regressor: RegressorConfig = field(default_factory=RegressorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    smoother: SmootherConfig = field(default_factory=SmootherConfig)
    expressions: ExpressionConfig = field(default_factory=ExpressionConfig)
    vmc: VmcConfig = field(default_factory=VmcConfig)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "EngineConfig":
        """Read the default YAML file, then ``path`` on top of it when given."""
        import yaml  # deferred: keeps `tracker-app --help` fast

        merged: dict[str, Any] = {}
        for p in [DEFAULT_CONFIG_PATH] + ([Path(path)] if path else []):
            try:
                with open(p, encoding="utf-8") as f:
                    data = yaml.safe_load(f) or {}
            except OSError as e:
                raise ConfigError(f"cannot read config {p}: {e.strerror}") from None
            except yaml.YAMLError as e:
                mark = getattr(e, "problem_mark", None)
                where = f" (line {mark.line + 1})" if mark is not None else ""
                problem = getattr(e, "problem", None) or "syntax error"
                raise ConfigError(f"config {p} is not valid YAML{where}: {problem}") from None
            if not isinstance(data, dict):
                raise ConfigError(f"config {p} must be a mapping at the top level")
            _deep_update(merged, data)
        return cls.from_dict(merged)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EngineConfig":
        sections = {"runtime": RuntimeConfig, "detector": DetectorConfig, "regressor": RegressorConfig,
                    "tracker": TrackerConfig, "smoother": SmootherConfig,
                    "expressions": ExpressionConfig, "vmc": VmcConfig}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key == "weights_dir":
                p = Path(value)
                kwargs[key] = p if p.is_absolute() else REPO_ROOT / p
            elif key in sections:
                kwargs[key] = _make_section(sections[key], key, value)
            else:
                raise ConfigError(f"unknown config key '{key}'")
        return cls(**kwargs)

    def with_threads(self, threads: int) -> "EngineConfig":
        return dataclasses.replace(self, runtime=dataclasses.replace(self.runtime, intra_op_threads=threads))


def _make_section(section_cls: type, name: str, value: Any) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"config section '{name}' must be a mapping")
    known = {f.name: f for f in dataclasses.fields(section_cls)}
    for k in value:
        if k not in known:
            raise ConfigError(f"unknown config key '{name}.{k}'")
    # Coerce to the declared default's type so "4" or 4.0 do not leak through.
    coerced = {k: type(getattr(section_cls(), k))(v) for k, v in value.items()}
    return section_cls(**coerced)


def _deep_update(dst: dict, src: dict) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_update(dst[k], v)
        else:
            dst[k] = v
