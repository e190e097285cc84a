"""When the tracker runs the detector (``engine.detector_schedule``): whole frame, face
search or nothing, frame by frame, and the counts of each on a real image."""
from __future__ import annotations

import numpy as np
import pytest

from engine.analyzer import FaceAnalyzer
from engine.config import TrackerConfig
from engine.detector_schedule import DetectorSchedule
from engine.image_input import read_image
from engine.motion import BoxMotion
from engine.tracks import Track, TrackState

CONFIG = TrackerConfig(max_faces=2, detect_every=6, recover_every=5, recover_frames=12)


@pytest.fixture(scope="module")
def analyzer(weights_dir) -> FaceAnalyzer:
    return FaceAnalyzer.from_config(threads=2)


def _track(track_id: int, state: TrackState = TrackState.CONFIRMED) -> Track:
    box = np.array([100.0, 100.0, 200.0, 200.0], np.float32)
    return Track(track_id=track_id, segment=track_id, state=state, params=np.zeros(62, np.float32), roi=box,
                 landmarks=box.reshape(2, 2), score=1.0, motion=BoxMotion(box), first_frame=0, last_seen=0,
                 birth_score=1.0)


def _plan(schedule: DetectorSchedule, frames: range, tracks: list[Track], image: np.ndarray) -> list[str]:
    """What ran on each frame ('whole', 'search' or '-'), running it as the tracker does."""
    out = []
    for frame in frames:
        due = schedule.due(frame, tracks, hidden_now=False)
        if due is not None:
            schedule.detect(image, frame, due)
        out.append("-" if due is None else "search" if due else "whole")
    return out


def test_the_detector_runs_on_schedule_and_is_counted(analyzer, media_dir) -> None:
    image = read_image(str(media_dir / "emma.jpg"))
    schedule = DetectorSchedule(analyzer, CONFIG)
    assert schedule.due(0, [], hidden_now=False) is False  # no face tracked: the whole frame
    assert len(schedule.detect(image, 0, search=False)) >= 3  # emma.jpg's three faces
    one = [_track(1)]
    assert schedule.due(1, one, hidden_now=True) is False  # a face just hid
    # A face search every detect_every frames while faces are in view.
    assert _plan(schedule, range(1, 13), one, image) == ["-"] * 5 + ["search"] + ["-"] * 5 + ["search"]
    assert (schedule.detector_calls, schedule.search_calls) == (1, 2)
    # After a loss of one of two faces: the whole frame every recover_every frames, for recover_frames.
    schedule.note_loss(13, tracked=2)
    assert _plan(schedule, range(13, 30), one, image) == (
        ["-"] * 4 + ["whole"] + ["-"] * 4 + ["whole"] + ["-"] * 5 + ["search", "-"])
    # The face back in view ends the recovery; with max_faces in view nothing is searched for.
    schedule.note_loss(30, tracked=2)
    two = [_track(1), _track(2)]
    schedule.note_enough_tracks(two)
    assert _plan(schedule, range(30, 50), two, image) == ["-"] * 20
    assert (schedule.detector_calls, schedule.search_calls) == (3, 3)
    schedule.reset()
    assert (schedule.detector_calls, schedule.search_calls) == (0, 0)
