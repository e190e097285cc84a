"""The app's engine loader: models (and the command-line video) loaded on a thread of
their own, handed over once to the capture worker."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.config import EngineConfig
from engine.video_source import VideoFileSource, open_source
from tracker_app.engine_loader import EngineLoader


@pytest.fixture
def config(weights_dir) -> EngineConfig:
    return EngineConfig.load()


def test_the_engine_and_the_opened_video_are_handed_over_once(config, media_dir) -> None:
    video = media_dir / "obama.mp4"
    loader = EngineLoader(config, 1, video=video).start()
    assert loader.take_video(str(video)) is None  # not before the engine is taken
    loaded = loader.take(config, 1)
    assert loaded is not None and loaded.lods[0].shape[1] == 3
    assert loader.take(config, 1) is None  # once
    assert loader.take_video(str(media_dir / "emma.jpg")) is None  # another source: opened by the worker
    source = loader.take_video(str(video))
    assert isinstance(source, VideoFileSource) and not source.closed
    assert loader.take_video(str(video)) is None  # once
    with source, open_source(video) as fresh:  # the frames a fresh open gives, from frame 0
        for a, b in zip(source, fresh, strict=True):
            assert a.index == b.index and np.array_equal(a.image, b.image)


def test_a_video_nobody_takes_is_closed(config, media_dir) -> None:
    loader = EngineLoader(config, 1, video=media_dir / "obama.mp4").start()
    loader._thread.join()
    opened = loader._video_source  # (a peek: nothing else shows the untaken video)
    assert opened is not None and not opened.closed
    loader.close()  # what the worker does when it shuts down
    assert opened.closed
    assert loader.take_video(str(media_dir / "obama.mp4")) is None


def test_asked_for_another_configuration_the_loader_lets_go_of_what_it_loaded(config, media_dir) -> None:
    loader = EngineLoader(config, 1, video=media_dir / "obama.mp4").start()
    loader._thread.join()
    opened = loader._video_source
    assert opened is not None and loader._result is not None
    assert loader.take(config.with_threads(2), 2) is None  # the worker then loads its own
    assert opened.closed and loader._result is None
    assert loader.take(config, 1) is None and loader.take_video(str(media_dir / "obama.mp4")) is None
    assert not any(t.name == "engine-loader" and t.is_alive() for t in threading.enumerate())


def test_a_video_that_cannot_be_opened_is_left_to_the_worker(config, tmp_path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    loader = EngineLoader(config, 1, video=broken).start()
    assert loader.take(config, 1) is not None  # the models load whatever the video
    assert loader.take_video(str(broken)) is None  # the worker opens it and reports the error
