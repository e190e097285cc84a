"""User settings of the desktop app: plain dataclasses, defaults from configs/, kept with QSettings.

``AppSettings`` is what the user can change (smoother, threads, detection,
overlays, live options). Its defaults come from configs/default.yaml (engine
numbers) and configs/gui.yaml (app-only numbers), so the YAML files stay the one
source of truth; its ranges are those of the same keys in the YAML files, and its
engine part reaches the engine through ``EngineConfig.with_choices``, the one path
the command line's flags take too. ``SettingsStore`` is the only part that knows
Qt: it reads and writes an ``AppSettings`` and the recent-files list through
QSettings, every stored value checked like a YAML value (a bad one is named in one
line and its default kept).
"""
from __future__ import annotations

import dataclasses
import re
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.config import (CONFIGS, DetectorConfig, EngineChoices, EngineConfig, RuntimeConfig, SmootherConfig,
                           TrackerConfig, VmcConfig, bounds_like, check_value, load_config, section, setting,
                           shown_value)
from engine.cpus import usable_cpu_count
from engine.pipeline import SMOOTHERS

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

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
    show_eyes: bool = True  # lid contours (white open, magenta closed) and gaze arrows


@dataclass(frozen=True)
class LiveOptions:
    """Webcam, mirror and streaming choices (the Live panel). Changing them needs no new pipeline."""

    stream_host: str
    stream_port: int = bounds_like(VmcConfig, "port")
    stream_follow: int = setting(0, minimum=0)  # person ID to stream; 0: the first person in view
    camera_mirror: bool = True  # a webcam is shown like a mirror; files as they are
    file_mirror: bool = False
    camera_width: int = setting(0, minimum=0)  # requested camera mode; 0: the camera's own default
    camera_height: int = setting(0, minimum=0)
    camera_fps: float = setting(0.0, minimum=0.0)
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
    """Everything the settings dialog (and the Live panel: ``live``) edits; each engine number
    has the range of its key in the YAML files."""

    overlay: OverlayOptions
    live: LiveOptions
    smoother: str = bounds_like(GuiConfig, "smoother")  # cameras: zero latency by default
    # files: look-ahead by default (smoothest; the delay does not matter)
    file_smoother: str = bounds_like(GuiConfig, "file_smoother")
    n_pre: int = bounds_like(SmootherConfig, "n_pre")
    n_next: int = bounds_like(SmootherConfig, "n_next")
    threads: int = bounds_like(RuntimeConfig, "intra_op_threads")
    min_score: float = bounds_like(DetectorConfig, "min_score")
    max_faces: int = bounds_like(TrackerConfig, "max_faces")
    detect_every: int = bounds_like(TrackerConfig, "detect_every")

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
        # Spinning idle engine threads would take the CPU the GUI thread and software GL need.
        return base.with_choices(EngineChoices(threads=self.threads, allow_spinning=False,
                                               min_score=self.min_score, max_faces=self.max_faces,
                                               detect_every=self.detect_every, n_pre=self.n_pre,
                                               n_next=self.n_next), source="the app's settings")

    def engine_part(self) -> tuple[object, ...]:
        """The fields that need a new pipeline when they change (overlays and live options do not)."""
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _NOT_ENGINE)


_NOT_ENGINE = ("overlay", "live")
# How QSettings' text (ini files keep every value as text) reads back as a YAML value would.
_INTEGER = re.compile(r"[+-]?\d+")


def startup_settings(engine: EngineConfig, gui: GuiConfig, store: SettingsStore, threads: int | None = None,
                     report: Callable[[str], None] | None = None) -> AppSettings:
    """The settings a window starts with, loaded once: stored values over the defaults, and
    the command line's ``--threads`` for this run (not saved)."""
    settings = store.load(AppSettings.defaults(engine, gui), report)
    return settings if threads is None else dataclasses.replace(settings, threads=threads)


class SettingsStore:
    """AppSettings and recent files in QSettings (a given one in tests, the user's otherwise)."""

    def __init__(self, qsettings: Any | None = None) -> None:
        from PyQt6.QtCore import QSettings

        self.q = qsettings if qsettings is not None else QSettings("tracker-app", "tracker-app")

    def load(self, defaults: AppSettings, report: Callable[[str], None] | None = None) -> AppSettings:
        """Stored values over ``defaults``. A stored value that a YAML file could not hold either
        (wrong type, out of range) keeps its default and is named in one line to ``report``."""
        def group(cls: type, prefix: str, base: Any) -> dict[str, Any]:
            values = {}
            for f in dataclasses.fields(cls):
                if f.name not in _NOT_ENGINE:
                    values[f.name] = self._get(cls, f.name, f"{prefix}/{f.name}", getattr(base, f.name), report)
            return values

        return AppSettings(overlay=OverlayOptions(**group(OverlayOptions, "overlay", defaults.overlay)),
                           live=LiveOptions(**group(LiveOptions, "live", defaults.live)),
                           **group(AppSettings, "engine", defaults))

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

    def _get(self, cls: type, name: str, key: str, default: Any,
             report: Callable[[str], None] | None) -> Any:
        raw = self.q.value(key, None)
        if raw is None:
            return default
        value, problem = check_value(cls, name, _typed(typing.get_type_hints(cls)[name], raw))
        if problem is None:
            return value
        if report is not None:
            report(f"stored setting '{key}' {problem}, got {shown_value(raw)}: using {shown_value(default)}")
        return default


def _typed(hint: Any, raw: Any) -> Any:
    """A QSettings value (text in ini files) as the YAML value it stands for; anything else
    unchanged, for ``check_value`` to refuse. Only "true"/"false" are switches, only
    whole numbers are integers: the rules of the YAML files."""
    if not isinstance(raw, str):
        return raw
    if hint is bool:
        return {"true": True, "false": False}.get(raw, raw)
    if hint is int:
        return int(raw) if _INTEGER.fullmatch(raw.strip()) else raw
    if hint is float:
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw
