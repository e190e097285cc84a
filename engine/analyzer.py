"""The public entry point: ``FaceAnalyzer.analyze(image) -> list[Face]``.

    from engine.analyzer import FaceAnalyzer
    analyzer = FaceAnalyzer.from_config()
    for face in analyzer.analyze(image_bgr, dense=True):
        print(face.box, face.pose.yaw, face.vertices.shape)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.assets import require_assets
from engine.config import DETECTOR_ONNX, FACE_MODEL_NPZ, REGRESSOR_ONNX, EngineConfig
from engine.detector import Detection, FaceDetector
from engine.face_model import FaceModel
from engine.image_input import to_bgr_uint8
from engine.regressor import ParamRegressor
from engine.results import Face
from engine.roi import roi_from_box, roi_from_landmarks


class FaceAnalyzer:
    """Detector + regressor + face model. One instance per thread (sessions are not shared)."""

    def __init__(self, detector: FaceDetector, regressor: ParamRegressor, face_model: FaceModel,
                 config: EngineConfig) -> None:
        self.detector = detector
        self.regressor = regressor
        self.face_model = face_model
        self.config = config

    @classmethod
    def from_config(cls, config: EngineConfig | None = None, threads: int | None = None) -> "FaceAnalyzer":
        """Load the three assets from ``config.weights_dir`` (default config when None)."""
        config = config or EngineConfig.load()
        if threads is not None:
            config = config.with_threads(threads)
        n, spin = config.runtime.effective_threads(), config.runtime.allow_spinning
        weights = Path(config.weights_dir)
        require_assets(weights)
        return cls(FaceDetector(weights / DETECTOR_ONNX, n, config.detector, allow_spinning=spin),
                   ParamRegressor(weights / REGRESSOR_ONNX, n, allow_spinning=spin),
                   FaceModel.load(weights / FACE_MODEL_NPZ), config)

    def analyze(self, image: np.ndarray, dense: bool = False) -> list[Face]:
        """Detect every face and reconstruct it; ``dense`` adds the 38,365-vertex mesh."""
        image = to_bgr_uint8(image)
        detections = self.detector.detect(image)
        return self.faces_from_detections(image, detections, dense=dense)

    def faces_from_detections(self, image: np.ndarray, detections: list[Detection],
                              dense: bool = False) -> list[Face]:
        """Regress every detection, re-cropping from the landmarks as configured."""
        params, rois = self.regress_detections(image, detections)
        return [self.make_face(p, r, d.box, d.score, dense) for p, r, d in zip(params, rois, detections)]

    def regress_detections(self, image: np.ndarray,
                           detections: list[Detection]) -> tuple[np.ndarray, list[np.ndarray]]:
        """(K, 62) parameters and the K ROIs they belong to: crop from each detector box,
        then re-crop from the landmarks ``landmark_refinements`` times (used by the tracker too)."""
        cfg = self.config.regressor
        rois = [roi_from_box(d.box, cfg.roi_shift, cfg.roi_scale) for d in detections]
        params = self.regressor.regress(image, rois)
        for _ in range(cfg.landmark_refinements):
            rois = [roi_from_landmarks(self.face_model.landmarks(p, r)) for p, r in zip(params, rois)]
            params = self.regressor.regress(image, rois)
        return params, rois

    def make_face(self, params: np.ndarray, roi: np.ndarray, box: np.ndarray, score: float,
                  dense: bool) -> Face:
        """Typed result from regressed parameters (used by the tracker as well)."""
        model = self.face_model
        return Face(box=np.asarray(box, np.float32), score=float(score), roi=np.asarray(roi, np.float32),
                    params=np.asarray(params, np.float32), landmarks=model.landmarks(params, roi),
                    pose=model.head_pose(params),
                    vertices=model.dense_vertices(params, roi) if dense else None)
