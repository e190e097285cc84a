"""User settings of the desktop app: plain dataclasses, defaults from configs/, kept with QSettings.

``AppSettings`` is what the user can change (smoother, threads, detection,
overlays). Its defaults come from configs/default.yaml (engine numbers) and
configs/gui.yaml (app-only numbers), so the YAML files stay the one source of
truth. ``SettingsStore`` is the only part that knows Qt: it reads and writes an
``AppSettings`` and the recent-files list through QSettings.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import REPO_ROOT, EngineConfig
from engine.pipeline import SMOOTHERS

GUI_CONFIG_PATH = REPO_ROOT / "configs" / "gui.yaml"
SMOOTHER_LABELS = {"off": "Off", "lookahead": "Look-ahead (smoothest, delayed)",
                   "realtime": "Zero-latency (One Euro)"}


@dataclass(frozen=True)
class OverlayOptions:
    """What the video view draws over the frame."""

    show_mesh: bool = True
    mesh_opacity: float = 0.55
    wireframe: bool = False
    show_landmarks: bool = True
    show_axes: bool = True


@dataclass(frozen=True)
class LiveOptions:
    """Webcam, mirror and streaming choices (the Live panel). Changing them needs no new pipeline."""

    stream_host: str
    stream_port: int
    stream_follow: int = 0  # track ID to stream; 0: the oldest track in view
    camera_mirror: bool = True  # a webcam is shown like a mirror; files as they are
    file_mirror: bool = False
    camera_width: int = 0  # requested camera mode; 0: the camera's own default
    camera_height: int = 0
    camera_fps: float = 0.0
    calibration: str = ""  # JSON of engine.expressions.Calibration ("": no neutral set)

    def mirror_for(self, is_live: bool) -> bool:
        return self.camera_mirror if is_live else self.file_mirror


@dataclass(frozen=True)
class GuiConfig:
    """configs/gui.yaml: app tunables that are not user settings."""

    smoother: str = "realtime"  # cameras (live sources)
    file_smoother: str = "lookahead"
    overlay: OverlayOptions = field(default_factory=OverlayOptions)
    history_seconds: float = 10.0
    refresh_hz: float = 15.0
    max_frames_in_flight: int = 2
    gui_cpus: int = 1
    no_face_frames: int = 50
    recent_files: int = 8
    seek_preview_ms: int = 120

    @classmethod
    def load(cls, path: Path = GUI_CONFIG_PATH) -> "GuiConfig":
        import yaml

        from engine.config import ConfigError

        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        except OSError as e:
            raise ConfigError(f"cannot read {path}: {e.strerror}") from None
        plots = data.pop("plots", {}) or {}
        overlay = OverlayOptions(**(data.pop("overlay", {}) or {}))
        try:
            config = cls(overlay=overlay, history_seconds=float(plots.get("history_seconds", 10.0)),
                         refresh_hz=float(plots.get("refresh_hz", 15.0)), **data)
        except TypeError as e:
            raise ConfigError(f"{path}: {e}") from None
        if config.smoother not in SMOOTHERS or config.file_smoother not in SMOOTHERS:
            raise ConfigError(f"{path}: smoother must be one of {', '.join(SMOOTHERS)}")
        return config


@dataclass(frozen=True)
class AppSettings:
    """Everything the settings dialog (and the Live panel: ``live``) edits."""

    smoother: str  # cameras: zero latency by default
    n_pre: int
    n_next: int
    threads: int
    min_score: float
    max_faces: int
    detect_every: int
    overlay: OverlayOptions
    file_smoother: str  # files: look-ahead by default (smoothest; the delay does not matter)
    live: LiveOptions

    @classmethod
    def defaults(cls, engine: EngineConfig, gui: GuiConfig) -> "AppSettings":
        threads = max(1, min(engine.runtime.effective_threads(), _cpu_count() - gui.gui_cpus))
        return cls(smoother=gui.smoother, n_pre=engine.smoother.n_pre, n_next=engine.smoother.n_next,
                   threads=threads, min_score=engine.detector.min_score,
                   max_faces=engine.tracker.max_faces, detect_every=engine.tracker.detect_every,
                   overlay=gui.overlay, file_smoother=gui.file_smoother,
                   live=LiveOptions(stream_host=engine.vmc.host, stream_port=engine.vmc.port))

    def smoother_for(self, is_live: bool) -> str:
        return self.smoother if is_live else self.file_smoother

    def engine_config(self, base: EngineConfig) -> EngineConfig:
        """``base`` with the engine-side choices of these settings applied."""
        r = dataclasses.replace
        engine = base.with_threads(self.threads)
        # Spinning idle engine threads would take the CPU the GUI thread and software GL need.
        engine = r(engine, runtime=r(engine.runtime, allow_spinning=False))
        return r(engine,
                 detector=r(base.detector, min_score=self.min_score),
                 tracker=r(base.tracker, max_faces=self.max_faces, detect_every=self.detect_every),
                 smoother=r(base.smoother, n_pre=self.n_pre, n_next=self.n_next))

    def engine_part(self) -> tuple:
        """The fields that need a new pipeline when they change (overlays and live options do not)."""
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _NOT_ENGINE)


_NOT_ENGINE = ("overlay", "live")


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class SettingsStore:
    """AppSettings and recent files in QSettings (a given one in tests, the user's otherwise)."""

    def __init__(self, qsettings: Any | None = None) -> None:
        from PyQt6.QtCore import QSettings

        self.q = qsettings if qsettings is not None else QSettings("tracker-app", "tracker-app")

    def load(self, defaults: AppSettings) -> AppSettings:
        """Stored values over ``defaults``; a stored value of the wrong type is ignored."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(AppSettings):
            if f.name not in _NOT_ENGINE:
                values[f.name] = self._get(f"engine/{f.name}", getattr(defaults, f.name))
        overlay = {f.name: self._get(f"overlay/{f.name}", getattr(defaults.overlay, f.name))
                   for f in dataclasses.fields(OverlayOptions)}
        live = {f.name: self._get(f"live/{f.name}", getattr(defaults.live, f.name))
                for f in dataclasses.fields(LiveOptions)}
        for key in ("smoother", "file_smoother"):
            if values[key] not in SMOOTHERS:
                values[key] = getattr(defaults, key)
        return AppSettings(overlay=OverlayOptions(**overlay), live=LiveOptions(**live), **values)

    def save(self, settings: AppSettings) -> None:
        for f in dataclasses.fields(AppSettings):
            if f.name not in _NOT_ENGINE:
                self.q.setValue(f"engine/{f.name}", getattr(settings, f.name))
        for f in dataclasses.fields(OverlayOptions):
            self.q.setValue(f"overlay/{f.name}", getattr(settings.overlay, f.name))
        for f in dataclasses.fields(LiveOptions):
            self.q.setValue(f"live/{f.name}", getattr(settings.live, f.name))
        self.q.sync()

    def recent_files(self) -> list[str]:
        value = self.q.value("recent/files", [])
        if isinstance(value, str):  # QSettings returns a bare string for a one-item list
            value = [value]
        return [str(v) for v in value or []]

    def add_recent(self, path: str, limit: int) -> list[str]:
        files = [path] + [p for p in self.recent_files() if p != path]
        self.q.setValue("recent/files", files[:limit])
        self.q.sync()
        return files[:limit]

    def _get(self, key: str, default: Any) -> Any:
        raw = self.q.value(key, None)
        if raw is None:
            return default
        try:
            if isinstance(default, bool):  # ini files give back "true"/"false" strings
                return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
            return type(default)(raw)
        except (TypeError, ValueError):
            return default
