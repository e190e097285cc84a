"""Engine settings: loads ``configs/default.yaml`` into typed dataclasses.

The YAML file is the single source of truth for tunable numbers; the dataclass
defaults only exist so that a partial user file can override a few keys.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The asset file names are defined in engine/assets.py and re-exported here for callers.
from engine.assets import DETECTOR_ONNX as DETECTOR_ONNX
from engine.assets import FACE_MODEL_NPZ as FACE_MODEL_NPZ
from engine.assets import REGRESSOR_ONNX as REGRESSOR_ONNX
from engine.assets import default_weights_dir
from engine.cpus import usable_cpu_count
from engine.errors import TrackerError

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


class ConfigError(TrackerError, ValueError):
    """A configuration file is missing, unreadable or has wrong keys."""


@dataclass(frozen=True)
class RuntimeConfig:
    intra_op_threads: int = 4
    allow_spinning: bool = True

    def effective_threads(self) -> int:
        """Requested threads, never more than the CPUs this process may use."""
        return max(1, min(int(self.intra_op_threads), usable_cpu_count()))


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
class EngineConfig:
    weights_dir: Path = field(default_factory=default_weights_dir)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    regressor: RegressorConfig = field(default_factory=RegressorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    smoother: SmootherConfig = field(default_factory=SmootherConfig)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> "EngineConfig":
        """Read the default YAML file, then ``path`` on top of it when given."""
        import yaml  # deferred: keeps `tracker-app --help` fast

        merged: dict[str, Any] = {}
        files: list[Traversable | Path] = [DEFAULT_CONFIG_PATH] + ([Path(path)] if path else [])
        for p in files:
            try:
                with p.open(encoding="utf-8") as f:
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
                    "tracker": TrackerConfig, "smoother": SmootherConfig}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key == "weights_dir":
                if value is not None:  # null: the default folder (engine/assets.py)
                    kwargs[key] = Path(value).expanduser().absolute()
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


def _deep_update(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_update(dst[k], v)
        else:
            dst[k] = v
