"""FaceTracker on real frames with the real models: loss, re-detection, stable IDs.

The tracker runs as files run it: faces embedded at once (``InlineEmbeddingQueue``), so a
person who comes back is recognised. Faces of tentative tracks are included in the steps
(``TrackedFace.confirmed`` False): it is the pipeline's confirmation gate that holds them."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.analyzer import FaceAnalyzer
from engine.face_check import VERIFY_SIZE, FailureStats, failure_reason, failure_statistics
from engine.reid import InlineEmbeddingQueue
from engine.roi import crop_roi, roi_from_landmarks
from engine.tracker import FaceTracker
from engine.video_source import open_source
from tests.support.video_fixtures import PATCH, blank_gap_clip, edge_exit_clip, second_face_clip


@pytest.fixture(scope="module")
def analyzer(weights_dir) -> FaceAnalyzer:
    return FaceAnalyzer.from_config(threads=2)


def run_tracker(analyzer, path, **overrides):
    tracker = FaceTracker(analyzer, dataclasses.replace(analyzer.config.tracker, **overrides),
                          embeddings=InlineEmbeddingQueue(analyzer.face_embedder()))
    steps = []
    with open_source(path) as source:
        for packet in source:
            steps.append(tracker.step(packet.image))
    return tracker, steps


def ids_near(step, centre, radius=PATCH / 2, person=False):
    """Track IDs (person IDs) whose landmark box centre lies within radius of a pasted patch centre."""
    out = []
    for tf in step.faces:
        b = tf.face.box
        c = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
        if np.hypot(c[0] - centre[0], c[1] - centre[1]) < radius:
            out.append(tf.person_id if person else tf.track_id)
    return out


def test_obama_one_track_every_frame_few_detector_calls(analyzer, media_dir) -> None:
    tracker, steps = run_tracker(analyzer, media_dir / "obama.mp4")
    assert len(steps) == 55
    assert all(len(s.faces) == 1 for s in steps)
    assert {s.faces[0].track_id for s in steps} == {1}
    assert tracker.detector_calls <= 3
    assert not any(s.lost for s in steps)


def test_blank_frames_lose_the_track_and_the_detector_finds_it_again(analyzer, tmp_path, media_dir) -> None:
    clip = blank_gap_clip(tmp_path, media_dir, n_before=12, n_blank=5, n_after=12)
    tracker, steps = run_tracker(analyzer, clip.path)
    assert len(steps) == clip.n_frames
    gap = sorted(clip.blank)
    for i, step in enumerate(steps):
        if i in clip.blank:
            assert step.faces == [], f"frame {i} is blank but has faces"
            assert step.detector_ran  # nothing tracked: the detector looks every frame
        else:
            assert len(step.faces) == 1, f"frame {i}"
            assert ids_near(step, clip.centre(i, "A")), f"frame {i}: face not where it was drawn"
    # black frames are a scene cut as well as a crop without contrast
    ended = {**steps[gap[0]].lost, **steps[gap[0]].hidden}
    assert ended and set(ended.values()) <= {"cut", "contrast", "not_a_face"}
    before = {s.faces[0].track_id for s in steps[: gap[0]]}
    after = {s.faces[0].track_id for s in steps[gap[-1] + 1:]}
    assert len(before) == 1 and len(after) == 1  # one stable track on each side of the gap
    people_before = {s.faces[0].person_id for s in steps[: gap[0]]}
    people_after = {s.faces[0].person_id for s in steps[gap[-1] + 3:]}  # once confirmed and embedded
    assert people_before == people_after  # the same person, recognised: the same person ID
    assert steps[gap[-1] + 1].detector_ran and steps[gap[-1] + 1].started
    # while tracked, only the scheduled face search runs: every detect_every frames
    every = analyzer.config.tracker.detect_every
    assert sum(s.detector_ran for s in steps[1: gap[0]]) == len(range(every, gap[0], every))
    assert tracker.detector_calls <= 2 + len(clip.blank)


def test_second_face_is_picked_up_and_ids_stay_stable(analyzer, tmp_path, media_dir) -> None:
    clip = second_face_clip(tmp_path, media_dir, n=30, arrive=10)
    tracker, steps = run_tracker(analyzer, clip.path, detect_every=5)
    a_ids = [ids_near(s, clip.centre(i, "A")) for i, s in enumerate(steps)]
    assert all(len(ids) == 1 for ids in a_ids)
    assert len({ids[0] for ids in a_ids}) == 1  # A keeps its ID through B's arrival
    b_ids = [ids_near(s, clip.centre(i, "B")) if "B" in clip.faces[i] else [] for i, s in enumerate(steps)]
    first_b = next(i for i, ids in enumerate(b_ids) if ids)
    assert 10 <= first_b <= 10 + 5  # found by the periodic detection within one period
    assert all(len(ids) == 1 for ids in b_ids[first_b:])
    assert len({ids[0] for ids in b_ids[first_b:]}) == 1
    assert a_ids[0][0] != b_ids[first_b][0]
    assert all(len(s.faces) == (2 if i >= first_b else 1) for i, s in enumerate(steps))
    assert tracker.detector_calls <= 30 // 5 + 1


def test_second_face_is_found_by_default_within_one_search_period(analyzer, tmp_path, media_dir) -> None:
    clip = second_face_clip(tmp_path, media_dir, n=20, arrive=5)
    tracker, steps = run_tracker(analyzer, clip.path)
    every = analyzer.config.tracker.detect_every
    assert 0 < every <= 10
    first_two = next(i for i, s in enumerate(steps) if len(s.faces) == 2)
    assert 5 <= first_two <= 5 + every
    assert all(len(s.faces) == 2 for s in steps[first_two:])
    assert tracker.detector_calls == 1 and tracker.search_calls <= 20 // every


def test_face_cut_off_by_the_edge_is_lost_and_found_again(analyzer, tmp_path, media_dir) -> None:
    clip = edge_exit_clip(tmp_path, media_dir)
    tracker, steps = run_tracker(analyzer, clip.path)
    a_ids = [ids_near(s, clip.centre(i, "A")) for i, s in enumerate(steps)]
    assert all(len(ids) == 1 for ids in a_ids) and len({ids[0] for ids in a_ids}) == 1
    a_id = a_ids[0][0]
    others = [[tf.track_id for tf in s.faces if tf.track_id != a_id] for s in steps]
    # C tracked while fully inside, and still when a fifth of it is cut off (frame 9)
    assert all(len(ids_near(steps[i], clip.centre(i, "C"))) == 1 for i in range(0, 10))
    # no ghost track while C is out of the frame (frames 18-25), the loss is noticed
    # within a few frames of C leaving (fully out at frame 16)
    assert all(others[i] == [] for i in range(17, 26))
    lost_at = next(i for i, s in enumerate(steps) if s.lost or s.hidden)
    assert 10 <= lost_at <= 17
    # C is back fully inside from frame 36: tracked again within a few frames
    back = next(i for i in range(26, 44) if others[i])
    assert back <= 36
    assert all(len(ids_near(steps[i], clip.centre(i, "C"))) == 1 for i in range(back + 1, 44))
    # the detector ran far less than every frame
    assert tracker.detector_calls <= 12


def test_failure_statistics_separate_faces_from_blank_crops(analyzer, media_dir) -> None:
    with open_source(media_dir / "obama.mp4") as source:
        image = next(iter(source)).image
    face = analyzer.analyze(image)[0]
    roi = roi_from_landmarks(face.landmarks)
    model, cfg = analyzer.face_model, analyzer.config.tracker

    def face_score(image: np.ndarray, roi: np.ndarray) -> float:
        return max((d.score for d in analyzer.faces_in_roi(image, roi, VERIFY_SIZE)), default=0.0)

    crop = analyzer.regressor.crop(image, roi)
    stats = failure_statistics(analyzer.whitened_coefficients(face.params), crop, roi, roi, face.landmarks,
                               (1280, 720))
    assert isinstance(stats, FailureStats) and stats.finite()
    assert failure_reason(stats, cfg) is None
    assert stats.contrast > 2 * cfg.min_crop_contrast and stats.param_rms < cfg.max_param_rms / 2
    assert face_score(image, roi) > 0.9
    blank = np.zeros_like(image)
    params = analyzer.regressor.regress(blank, [roi])[0]
    landmarks = model.landmarks(params, roi)
    stats = failure_statistics(analyzer.whitened_coefficients(params), analyzer.crop(blank, roi),
                               roi_from_landmarks(landmarks), roi, landmarks, (1280, 720))
    assert failure_reason(stats, cfg) == "contrast"
    assert face_score(blank, roi) < cfg.min_face_score
    # textured background without a face (the right edge of the frame: studio wall)
    wall = crop_roi(image, np.array([1000, 300, 1250, 550], np.float32), VERIFY_SIZE)
    assert face_score(wall, np.array([0, 0, VERIFY_SIZE, VERIFY_SIZE], np.float32)) < cfg.min_face_score
