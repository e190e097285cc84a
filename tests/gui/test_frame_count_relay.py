"""A file's true length, counted in the source's own thread, reaches the worker's thread,
and only while that source is still the one open."""
from __future__ import annotations

import threading
from pathlib import Path

import cv2
import pytest
from PyQt6.QtCore import QObject, QThread

from engine.video_source import open_source
from tests.support.gui import wait_until
from tracker_app.source_opening import FrameCountRelay

pytestmark = pytest.mark.gui


def _short_clip(source: Path, folder: Path, frames: int) -> Path:
    """The first ``frames`` frames of ``source`` as a clip of its own (counting it is quick)."""
    capture = cv2.VideoCapture(str(source))
    clip = folder / "short.avi"
    writer: cv2.VideoWriter | None = None
    for _ in range(frames):
        ok, image = capture.read()
        assert ok
        if writer is None:
            height, width = image.shape[:2]
            writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (width, height))
        writer.write(image)
    capture.release()
    assert writer is not None
    writer.release()
    return clip


def test_the_count_arrives_in_the_relays_thread_for_the_open_source_only(qapp, media_dir: Path,
                                                                          tmp_path: Path) -> None:
    video = _short_clip(media_dir / "obama.mp4", tmp_path, 17)
    owner = QObject()  # in this (the GUI) thread, as the worker is in the capture thread
    found: list[tuple[int, bool]] = []
    stale, current = open_source(video), open_source(video)
    open_now = [stale]
    relay = FrameCountRelay(lambda: open_now[0], lambda n: found.append(
        (n, QThread.currentThread() is owner.thread())), parent=owner)
    try:
        relay.count(stale)
        open_now[0] = current  # another source opened before the first count came back
        relay.count(current)
        wait_until(lambda: bool(found), "the count of the open source", timeout=60)
        wait_until(lambda: not any(t.name.startswith("frame count") for t in threading.enumerate()),
                   "the stale source's count", timeout=60)
        qapp.processEvents()  # a stale count posted last is delivered (and dropped) now
        assert found == [(17, True)]  # once, the true length, in the owner's thread
    finally:
        stale.close()
        current.close()
