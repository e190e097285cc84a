"""FaceAnalyzer on the shared media with the real converted models."""
from __future__ import annotations

import numpy as np
import pytest

from tests.support.dlib_annotations import box_iou, load_annotations
from engine.analyzer import FaceAnalyzer
from engine.image_input import ImageError, read_image, to_bgr_uint8
from engine.roi import box_from_landmarks

# Interocular normalisation: outer eye corners in iBUG 300-W order.
OUTER_EYE_CORNERS = (36, 45)
NME_LIMIT = 0.065


@pytest.fixture(scope="module")
def analyzer(weights_dir) -> FaceAnalyzer:
    return FaceAnalyzer.from_config()


@pytest.mark.parametrize("name,count", [("emma.jpg", 3), ("trump_hillary.jpg", 2), ("JianzhuGuo.jpg", 1)])
def test_detects_every_face(analyzer, media_dir, name, count) -> None:
    image = read_image(str(media_dir / name))
    faces = analyzer.analyze(image)
    assert len(faces) == count
    for face in faces:
        assert face.score >= 0.5
        # landmarks sit inside the detector box, grown by a margin
        box = face.box
        margin = 0.25 * (box[2] - box[0])
        assert np.all(face.landmarks[:, 0] > box[0] - margin) and np.all(face.landmarks[:, 0] < box[2] + margin)
        assert np.all(face.landmarks[:, 1] > box[1] - margin) and np.all(face.landmarks[:, 1] < box[3] + margin)


def test_no_face_in_blank_or_noise(analyzer) -> None:
    assert analyzer.analyze(np.zeros((480, 640, 3), np.uint8)) == []
    assert analyzer.analyze(np.full((480, 640, 3), 200, np.uint8)) == []


def test_landmark_nme_on_dlib_faces(analyzer, media_dir, report_figure) -> None:
    annotated = load_annotations(media_dir / "dlib_faces")
    assert len(annotated) == 43
    errors = []
    images: dict = {}
    for ann in annotated:
        if ann.image not in images:
            images[ann.image] = analyzer.analyze(read_image(str(ann.image)))
        faces = images[ann.image]
        ious = [box_iou(ann.box, box_from_landmarks(f.landmarks)) for f in faces]
        assert ious and max(ious) > 0.3, f"annotated face at {ann.box} in {ann.image.name} not found"
        pred = faces[int(np.argmax(ious))].landmarks[:, :2]
        norm = np.linalg.norm(ann.landmarks[OUTER_EYE_CORNERS[0]] - ann.landmarks[OUTER_EYE_CORNERS[1]])
        errors.append(np.linalg.norm(pred - ann.landmarks, axis=1).mean() / norm)
    nme = float(np.mean(errors))
    report_figure(f"68-point NME on {len(errors)} dlib faces (outer-eye-corner normalised): {100 * nme:.2f} %"
                  f" (median {100 * np.median(errors):.2f} %, worst {100 * max(errors):.2f} %)")
    assert nme <= NME_LIMIT


def test_dense_keypoints_match_sparse_landmarks(analyzer, media_dir) -> None:
    faces = analyzer.analyze(read_image(str(media_dir / "emma.jpg")), dense=True)
    model = analyzer.face_model
    for face in faces:
        assert face.vertices.shape == (model.n_vertices, 3) == (38365, 3)
        dense_kp = model.dense_landmarks(face.vertices)
        assert np.abs(dense_kp[:, :2] - face.landmarks[:, :2]).max() < 0.5
        # The mesh covers the face: its image box holds the landmarks' box, as wide (the jaw
        # line is the widest part) and about a quarter taller (the forehead above the brows;
        # emma.jpg's three faces measure 1.03-1.09x wide and 1.21-1.29x tall).
        assert np.all(np.isfinite(face.vertices))
        mesh_lo, mesh_hi = face.vertices[:, :2].min(0), face.vertices[:, :2].max(0)
        kp_lo, kp_hi = face.landmarks[:, :2].min(0), face.landmarks[:, :2].max(0)
        assert np.all(mesh_lo <= kp_lo + 1.0) and np.all(mesh_hi >= kp_hi - 1.0)
        width_ratio, height_ratio = (mesh_hi - mesh_lo) / (kp_hi - kp_lo)
        assert 1.0 <= width_ratio <= 1.2 and 1.1 <= height_ratio <= 1.45, (width_ratio, height_ratio)


def test_frontal_face_pose(analyzer, media_dir) -> None:
    (face,) = analyzer.analyze(read_image(str(media_dir / "JianzhuGuo.jpg")))
    assert abs(face.pose.yaw) < 25 and abs(face.pose.pitch) < 25 and abs(face.pose.roll) < 15
    r = face.pose.rotation
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-4)


def test_image_formats_give_the_same_faces(analyzer, media_dir) -> None:
    import cv2

    bgr = read_image(str(media_dir / "trump_hillary.jpg"))
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    variants = {
        "bgra": cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
        "uint16": bgr.astype(np.uint16) * 257,
        "float01": bgr.astype(np.float32) / 255,
        "gray": gray,
        "gray1": gray[:, :, None],
    }
    reference = analyzer.analyze(bgr)
    for name, image in variants.items():
        faces = analyzer.analyze(image)
        assert len(faces) == len(reference), name
        if name in ("bgra", "uint16", "float01"):  # same pixels after conversion
            for f, g in zip(faces, reference):
                np.testing.assert_allclose(f.landmarks[:, :2], g.landmarks[:, :2], atol=0.5, err_msg=name)


@pytest.mark.parametrize("bad", [np.zeros((0, 0, 3), np.uint8), np.zeros((10, 10, 2), np.uint8),
                                 np.zeros((20000, 2, 3), np.uint8), np.zeros((4, 4, 3), np.complex64)])
def test_bad_images_are_refused_clearly(analyzer, bad) -> None:
    with pytest.raises(ImageError) as info:
        analyzer.analyze(bad)
    assert "\n" not in str(info.value)


def test_tiny_image_has_no_face(analyzer) -> None:
    assert analyzer.analyze(np.zeros((1, 1, 3), np.uint8)) == []


def test_huge_frame_is_shrunk_for_detection(analyzer, media_dir) -> None:
    import cv2

    image = read_image(str(media_dir / "JianzhuGuo.jpg"))
    big = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_LINEAR)
    (small_face,) = analyzer.analyze(image)
    (big_face,) = analyzer.analyze(big)
    np.testing.assert_allclose(big_face.landmarks[:, :2] / 4, small_face.landmarks[:, :2], atol=3)


def test_read_image_errors(tmp_path, media_dir) -> None:
    with pytest.raises(ImageError, match="no such file"):
        read_image(str(tmp_path / "missing.jpg"))
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes((media_dir / "emma.jpg").read_bytes()[:200])
    with pytest.raises(ImageError, match="not a readable image"):
        read_image(str(truncated))


def test_to_bgr_uint8_conversions() -> None:
    assert to_bgr_uint8(np.full((2, 2), 65535, np.uint16)).max() == 255
    assert to_bgr_uint8(np.full((2, 2), 1.0, np.float64)).min() == 255
    assert to_bgr_uint8(np.zeros((2, 2, 4), np.uint8)).shape == (2, 2, 3)


def test_heap_trim_threshold_is_raised_on_linux(analyzer) -> None:
    import sys

    from engine.onnx_session import keep_freed_heap_mapped

    # creating the sessions set it; on glibc mallopt accepts the value
    assert keep_freed_heap_mapped() is sys.platform.startswith("linux")
