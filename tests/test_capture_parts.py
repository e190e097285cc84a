"""The capture worker's Qt-free parts: frame credits, what opening a source tells the GUI,
and the models and Playback made from the settings (real models, real video)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.config import EngineConfig
from engine.playback import ShownFrame
from engine.video_source import VideoFileSource, open_source
from tracker_app.capture_engine import CaptureEngine
from tracker_app.frame_loop import FrameCredits
from tracker_app.settings import AppSettings, GuiConfig
from tracker_app.source_opening import is_camera, opener, source_info


def test_frame_credits_hold_back_at_the_limit_and_come_back() -> None:
    credits = FrameCredits(2)
    assert credits.available()
    credits.take()
    credits.take()
    assert not credits.available()  # two frames in flight: the worker waits
    credits.give_back()
    assert credits.available()
    credits.give_back()
    credits.give_back()  # a late hand-back after a reset never makes room for more than the limit
    credits.take()
    credits.take()
    assert not credits.available()
    credits.reset()
    assert credits.available()
    zero = FrameCredits(0)  # a limit below one still lets one frame through
    assert zero.limit == 1 and zero.available()


def test_a_camera_is_an_index_and_a_file_is_a_path(media_dir: Path) -> None:
    assert is_camera(0) and is_camera(" 1 ")
    assert not is_camera(str(media_dir / "obama.mp4")) and not is_camera(media_dir / "obama.mp4")
    assert not is_camera(lambda: open_source(media_dir / "obama.mp4"))


def test_the_gui_learns_the_opened_file_as_it_is(media_dir: Path) -> None:
    video = media_dir / "obama.mp4"
    with opener(str(video))() as source:
        info = source_info(str(video), source)
        assert isinstance(source, VideoFileSource)
        assert info.spec == str(video) and info.description == source.description
        assert info.frame_size == tuple(source.frame_size) and info.fps == pytest.approx(source.fps)
        assert not info.is_live and info.frame_count == source.frame_count
    factory = lambda: open_source(video)  # noqa: E731
    assert opener(factory) is factory  # a factory is called again to reopen
    with factory() as source:
        assert source_info(factory, source).spec == "<custom>"


class _Reports:
    """A PlaybackListener keeping what it is told (the engine is only loaded here, never played)."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def frame(self, shown: ShownFrame) -> None: self.said.append("frame")
    def playing_changed(self, playing: bool) -> None: self.said.append("playing")
    def failed(self, title: str, message: str) -> None: self.said.append(title)
    def notice(self, message: str) -> None: self.said.append(message)
    def no_faces(self, message: str) -> None: self.said.append(message)
    def end_of_stream(self, frames_read: int) -> None: self.said.append("end")
    def frame_count_known(self, frames: int) -> None: self.said.append("count")
    def source_closed(self) -> None: self.said.append("closed")
    def recording_changed(self, folder: Path | None) -> None: self.said.append("recording")


def test_the_models_reload_for_threads_only_and_keep_the_playback(weights_dir) -> None:
    base, gui = EngineConfig.load(), GuiConfig.load()
    settings = dataclasses.replace(AppSettings.defaults(base, gui), threads=1)
    engine = CaptureEngine(base, settings, gui, None, _Reports(), should_stop=lambda: False)
    assert engine.needs_reload(settings) and engine.expression_model() is None  # nothing loaded yet
    options = engine.playback_options()
    assert (options.file_smoother, options.live_smoother) == (settings.file_smoother, settings.smoother)
    assert options.no_face_frames == gui.no_face_frames
    assert options.config == settings.engine_config(base)

    assert engine.load() is None
    playback, analyzer = engine.playback, engine.analyzer
    assert playback is not None and analyzer is not None and engine.lods[0].shape[1] == 3
    assert engine.expression_model() is not None
    old, engine.settings = settings, dataclasses.replace(settings, detect_every=settings.detect_every + 1)
    assert not engine.needs_reload(old)  # a tracker option: a new pipeline, the same models
    old, engine.settings = engine.settings, dataclasses.replace(engine.settings, threads=2)
    assert engine.needs_reload(old)
    assert engine.load() is None
    assert engine.playback is playback and playback.analyzer is engine.analyzer is not analyzer
    engine.close()
    assert engine.playback is None and engine.analyzer is None and engine.source is None


def test_models_that_cannot_load_are_one_line(tmp_path: Path) -> None:
    base, gui = EngineConfig.load(), GuiConfig.load()
    settings = dataclasses.replace(AppSettings.defaults(base, gui), threads=1)
    empty = dataclasses.replace(base, weights_dir=tmp_path)  # no models there
    engine = CaptureEngine(empty, settings, gui, None, _Reports(), should_stop=lambda: False)
    problem = engine.load()
    assert problem is not None and problem.startswith("The models could not be loaded: ")
    assert "\n" not in problem and str(tmp_path) in problem
    assert engine.analyzer is None and engine.playback is None
