"""The pieces of the tracker's continuity: the assignment, the detection claims, the
motion model, the gate.

Exact ground truth where it exists (brute force for the assignment, a face moving at
constant speed for the motion model); the tracker itself is tested on real footage in
tests/test_identity_footage.py and tests/test_tracker.py.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.assignment import assign
from engine.config import TrackerConfig
from engine.confirmation import ConfirmationGate
from engine.detection_claims import claim_detections
from engine.detector import Detection
from engine.face_check import box_iou
from engine.frames import FrameResult, TrackedFace
from engine.motion import BoxMotion
from engine.tracks import Track, TrackState


def _brute_force(cost: np.ndarray, max_cost: float) -> float:
    """Least total cost over every partial matching using only allowed pairs, where an
    unmatched row costs max_cost + 1 (as in assign)."""
    rows, cols = cost.shape
    best = float("inf")
    for perm in itertools.permutations(range(max(rows, cols)), rows):
        total = 0.0
        for r, c in enumerate(perm):
            total += cost[r, c] if c < cols and cost[r, c] <= max_cost else max_cost + 1
        best = min(best, total)
    return best


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (4, 2), (2, 5), (5, 5)])
def test_assignment_is_the_least_total_cost(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    for _ in range(30):
        cost = rng.uniform(0, 1, shape)
        pairs = assign(cost, max_cost=0.7)
        assert len({r for r, _ in pairs}) == len(pairs) == len({c for _, c in pairs})
        assert all(cost[r, c] <= 0.7 for r, c in pairs)
        unmatched = shape[0] - len(pairs)
        total = sum(cost[r, c] for r, c in pairs) + unmatched * 1.7
        assert total == pytest.approx(_brute_force(cost, 0.7))


def test_assignment_prefers_the_global_optimum_over_greedy() -> None:
    # Greedy would give row 0 its best column (0, cost 0.1) and leave row 1 with 0.9.
    cost = np.array([[0.1, 0.2], [0.15, 0.9]])
    assert sorted(assign(cost, 1.0)) == [(0, 1), (1, 0)]


def test_assignment_never_makes_a_forbidden_pair() -> None:
    assert assign(np.array([[0.9, 0.95]]), max_cost=0.5) == []
    assert assign(np.zeros((0, 3)), 0.5) == []


FRAME = 10  # the frame the claims are made on
STRONG = 0.5  # the detector's own threshold: only detections this strong start a track


def _track(track_id: int, box: list[float], state: TrackState) -> Track:
    """A track whose face (seen this frame) or prediction (coasting) is ``box``."""
    corners = np.array([[box[0], box[1], 0.0], [box[2], box[3], 0.0]], np.float32)
    last_seen = FRAME - 3 if state is TrackState.COASTING else FRAME
    return Track(track_id=track_id, segment=track_id, state=state, params=np.zeros(62, np.float32),
                 roi=np.array(box, np.float32), landmarks=corners, score=1.0,
                 motion=BoxMotion(np.array(box, np.float32)), first_frame=0, last_seen=last_seen, birth_score=1.0)


def _detection(box: list[float], score: float) -> Detection:
    return Detection(np.array(box, np.float32), score)


def test_faces_in_view_claim_detections_before_hidden_ones() -> None:
    cfg = TrackerConfig()
    in_view = _track(1, [100, 100, 200, 200], TrackState.CONFIRMED)
    hidden = _track(2, [110, 100, 210, 200], TrackState.COASTING)  # predicted right on the detection
    on_face = _detection([110, 100, 210, 200], 0.99)
    assert cfg.anchor_iou <= box_iou(on_face.box, in_view.motion.box) < 1.0  # a joint assignment would pick `hidden`
    claims = claim_detections([on_face], [hidden, in_view], FRAME, cfg, STRONG)
    assert claims.moved == [] and claims.fresh == []  # the face in view kept it; nothing to move or start


def test_a_weak_detection_revives_a_hidden_face_but_starts_nothing() -> None:
    cfg = TrackerConfig()
    hidden = _track(1, [400, 100, 500, 200], TrackState.COASTING)
    weak_on_hidden = _detection([405, 100, 505, 200], 0.35)
    weak_elsewhere = _detection([700, 100, 800, 200], 0.35)
    strong_elsewhere = _detection([1000, 100, 1100, 200], 0.99)
    assert cfg.coast_detection_score <= 0.35 < STRONG
    claims = claim_detections([weak_elsewhere, weak_on_hidden, strong_elsewhere], [hidden], FRAME, cfg, STRONG)
    assert [(d is weak_on_hidden, t is hidden) for d, t in claims.moved] == [(True, True)]
    assert [d is strong_elsewhere for d in claims.fresh] == [True]


def test_a_loosely_matched_face_in_view_moves_to_its_detection() -> None:
    cfg = TrackerConfig()
    drifted = _track(1, [100, 100, 200, 200], TrackState.CONFIRMED)
    below = _detection([100, 140, 200, 240], 0.99)  # the face; the landmarks slid up
    assert cfg.match_iou <= box_iou(below.box, drifted.motion.box) < cfg.anchor_iou
    claims = claim_detections([below], [drifted], FRAME, cfg, STRONG)
    assert [(d is below, t is drifted) for d, t in claims.moved] == [(True, True)] and claims.fresh == []


def test_motion_model_predicts_a_face_moving_at_constant_speed() -> None:
    box = np.array([100, 200, 180, 300], np.float32)
    motion = BoxMotion(box)
    for k in range(1, 11):
        motion.predict()
        motion.update(box + np.array([5 * k, 2 * k, 5 * k, 2 * k], np.float32))
    motion.predict()  # frame 11, unseen
    expected = box + np.array([55, 22, 55, 22], np.float32)
    assert np.abs(motion.box - expected).max() < 3.0
    assert motion.velocity == pytest.approx([5, 2], abs=0.5)


def test_a_hidden_face_prediction_slows_down() -> None:
    motion = BoxMotion(np.array([0, 0, 100, 100], np.float32))
    for k in range(1, 8):
        motion.predict()
        motion.update(np.array([10 * k, 0, 100 + 10 * k, 100], np.float32))
    speeds = []
    for _ in range(10):
        motion.predict()
        speeds.append(motion.velocity[0])
    assert speeds[-1] < 0.5 * speeds[0]


def _result(index: int, faces: list[TrackedFace]) -> FrameResult:
    return FrameResult(index=index, timestamp=index / 25, image=np.zeros((4, 4, 0), np.uint8), faces=faces)


def _face(track_id: int, person_id: int, confirmed: bool) -> TrackedFace:
    return TrackedFace(track_id, face=None, segment=track_id, person_id=person_id, confirmed=confirmed)  # type: ignore[arg-type]


def test_gate_backfills_confirmed_tracks_and_drops_phantoms() -> None:
    gate = ConfirmationGate(hold_frames=2)
    out: list[FrameResult] = []
    # Track 1 is tentative for 2 frames then confirmed as person 7; track 2 is a phantom.
    frames = [[_face(1, 0, False), _face(2, 0, False)], [_face(1, 0, False), _face(2, 0, False)],
              [_face(1, 7, True)], [_face(1, 7, True)]]
    for i, faces in enumerate(frames):
        released = gate.push(_result(i, faces))
        assert len(released) == (1 if i >= 2 else 0)
        out += released
    out += gate.flush()
    assert [r.index for r in out] == [0, 1, 2, 3]
    assert all([(tf.track_id, tf.person_id, tf.confirmed) for tf in r.faces] == [(1, 7, True)] for r in out)


def test_live_gate_holds_nothing_and_hides_tentative_faces() -> None:
    gate = ConfirmationGate(hold_frames=0)
    first = gate.push(_result(0, [_face(1, 0, False)]))
    second = gate.push(_result(1, [_face(1, 3, True)]))
    assert [len(r.faces) for r in first + second] == [0, 1]
