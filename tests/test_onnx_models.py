"""The converted ONNX graphs compute what the upstream PyTorch networks compute.

Both graphs are built into a temporary folder from the real checkpoints and run
with onnxruntime; the truth is tests/support/numpy_reference.py, an independent float64
NumPy forward pass with unfolded batch norm and a literal CReLU.
"""
from __future__ import annotations

import math
import pickle
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.support import numpy_reference
from engine.convert.faceboxes_onnx import build_faceboxes_onnx
from engine.convert.regressor_onnx import build_regressor_onnx
from engine.convert.torch_legacy import load_legacy_state_dict

TOLERANCE = 1e-4
REGRESSOR_SIZE = 120
# Square ROIs (x0, y0, side) around the face in JianzhuGuo.jpg (413x551): centred, shifted, tight.
JIANZHU_ROIS = [(75, 85, 260), (40, 120, 300), (110, 130, 190)]
DETECTOR_TEST_WIDTH = 320  # keeps the float64 NumPy pass well under a second


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def regressor_state(data_dir: Path) -> dict[str, np.ndarray]:
    return load_legacy_state_dict(data_dir / "3ddfa_v2" / "mb05_120x120.pth")


@pytest.fixture(scope="module")
def faceboxes_state(data_dir: Path) -> dict[str, np.ndarray]:
    return load_legacy_state_dict(data_dir / "3ddfa_v2" / "FaceBoxesProd.pth")


@pytest.fixture(scope="module")
def mean_std(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(data_dir / "3ddfa_v2" / "param_mean_std_62d_120x120.pkl", "rb") as f:
        stats = pickle.load(f)
    return stats["mean"], stats["std"]


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def regressor_path(regressor_state, data_dir: Path, onnx_dir: Path) -> Path:
    path = onnx_dir / "mb05_120x120.partial.onnx"  # the temp name build_ext.py passes
    report = build_regressor_onnx(regressor_state, data_dir / "3ddfa_v2" / "param_mean_std_62d_120x120.pkl", path)
    assert report and all(isinstance(line, str) for line in report)
    return path


@pytest.fixture(scope="module")
def faceboxes_path(faceboxes_state, onnx_dir: Path) -> Path:
    path = onnx_dir / "faceboxes.partial.onnx"
    report = build_faceboxes_onnx(faceboxes_state, path)
    assert report and all(isinstance(line, str) for line in report)
    return path


@pytest.fixture(scope="module")
def regressor(regressor_path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(regressor_path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def detector(faceboxes_path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(faceboxes_path), providers=["CPUExecutionProvider"])


def _nchw(image_hwc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image_hwc.transpose(2, 0, 1)[None], dtype=np.float32)


def _read(media_dir: Path, name: str) -> np.ndarray:
    image = cv2.imread(str(media_dir / name))
    assert image is not None, name
    return image


# --------------------------------------------------------------------------- regressor
def test_regressor_signature(regressor_path: Path, regressor: ort.InferenceSession) -> None:
    (inp,), (out,) = regressor.get_inputs(), regressor.get_outputs()
    assert (inp.name, inp.type, inp.shape[1:]) == ("input", "tensor(float)", [3, 120, 120])
    assert isinstance(inp.shape[0], str)  # dynamic batch
    assert (out.name, out.type, out.shape[1:]) == ("param", "tensor(float)", [62])
    model = onnx.load(str(regressor_path))
    ops = [n.op_type for n in model.graph.node]
    assert ops[:3] == ["Sub", "Mul", "Conv"]  # normalise before the zero-padded first conv
    assert "BatchNormalization" not in ops


def _compare_regressor(regressor: ort.InferenceSession, state: dict, mean_std: tuple, batch: np.ndarray) -> None:
    mean, std = mean_std
    param = regressor.run(None, {"input": batch})[0]
    want = numpy_reference.mobilenet_forward(state, batch)
    whitened_diff = np.abs((param.astype(np.float64) - mean) / std - want).max()
    param_diff = np.abs(param - (want * std + mean)).max()
    print(f"regressor: max |diff| whitened {whitened_diff:.2e}, de-whitened params {param_diff:.2e} "
          f"(params up to {np.abs(param).max():.1e})")
    assert param.shape == (len(batch), 62) and param.dtype == np.float32
    assert whitened_diff <= TOLERANCE, f"whitened {whitened_diff:.2e}, de-whitened {param_diff:.2e}"


def test_regressor_random_batch(regressor, regressor_state, mean_std) -> None:
    batch = np.random.default_rng(0).uniform(0, 255, (3, 3, 120, 120)).astype(np.float32)
    _compare_regressor(regressor, regressor_state, mean_std, batch)
    single = regressor.run(None, {"input": batch[1:2]})[0]
    np.testing.assert_allclose(single, regressor.run(None, {"input": batch})[0][1:2], rtol=1e-5, atol=1e-3)


def test_regressor_real_crops(regressor, regressor_state, mean_std, media_dir: Path) -> None:
    image = _read(media_dir, "JianzhuGuo.jpg")
    crops = [cv2.resize(image[y:y + s, x:x + s], (REGRESSOR_SIZE, REGRESSOR_SIZE), interpolation=cv2.INTER_LINEAR)
             for x, y, s in JIANZHU_ROIS]
    batch = np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2), dtype=np.float32)
    _compare_regressor(regressor, regressor_state, mean_std, batch)


def test_regressor_rejects_wrong_width(regressor_state, data_dir: Path, tmp_path: Path) -> None:
    wider = dict(regressor_state, **{"fc_param.weight": np.zeros((62, 1024), np.float32)})
    with pytest.raises(ValueError, match=r"fc_param\.weight"):
        build_regressor_onnx(wider, data_dir / "3ddfa_v2" / "param_mean_std_62d_120x120.pkl", tmp_path / "x.onnx")


# --------------------------------------------------------------------------- detector
def _expected_anchors(height: int, width: int) -> int:
    return sum(math.ceil(height / s) * math.ceil(width / s) * a for s, a in ((32, 21), (64, 1), (128, 1)))


def _compare_detector(detector: ort.InferenceSession, state: dict, image: np.ndarray) -> np.ndarray:
    loc, scores = detector.run(None, {"input": image})
    want_loc, want_probs = numpy_reference.faceboxes_forward(state, image)
    loc_diff = np.abs(loc - want_loc).max()
    score_diff = np.abs(scores - want_probs[..., 1]).max()
    print(f"detector {image.shape[2]}x{image.shape[3]}: max |diff| loc {loc_diff:.2e}, scores {score_diff:.2e}")
    anchors = _expected_anchors(*image.shape[2:])
    assert loc.shape == (1, anchors, 4) and scores.shape == (1, anchors)
    assert loc_diff <= TOLERANCE and score_diff <= TOLERANCE, f"loc {loc_diff:.2e}, scores {score_diff:.2e}"
    return scores


def test_detector_signature(faceboxes_path: Path, detector: ort.InferenceSession) -> None:
    (inp,) = detector.get_inputs()
    assert (inp.name, inp.type, inp.shape[:2]) == ("input", "tensor(float)", [1, 3])
    assert all(isinstance(d, str) for d in inp.shape[2:])  # any H, W
    assert [(o.name, o.type) for o in detector.get_outputs()] == [("loc", "tensor(float)"),
                                                                  ("scores", "tensor(float)")]
    ops = [n.op_type for n in onnx.load(str(faceboxes_path)).graph.node]
    assert ops[0] == "Sub" and "BatchNormalization" not in ops


def test_detector_random_odd_size(detector, faceboxes_state) -> None:
    image = np.random.default_rng(1).uniform(0, 255, (1, 3, 97, 131)).astype(np.float32)
    assert _expected_anchors(97, 131) == 4 * 5 * 21 + 2 * 3 + 1 * 2
    _compare_detector(detector, faceboxes_state, image)


@pytest.mark.parametrize("name", ["JianzhuGuo.jpg", "trump_hillary.jpg"])
def test_detector_real_image(detector, faceboxes_state, media_dir: Path, name: str) -> None:
    image = _read(media_dir, name)
    height = round(image.shape[0] * DETECTOR_TEST_WIDTH / image.shape[1])
    small = cv2.resize(image, (DETECTOR_TEST_WIDTH, height), interpolation=cv2.INTER_AREA)
    scores = _compare_detector(detector, faceboxes_state, _nchw(small))
    assert scores.max() > 0.5  # faces are there


def test_detector_sanity(detector, media_dir: Path) -> None:
    face = detector.run(None, {"input": _nchw(_read(media_dir, "JianzhuGuo.jpg"))})[1]
    black = detector.run(None, {"input": np.zeros((1, 3, 480, 640), np.float32)})[1]
    assert face.max() > 0.9
    assert black.max() < 0.5
    assert ((face >= 0) & (face <= 1)).all()
