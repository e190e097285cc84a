"""The capture worker's models and its ``Playback``, made from the settings (no Qt; capture thread).

The models come from the loader ``tracker-app gui`` starts early when they were loaded for
the same configuration, else they are loaded here (about a second). The ``Playback`` is
made once, with the first models; a reload (new threads or detector options) hands it the
new analyzer and the open source goes on with new sessions. The engine config and the
playback options are derived from the settings here only.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from engine.config import EngineConfig
from engine.errors import TrackerError
from engine.expressions import ExpressionModel
from engine.playback import Playback, PlaybackListener, PlaybackOptions
from engine.video_source import VideoSource
from tracker_app.engine_loader import EngineLoader, load_engine
from tracker_app.settings import AppSettings, GuiConfig

if TYPE_CHECKING:
    from engine.analyzer import FaceAnalyzer

log = logging.getLogger(__name__)


class CaptureEngine:
    """``settings`` may be replaced at any time; what they change applies from the next
    ``playback_options``/``load``."""

    def __init__(self, base_config: EngineConfig, settings: AppSettings, gui: GuiConfig,
                 loader: EngineLoader | None, listener: PlaybackListener, should_stop: Callable[[], bool]) -> None:
        self.base_config = base_config
        self.settings = settings
        self._gui = gui
        self._loader = loader  # models already loading (tracker-app gui starts it early)
        self._listener = listener
        self._should_stop = should_stop
        self.analyzer: FaceAnalyzer | None = None
        self.lods: tuple[np.ndarray, ...] = ()  # the face model's triangle lists, full first (mesh_lod)
        self.playback: Playback | None = None  # with the analyzer: the source, pipeline, clock

    @property
    def source(self) -> VideoSource | None:
        """The open source, if any."""
        return self.playback.source if self.playback is not None else None

    def load(self) -> str | None:
        """Load the models for the current settings; the reason in one line when they cannot be."""
        config, threads = self.engine_config(), self.settings.threads
        try:
            loaded = self._loader.take(config, threads) if self._loader is not None else None
            loaded = loaded or load_engine(config, threads)
        except (OSError, ValueError, RuntimeError) as e:
            # The user sees one line; the log keeps the traceback of anything unexpected.
            log.warning("models not loaded: %s", e, exc_info=not isinstance(e, (TrackerError, OSError)))
            self.analyzer = None
            return f"The models could not be loaded: {e}"
        self.analyzer = loaded.analyzer
        # Index buffers shared by every DisplayFrame, so the view uploads them once per model.
        self.lods = loaded.lods
        if self.playback is None:
            self.playback = Playback(self.analyzer, self.playback_options(), self._listener,
                                     should_stop=self._should_stop)
        else:  # new threads or detector options: the open source goes on with the new sessions
            self.playback.analyzer = self.analyzer
        return None

    def expression_model(self) -> ExpressionModel | None:
        """The live readout's expression model for the loaded face model (None: not loaded)."""
        if self.analyzer is None:
            return None
        return ExpressionModel(self.analyzer.face_model, self.base_config.expressions)

    def needs_reload(self, old: AppSettings) -> bool:
        """Threads and detector options are fixed when the sessions are made: changing them
        (from ``old`` to the current settings) means loading the models again."""
        new = self.settings
        return (old.threads, old.min_score) != (new.threads, new.min_score) or self.analyzer is None

    def engine_config(self) -> EngineConfig:
        return self.settings.engine_config(self.base_config)

    def playback_options(self) -> PlaybackOptions:
        s = self.settings
        return PlaybackOptions(config=self.engine_config(), file_smoother=s.smoother_for(False),
                               live_smoother=s.smoother_for(True), no_face_frames=self._gui.no_face_frames)

    def preopened(self, spec: object) -> VideoSource | None:
        """The command-line video the loader opened with the models, when ``spec`` names it; once."""
        return self._loader.take_video(spec) if self._loader is not None else None

    def close(self) -> None:
        """Let go of the models, the Playback and whatever the loader holds that nobody took."""
        if self._loader is not None:
            self._loader.close()  # its opened video, if nobody took it
        self.analyzer = self.playback = None
