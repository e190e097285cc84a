"""Loading the engine (ONNX sessions, face model, dense basis, mesh levels) on a thread.

`tracker-app gui` starts an ``EngineLoader`` before it builds the window, so the models
load while Qt, OpenGL and the widgets come up, instead of after them; the capture
worker then ``take``s the loaded engine. Given the video of the command line, the loader
opens it too (FFmpeg's set-up and the first frame's decoding, 0.05 s), and the worker
takes it on its first open of that file. No Qt here.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import EngineConfig

if TYPE_CHECKING:
    import numpy as np

    from engine.analyzer import FaceAnalyzer
    from engine.video_source import VideoSource


@dataclass(frozen=True)
class LoadedEngine:
    """What the capture worker needs before the first frame."""

    analyzer: FaceAnalyzer
    lods: tuple[np.ndarray, ...]  # the face model's triangle lists, full first (mesh_lod)


def load_engine(config: EngineConfig, threads: int) -> LoadedEngine:
    """Load everything now, on the calling thread (the dense basis too: the app always draws the mesh)."""
    from engine.analyzer import FaceAnalyzer
    from tracker_app.mesh_lod import model_mesh_lods

    analyzer = FaceAnalyzer.from_config(config, threads=threads)
    model = analyzer.face_model
    model.prepare_dense()
    return LoadedEngine(analyzer, model_mesh_lods(model))


class EngineLoader:
    """``load_engine(config, threads)`` on a thread of its own, handed over once."""

    def __init__(self, config: EngineConfig, threads: int, video: Path | None = None) -> None:
        self.config, self.threads, self.video = config, threads, video
        self._result: LoadedEngine | None = None
        self._error: BaseException | None = None
        self._taken = False
        self._video_source: VideoSource | None = None
        self._thread = threading.Thread(target=self._run, name="engine-loader", daemon=True)

    def start(self) -> EngineLoader:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._result = load_engine(self.config, self.threads)
        except BaseException as e:  # handed to the thread that takes the engine
            self._error = e
            return
        if self.video is not None:
            from engine.video_source import open_source

            try:
                self._video_source = open_source(self.video)  # as the worker would open it
            except (OSError, ValueError):  # the worker opens it again and reports the error
                pass

    def take(self, config: EngineConfig, threads: int) -> LoadedEngine | None:
        """The loaded engine when it was loaded for ``config`` and ``threads`` (waits for it),
        once; None when asked for another configuration or a second time. A failed load
        raises its error here, in the taker's thread. Asked for another configuration, it
        lets go of what it loaded (the models, the video) once the loading is done."""
        if self._taken:
            return None
        if (config, threads) != (self.config, self.threads):
            self.close()
            return None
        self._taken = True
        self._thread.join()
        if self._error is not None:
            raise self._error
        result, self._result = self._result, None
        return result

    def take_video(self, spec: object) -> VideoSource | None:
        """The command-line video, opened, when ``spec`` names it and the engine was taken; once.
        (Call ``close`` for a video nobody took.)"""
        if not self._taken or self._video_source is None or str(spec) != str(self.video):
            return None
        source, self._video_source = self._video_source, None
        return source

    def close(self) -> None:
        """Let go of what nobody took: the engine, and the opened video (waits for the loader)."""
        self._thread.join()
        self._result = None
        if self._video_source is not None:
            self._video_source.close()
            self._video_source = None
