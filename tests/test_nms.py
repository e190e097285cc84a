"""The compiled NMS agrees with the NumPy reference."""
import numpy as np
import pytest

from engine.nms import nms, nms_numpy


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [0, 1, 50, 2000])
def test_cython_nms_matches_numpy(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 500, (n, 2))
    boxes = np.hstack([xy, xy + rng.uniform(2, 120, (n, 2))]).astype(np.float32)
    scores = rng.random(n).astype(np.float32)
    for iou in (0.1, 0.3, 0.7):
        got = nms(boxes, scores, iou)
        want = nms_numpy(boxes, scores, iou)
        np.testing.assert_array_equal(got, want)
        if n > 50:
            assert 0 < len(got) < n  # the threshold really suppressed something


def test_nms_keeps_best_of_duplicates() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.6, 0.9, 0.8], np.float32)
    assert nms(boxes, scores, 0.3).tolist() == [1, 2]
