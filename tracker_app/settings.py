"""User settings of the desktop app: plain dataclasses, defaults from configs/, kept with QSettings.

``AppSettings`` is what the user can change (smoother, threads, detection,
overlays). Its defaults come from configs/default.yaml (engine numbers) and
configs/gui.yaml (app-only numbers), so the YAML files stay the one source of
truth. ``SettingsStore`` is the only part that knows Qt: it reads and writes an
``AppSettings`` and the recent-files list through QSettings.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.config import CONFIGS, EngineConfig, load_config, section, setting
from engine.cpus import usable_cpu_count
from engine.pipeline import SMOOTHERS

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

GUI_CONFIG_PATH = CONFIGS / "gui.yaml"
SMOOTHER_LABELS = {"off": "Off", "lookahead": "Look-ahead (smoothest, delayed)",
                   "realtime": "Zero-latency (One Euro)"}


@dataclass(frozen=True)
class OverlayOptions:
    """What the video view draws over the frame."""

    show_mesh: bool = True
    mesh_opacity: float = setting(0.55, minimum=0.0, maximum=1.0)
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

    smoother: str = setting("realtime", choices=SMOOTHERS)  # cameras (live sources)
    file_smoother: str = setting("lookahead", choices=SMOOTHERS)
    overlay: OverlayOptions = section(OverlayOptions)
    history_seconds: float = setting(10.0, above=0.0, maximum=3600.0)
    refresh_hz: float = setting(10.0, above=0.0, maximum=240.0)
    max_frames_in_flight: int = setting(2, minimum=1, maximum=64)
    gui_cpus: int = setting(1, minimum=0, maximum=64)
    no_face_frames: int = setting(50, minimum=1)
    recent_files: int = setting(8, minimum=0, maximum=100)
    seek_preview_ms: int = setting(120, minimum=0, maximum=5000)

    @classmethod
    def load(cls, path: Path | Traversable = GUI_CONFIG_PATH) -> "GuiConfig":
        """The app's defaults from ``path``, through the engine's strict loader."""
        return load_config(cls, [path])


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
        threads = max(1, min(engine.runtime.effective_threads(), usable_cpu_count() - gui.gui_cpus))
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
