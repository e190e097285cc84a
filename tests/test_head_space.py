"""Head space (metres, +Y up, face looking down +Z) and the per-frame scene pose, on the faces of emma.jpg."""
from __future__ import annotations

import numpy as np
import pytest

from engine.analyzer import FaceAnalyzer
from engine.head_space import (
    METRES_PER_MODEL_UNIT,
    head_space_vertices,
    head_transform,
    image_to_scene,
    matrix_to_quaternion,
    metres_per_pixel,
    quaternion_to_matrix,
)
from engine.image_input import read_image

NOSE_TIP, CHIN, RIGHT_EYE_OUTER, LEFT_EYE_OUTER, JAW_RIGHT, JAW_LEFT = 30, 8, 36, 45, 0, 16


@pytest.fixture(scope="module")
def faces(media_dir, weights_dir):
    analyzer = FaceAnalyzer.from_config()
    image = read_image(media_dir / "emma.jpg")
    found = analyzer.analyze(image, dense=True)
    assert len(found) == 3
    with np.load(weights_dir / "face_model.npz") as npz:
        arrays = {k: npz[k].astype(np.float64) for k in ("u", "w_shp", "w_exp")}
    return analyzer.face_model, image, found, arrays


def test_head_mesh_is_the_model_in_metres(faces) -> None:
    model, _, found, a = faces
    for face in found:
        c = face.params[12:].astype(np.float64)
        expected = (a["u"] + a["w_shp"] @ c[:40] + a["w_exp"] @ c[40:]).reshape(-1, 3) * METRES_PER_MODEL_UNIT
        got = head_space_vertices(model, face.params[12:])
        width = np.ptp(expected[:, 0])
        assert np.abs(got - expected).max() < 1e-4 * width  # z too: the kernel's depth shift is undone


def test_axes_and_size(faces) -> None:
    model = faces[0]
    mean = head_space_vertices(model, np.zeros(50, np.float32))
    lm = mean[model.keypoints]
    assert 0.14 < np.ptp(mean[:, 0]) < 0.17  # a face is about 15 cm from ear to ear
    assert 0.08 < lm[LEFT_EYE_OUTER, 0] - lm[RIGHT_EYE_OUTER, 0] < 0.11  # +X: the viewer's right
    assert lm[RIGHT_EYE_OUTER, 1] > lm[NOSE_TIP, 1] > lm[CHIN, 1]  # +Y up
    assert lm[NOSE_TIP, 2] > lm[JAW_RIGHT, 2] + 0.08 and lm[NOSE_TIP, 2] > lm[JAW_LEFT, 2] + 0.08  # looks down +Z


def test_scene_pose_places_the_head_on_the_image_mesh(faces, report_figure) -> None:
    model, image, found, _ = faces
    height, width = image.shape[:2]
    worst = 0.0
    for face in found:
        camera = model.image_camera(face.params, face.roi)
        mpp = metres_per_pixel(camera)
        pose = head_transform(camera, (width, height), mpp)
        assert abs(np.linalg.norm(pose.rotation) - 1) < 1e-9 and pose.scale == pytest.approx(1.0)
        assert np.allclose(quaternion_to_matrix(pose.rotation), face.pose.rotation, atol=1e-5)
        head = head_space_vertices(model, face.params[12:]).astype(np.float64)
        placed = head @ pose.matrix()[:3, :3].T + pose.matrix()[:3, 3]
        scene = image_to_scene(face.vertices, (width, height), mpp)
        face_width = np.ptp(head[:, 0])
        # The regressed camera is a little off a similarity (its rows are not quite orthogonal).
        worst = max(worst, np.abs(placed[:, :2] - scene[:, :2]).max() / face_width)
        depth = placed[:, 2] - scene[:, 2]  # image depth has its own origin
        assert np.abs(depth - depth.mean()).max() < 3e-2 * face_width
    report_figure(f"scene pose vs image mesh (x, y): {worst:.1e} of the face width at worst")
    assert worst < 2e-2


def test_quaternion_round_trip_in_every_branch() -> None:
    rng = np.random.default_rng(0)
    for q in [*rng.normal(size=(200, 4)), [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]:
        q = np.asarray(q, np.float64) / np.linalg.norm(q)
        r = quaternion_to_matrix(q)
        assert np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)
        back = matrix_to_quaternion(r)
        assert np.allclose(back, q if q[3] >= 0 else -q, atol=1e-9) or np.allclose(back, -q, atol=1e-9)
