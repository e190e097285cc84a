"""The pieces of the tracker's continuity: the assignment, the motion model, the gate.

Exact ground truth where it exists (brute force for the assignment, a face moving at
constant speed for the motion model); the tracker itself is tested on real footage in
tests/test_identity_footage.py and tests/test_tracker.py.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.assignment import assign
from engine.confirmation import ConfirmationGate
from engine.frames import FrameResult, TrackedFace
from engine.motion import BoxMotion


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
