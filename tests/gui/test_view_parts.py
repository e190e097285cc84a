"""Qt-free parts of the app: view matrices, mesh levels of detail, draw-ready frames, camera list."""
from __future__ import annotations

import numpy as np
import pytest

from engine.face_model import FaceModel
from tracker_app.cameras import _linux_cameras
from engine.display_arrays import axis_arrows, vertex_normals
from tracker_app.mesh_lod import choose_lod, mesh_lods
from tracker_app.view_math import OrbitCamera, fit_rect, image_projection


def test_fit_rect_letterboxes_and_centres() -> None:
    assert fit_rect(1280, 720, 1280, 720) == (0, 0, 1280, 720)
    x, y, w, h = fit_rect(1280, 720, 600, 600)
    assert (w, x) == (600, 0) and h == round(720 * 600 / 1280) and y == (600 - h) // 2
    x, y, w, h = fit_rect(720, 1280, 1000, 500)
    assert h == 500 and x == (1000 - w) // 2


def test_image_projection_maps_pixel_edges_to_the_viewport() -> None:
    m = image_projection(1280, 720)
    def ndc(x, y, z=0.0):
        p = m @ np.array([x, y, z, 1.0])
        return p[:3] / p[3]
    assert np.allclose(ndc(-0.5, -0.5)[:2], [-1, 1]) and np.allclose(ndc(1279.5, 719.5)[:2], [1, -1])
    assert ndc(0, 0, 100)[2] < ndc(0, 0, 0)[2]  # larger z is nearer: smaller depth
    assert -1 < ndc(0, 0, 1280 + 720 - 1)[2] < ndc(0, 0, 0)[2] < 1


def test_orbit_camera_keeps_the_mesh_in_front() -> None:
    cam = OrbitCamera()
    center, radius = np.array([640.0, 360.0, 100.0]), 150.0
    for yaw, pitch in ((0, 0), (200, 50), (-400, -300)):
        cam.reset()
        cam.orbit(yaw, pitch)
        assert -89 <= cam.pitch <= 89
        p = cam.mvp(center, radius, 1.5) @ np.append(center, 1.0)
        assert np.allclose(p[:2] / p[3], 0, atol=1e-5) and -1 < p[2] / p[3] < 1
    cam.zoom(100)
    assert cam.distance == cam.min_distance
    # Front view: image x right stays right, image y down becomes screen down.
    cam.reset()
    mvp = cam.mvp(center, radius, 1.0)
    right = mvp @ np.append(center + [50, 0, 0], 1.0)
    below = mvp @ np.append(center + [0, 50, 0], 1.0)
    assert right[0] / right[3] > 0 and below[1] / below[3] < 0


@pytest.fixture(scope="module")
def face_model(weights_dir) -> FaceModel:
    return FaceModel.load(weights_dir / "face_model.npz")


def test_levels_of_detail_share_the_vertices(face_model) -> None:
    lods = mesh_lods(face_model.ncc, face_model.triangles)
    counts = [len(t) for t in lods]
    assert counts[0] == len(face_model.triangles) and counts == sorted(counts, reverse=True)
    assert counts[-1] < counts[0] / 8
    for t in lods:
        assert t.dtype == np.uint32 and t.max() < face_model.n_vertices
        assert np.all((t[:, 0] != t[:, 1]) & (t[:, 1] != t[:, 2]) & (t[:, 0] != t[:, 2]))
    # The coarse mesh still spans the whole face: its vertices reach the full mesh's extent.
    used = np.unique(lods[-1])
    assert np.allclose(face_model.ncc[used].min(0), 0, atol=0.05)
    assert np.allclose(face_model.ncc[used].max(0), 1, atol=0.05)
    assert choose_lod(counts, 1e9) == 0 and choose_lod(counts, 10) == len(counts) - 1
    assert choose_lod(counts, 2 * counts[1] / 0.5 * 0.51) == 1


def test_normals_face_the_viewer_and_arrows_start_at_the_nose(face_model, media_dir) -> None:
    from engine.analyzer import FaceAnalyzer
    from engine.image_input import read_image

    face = FaceAnalyzer.from_config(threads=1).analyze(read_image(str(media_dir / "JianzhuGuo.jpg")),
                                                       dense=True)[0]
    n = vertex_normals(face.vertices, face_model.triangles)
    assert n.shape == face.vertices.shape and np.allclose(np.linalg.norm(n, axis=1), 1, atol=1e-4)
    assert (n[:, 2] > 0).mean() > 0.8  # a frontal face: most of the surface looks at the camera
    arrows = axis_arrows(face)
    assert arrows.shape == (27, 5)  # 3 arrows x (2 shaft triangles + 1 head) x 3 vertices
    nose = face.landmarks[30, :2]
    shafts = arrows.reshape(3, 9, 5)[:, :2, :2]  # the two start corners of each shaft
    assert np.allclose(shafts.mean(axis=1), nose, atol=0.01)
    assert sorted(map(tuple, np.unique(arrows[:, 2:], axis=0).round(3))) == sorted(
        [(1.0, 0.0, 0.0), (0.0, round(200 / 255, 3), 0.0), (0.0, round(80 / 255, 3), 1.0)])


def test_camera_list_from_sysfs(tmp_path) -> None:
    for node, index, name in (("video0", 0, "Integrated Camera"), ("video1", 1, "Integrated Camera"),
                              ("video2", 0, "USB Cam"), ("video10", 0, "Virtual")):
        d = tmp_path / node
        d.mkdir()
        (d / "index").write_text(f"{index}\n")
        (d / "name").write_text(f"{name}\n")
    (tmp_path / "v4l-subdev0").mkdir()
    assert _linux_cameras(tmp_path) == [(0, "Integrated Camera"), (2, "USB Cam"), (10, "Virtual")]
    assert _linux_cameras(tmp_path / "missing") == []
