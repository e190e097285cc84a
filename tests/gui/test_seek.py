"""Seeking in a file whose header lies (obama.mp4: 158 frames claimed, 55 held) before the
true count is known: the counter shows an estimate, a seek past the end lands on the last frame."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.video_source import VideoFileSource
from tests.support.gui import wait_until
from tracker_app.viewer_model import frame_counter_text
from tracker_app.capture_worker import CaptureWorker

pytestmark = pytest.mark.gui


class _NotCounted(VideoFileSource):
    """No background count when opened (as if it had not finished yet); seek still counts."""

    def start_counting(self, on_done=None) -> None:
        pass


def test_counter_text() -> None:
    assert frame_counter_text(30, 158, exact=False) == "30 / ~158"  # frame numbers are 0-based everywhere
    assert frame_counter_text(30, 55, exact=True) == "30 / 55"
    assert frame_counter_text(30, None, exact=False) == "30"


def test_estimate_then_clamped_seek_past_the_real_end(window, obama) -> None:
    window.open_source(lambda: _NotCounted(obama))
    wait_until(lambda: window.model.frames_shown >= 3, "frames of obama.mp4")
    window.controller.submit(CaptureWorker.pause)
    wait_until(lambda: not window.model.playing, "pause")
    source = window.model.source
    assert source.frame_count == 158 and not source.frame_count_exact  # the header's claim
    assert window.seek.label.text().endswith(" / ~158")
    assert window.seek.bar.maximum() == 157
    window.seek.bar.setValue(150)  # a click on the bar past the real end
    wait_until(lambda: window.model.frame is not None and window.model.frame.result.index == 54,
               "the last frame")
    assert window.model.source.frame_count == 55 and window.model.source.frame_count_exact
    assert window.seek.bar.maximum() == 54 and window.seek.bar.value() == 54
    assert window.seek.label.text() == "54 / 55"
    assert not window.errors
    # The frame shown is the file's last frame, pixel for pixel.
    cap = cv2.VideoCapture(str(obama))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    assert len(frames) == 55 and np.array_equal(window.model.frame.image, frames[54])
    window.step_back()
    wait_until(lambda: window.model.frame.result.index == 53, "step back")
    assert np.array_equal(window.model.frame.image, frames[53])
