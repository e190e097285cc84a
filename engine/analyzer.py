"""The public entry point: ``FaceAnalyzer.analyze(image) -> list[Face]``.

    from engine.analyzer import FaceAnalyzer
    analyzer = FaceAnalyzer.from_config()
    for face in analyzer.analyze(image_bgr, dense=True):
        print(face.box, face.pose.yaw, face.vertices.shape)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.assets import ANALYZER_ASSETS, require_assets
from engine.config import DETECTOR_ONNX, FACE_MODEL_NPZ, REGRESSOR_ONNX, EngineConfig
from engine.detector import Detection, FaceDetector
from engine.face_embedder import FaceEmbedder
from engine.face_model import N_POSE, FaceModel
from engine.image_input import to_bgr_uint8
from engine.regressor import ParamRegressor
from engine.results import Face
from engine.roi import crop_roi, roi_from_box, roi_from_landmarks


class FaceAnalyzer:
    """Detector + regressor + face model. One instance per thread (sessions are not shared)."""

    def __init__(self, detector: FaceDetector, regressor: ParamRegressor, face_model: FaceModel,
                 config: EngineConfig) -> None:
        self.detector = detector
        self.regressor = regressor
        self.face_model = face_model
        self.config = config
        self._embedder: FaceEmbedder | None = None

    @classmethod
    def from_config(cls, config: EngineConfig | None = None, threads: int | None = None) -> "FaceAnalyzer":
        """Load the three assets from ``config.weights_dir`` (default config when None)."""
        config = config or EngineConfig.load()
        if threads is not None:
            config = config.with_threads(threads)
        n, spin = config.runtime.effective_threads(), config.runtime.allow_spinning
        weights = Path(config.weights_dir)
        require_assets(weights, ANALYZER_ASSETS)  # the face embedding is the tracker's, not needed here
        return cls(FaceDetector(weights / DETECTOR_ONNX, n, config.detector, allow_spinning=spin),
                   ParamRegressor(weights / REGRESSOR_ONNX, n, allow_spinning=spin),
                   FaceModel.load(weights / FACE_MODEL_NPZ), config)

    def face_embedder(self) -> FaceEmbedder:
        """The face-embedding model (re-identification), loaded on first use: commands
        that never track video do not pay for it."""
        if self._embedder is None:
            self._embedder = FaceEmbedder.from_weights(Path(self.config.weights_dir),
                                                       self.config.runtime.effective_threads())
        return self._embedder

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
                  dense: bool, landmarks: np.ndarray | None = None) -> Face:
        """Typed result from regressed parameters: the one Face builder (the tracker's too).

        ``landmarks`` saves rebuilding them when the caller has them for these params and ROI."""
        model = self.face_model
        return Face(box=np.asarray(box, np.float32), score=float(score), roi=np.asarray(roi, np.float32),
                    params=np.asarray(params, np.float32),
                    landmarks=model.landmarks(params, roi) if landmarks is None else landmarks,
                    pose=model.head_pose(params),
                    vertices=model.dense_vertices(params, roi) if dense else None)

    # -- the small steps the video tracker is made of -----------------------------------

    def detect(self, image: np.ndarray, max_width: int = 0, min_score: float | None = None) -> list[Detection]:
        """FaceBoxes on the frame; with ``max_width`` > 0 on a copy shrunk to at most that
        width (the tracker's cheap search for new faces), boxes in frame pixels. Boxes
        scoring at least ``min_score`` (default: the detector's ``min_score``)."""
        import cv2

        h, w = image.shape[:2]
        if max_width <= 0 or w <= max_width:
            return self.detector.detect(image, min_score)
        scale = max_width / w
        small = cv2.resize(image, (max_width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        return [Detection(box=(d.box / np.float32(scale)).astype(np.float32), score=d.score)
                for d in self.detector.detect(small, min_score)]

    def regress_rois(self, image: np.ndarray, rois: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(K, 62) parameters for K ROIs in one batched run, and the (K, 120, 120, 3) crops."""
        crops = np.stack([self.regressor.crop(image, r) for r in rois])
        return self.regressor.run(crops), crops

    def crop(self, image: np.ndarray, roi: np.ndarray) -> np.ndarray:
        """The regressor's (120, 120, 3) crop of ``roi``."""
        return self.regressor.crop(image, roi)

    def landmarks(self, params: np.ndarray, roi: np.ndarray) -> np.ndarray:
        """(68, 3) image-space landmarks."""
        return self.face_model.landmarks(params, roi)

    def whitened_coefficients(self, params: np.ndarray) -> np.ndarray:
        """(50,) float64: the 40 identity and 10 expression coefficients in the regressor's
        standard deviations (0 = the training mean)."""
        model = self.face_model
        p = np.asarray(params, np.float64).reshape(-1)[N_POSE:]
        return (p - model.param_mean[N_POSE:]) / model.param_std[N_POSE:]

    def faces_in_roi(self, image: np.ndarray, roi: np.ndarray, size: int) -> list[Detection]:
        """FaceBoxes on ``roi`` resampled to size x size: the faces in it, boxes in image pixels
        (the tracker's face-likeness check, about a fiftieth of a 720p detection)."""
        x1, y1, x2, y2 = (float(v) for v in roi[:4])
        scale = np.float32((x2 - x1) / size)
        offset = np.array([x1, y1, x1, y1], np.float32)
        return [Detection(box=(d.box * scale + offset).astype(np.float32), score=d.score)
                for d in self.detector.detect(crop_roi(image, roi, size))]
