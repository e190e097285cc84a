"""3DMM parameter regressor (MobileNet-V1, 120x120 crops) on onnxruntime."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.face_model import CROP_SIZE, N_PARAMS
from engine.onnx_session import create_session
from engine.roi import crop_roi


class ParamRegressor:
    """Crops square ROIs from a frame and regresses 62 parameters for each.

    The ONNX graph takes raw BGR pixels (N, 3, 120, 120) and returns de-whitened
    parameters, so normalisation lives in one place: the graph built by build_ext.py.
    """

    def __init__(self, model_path: Path, threads: int, allow_spinning: bool = False) -> None:
        self._session = create_session(model_path, threads, allow_spinning)
        self._input_name = self._session.get_inputs()[0].name

    @staticmethod
    def crop(image: np.ndarray, roi: np.ndarray) -> np.ndarray:
        """(120, 120, 3) uint8 crop of ``roi`` (zero outside the image)."""
        return crop_roi(image, roi, CROP_SIZE)

    def run(self, crops: np.ndarray) -> np.ndarray:
        """(N, 120, 120, 3) uint8 BGR crops -> (N, 62) float32 parameters."""
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1:] != (CROP_SIZE, CROP_SIZE, 3):
            raise ValueError(f"expected (N, {CROP_SIZE}, {CROP_SIZE}, 3) crops, got {crops.shape}")
        if len(crops) == 0:
            return np.zeros((0, N_PARAMS), np.float32)
        blob = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)
        return self._session.run(None, {self._input_name: blob})[0]

    def regress(self, image: np.ndarray, rois: list[np.ndarray]) -> np.ndarray:
        """(K, 62) parameters for K ROIs of one frame, in one batched run."""
        if not rois:
            return np.zeros((0, N_PARAMS), np.float32)
        return self.run(np.stack([self.crop(image, r) for r in rois]))
