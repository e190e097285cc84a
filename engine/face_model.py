"""The 3D morphable face model: 62 parameters -> 68 landmarks, dense mesh, head pose.

Arrays come from ``weights/face_model.npz`` written by build_ext.py. The parameters'
camera works in the regressor's 120x120 crop space; ``image_camera`` folds upstream
3DDFA_V2's crop -> image map into it, so sparse and dense reconstructions are one
3x4 product each, straight into image pixels.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from engine.array_files import ArrayFileError, ArraySpec, read_npz
from engine.derived_cache import DerivedCache
from engine.results import HeadPose

# The regressor's crop size; parameters live in this pixel space.
CROP_SIZE = 120
N_POSE = 12
N_SHAPE = 40
N_EXPRESSION = 10
N_PARAMS = N_POSE + N_SHAPE + N_EXPRESSION
N_LANDMARKS = 68
NOSE_TIP = 30  # iBUG 300-W index of the nose tip, origin of the drawn pose axes
# Near-vertical poses: below this margin from +-1, yaw is pinned and roll is folded into pitch.
GIMBAL_LOCK = 0.998


# The dense mean and bases: 23 MB read and packed only when a dense mesh is first asked for.
DENSE_KEYS = ("u", "w_shp", "w_exp")
# What face_model.npz holds (n: 3 x the vertices, m: triangles), checked before it is read.
FACE_MODEL_ARRAYS: dict[str, ArraySpec] = {
    "u": ArraySpec((None,), "f"), "w_shp": ArraySpec((None, N_SHAPE), "f"),
    "w_exp": ArraySpec((None, N_EXPRESSION), "f"), "tri": ArraySpec((None, 3), "iu"),
    "keypoints": ArraySpec((N_LANDMARKS,), "iu"), "u_base": ArraySpec((3 * N_LANDMARKS,), "f"),
    "w_shp_base": ArraySpec((3 * N_LANDMARKS, N_SHAPE), "f"),
    "w_exp_base": ArraySpec((3 * N_LANDMARKS, N_EXPRESSION), "f"),
    "uv": ArraySpec((None, 2), "f"), "ncc": ArraySpec((None, 3), "f"),
    "param_mean": ArraySpec((N_PARAMS,), "f"), "param_std": ArraySpec((N_PARAMS,), "f"),
    "source": ArraySpec((), "U"),
}
# The model is 25 MB (38,365 vertices); 8x that leaves room for a denser official BFM.
FACE_MODEL_MAX_BYTES = 200 << 20


class FaceModel:
    """Sparse and dense reconstruction from 62 parameters and a crop ROI.

    ``arrays`` holds the small arrays; the dense ones (``DENSE_KEYS``) come from
    ``arrays`` too, or from ``dense_arrays()`` when given, on the first dense call
    (or ``prepare_dense()``), so sparse-only runs never read or pack them.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray],
                 dense_arrays: Callable[[], Mapping[str, np.ndarray]] | None = None,
                 cache: DerivedCache | None = None) -> None:
        self._dense_arrays = dense_arrays or (lambda: {k: arrays[k] for k in DENSE_KEYS})
        self.cache = cache  # where derived arrays (the packed basis, mesh levels) are kept
        self._dense_basis: DenseBasis | None = None
        self._dense_lock = threading.Lock()
        self.triangles = np.ascontiguousarray(arrays["tri"], dtype=np.int32)
        self.keypoints = arrays["keypoints"].astype(np.int64)
        self.uv = arrays["uv"].astype(np.float32)
        self.ncc = arrays["ncc"].astype(np.float32)
        self.param_mean = arrays["param_mean"].astype(np.float32)
        self.param_std = arrays["param_std"].astype(np.float32)
        self.source = str(arrays["source"])
        self.sparse_mean = arrays["u_base"].astype(np.float32).reshape(-1)
        self.sparse_basis = np.ascontiguousarray(
            np.concatenate([arrays["w_shp_base"], arrays["w_exp_base"]], axis=1), dtype=np.float32)
        self.n_vertices = len(self.ncc)

    @classmethod
    def load(cls, path: Path) -> "FaceModel":
        from engine.onnx_session import ModelFileError

        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"{path} not found: run `tracker-app setup --data DIR`")

        def read(keys: Callable[[str], bool]) -> dict[str, np.ndarray]:
            try:
                return read_npz(path, FACE_MODEL_ARRAYS, max_bytes=FACE_MODEL_MAX_BYTES,
                                keys=[k for k in FACE_MODEL_ARRAYS if keys(k)], required=list(FACE_MODEL_ARRAYS))
            except ArrayFileError as e:
                raise ModelFileError(f"{e}; re-run `tracker-app setup --force --data DIR`") from None

        return cls(read(lambda k: k not in DENSE_KEYS), lambda: read(lambda k: k in DENSE_KEYS),
                   cache=DerivedCache(path))

    def prepare_dense(self) -> None:
        """Read and pack the dense basis now (thread-safe; the first dense call does it otherwise)."""
        self._dense  # noqa: B018 (the property does the work)

    @property
    def _dense(self) -> "DenseBasis":
        with self._dense_lock:
            if self._dense_basis is None:
                if self.cache is None:
                    arrays = self._pack_dense()
                else:  # packing costs 0.15 s of CPU at every start; reading it back 0.01 s
                    arrays = self.cache.get("dense_basis", DenseBasis.LAYOUT_VERSION, self._pack_dense,
                                            lambda a: DenseBasis.fits(a, self.n_vertices))
                self._dense_basis = DenseBasis(arrays, self.n_vertices)
            return self._dense_basis

    def _pack_dense(self) -> dict[str, np.ndarray]:
        arrays = self._dense_arrays()
        mean = arrays["u"].astype(np.float32).reshape(-1)
        if mean.size != 3 * self.n_vertices:
            raise ValueError(f"dense mean has {mean.size // 3} vertices, the model {self.n_vertices}")
        basis = np.concatenate([arrays["w_shp"], arrays["w_exp"]], axis=1).astype(np.float32)
        return DenseBasis.pack(mean, basis)

    # -- reconstruction -------------------------------------------------------------

    def landmarks(self, params: np.ndarray, roi: np.ndarray) -> np.ndarray:
        """(68, 3) image-space landmarks from the exact sparse model."""
        params = _checked_params(params)
        return self.landmarks_from_camera(self.image_camera(params, roi), params[N_POSE:])

    def dense_vertices(self, params: np.ndarray, roi: np.ndarray) -> np.ndarray:
        """(n, 3) image-space vertices of the dense mesh."""
        params = _checked_params(params)
        return self.dense_from_camera(self.image_camera(params, roi), params[N_POSE:])

    def dense_landmarks(self, vertices: np.ndarray) -> np.ndarray:
        """The 68 landmarks picked from a dense mesh (x, y agree with ``landmarks``)."""
        return vertices[self.keypoints]

    # -- image-space camera: every reconstruction goes through it, and the smoothers --

    @staticmethod
    def image_camera(params: np.ndarray, roi: np.ndarray) -> np.ndarray:
        """(3, 4) float64 camera mapping model points straight to image pixels.

        Composes the crop-space camera of ``params`` with upstream's crop -> image map
        (``similar_transform``: x - 1 and 120 - y scaled by the ROI side / 120 and shifted
        by the ROI origin, z - 1 scaled by the mean of both): ``camera[:, :3] @ s +
        camera[:, 3]`` gives image x, y (and a z whose offset is arbitrary:
        reconstructions shift z so its minimum is 0).
        Unlike the crop-space camera it does not jump when the ROI moves, so it can
        be averaged over frames.
        """
        p = np.asarray(params, np.float64).reshape(-1)[:N_POSE].reshape(3, 4)
        x1, y1, x2, y2 = (float(v) for v in roi)
        sx, sy = (x2 - x1) / CROP_SIZE, (y2 - y1) / CROP_SIZE
        sz = (sx + sy) / 2
        cam = np.empty((3, 4), np.float64)
        cam[0, :3], cam[0, 3] = sx * p[0, :3], sx * (p[0, 3] - 1) + x1
        cam[1, :3], cam[1, 3] = -sy * p[1, :3], sy * (CROP_SIZE - p[1, 3]) + y1
        cam[2, :3], cam[2, 3] = sz * p[2, :3], sz * (p[2, 3] - 1)
        return cam

    @staticmethod
    def params_from_image_camera(camera: np.ndarray, coefficients: np.ndarray, roi: np.ndarray) -> np.ndarray:
        """(62,) float32 crop-space parameters for ``roi``; inverse of ``image_camera``."""
        cam = np.asarray(camera, np.float64).reshape(3, 4)
        x1, y1, x2, y2 = (float(v) for v in roi)
        sx, sy = (x2 - x1) / CROP_SIZE, (y2 - y1) / CROP_SIZE
        sz = (sx + sy) / 2
        p = np.empty((3, 4), np.float64)
        p[0, :3], p[0, 3] = cam[0, :3] / sx, (cam[0, 3] - x1) / sx + 1
        p[1, :3], p[1, 3] = -cam[1, :3] / sy, CROP_SIZE - (cam[1, 3] - y1) / sy
        p[2, :3], p[2, 3] = cam[2, :3] / sz, cam[2, 3] / sz + 1
        return np.concatenate([p.reshape(-1), np.asarray(coefficients, np.float64).reshape(-1)]).astype(np.float32)

    def landmarks_from_camera(self, camera: np.ndarray, coefficients: np.ndarray, *,
                              zero_min_z: bool = True) -> np.ndarray:
        """(68, 3) image-space landmarks from an image-space camera and 50 coefficients.

        ``zero_min_z=False`` keeps the camera's own depth (the export table's frame)."""
        cam = np.asarray(camera, np.float32).reshape(3, 4)
        shape = (self.sparse_mean + self.sparse_basis @ _checked_coefficients(coefficients)).reshape(-1, 3)
        out = shape @ cam[:, :3].T
        out += cam[:, 3]
        if zero_min_z:
            out[:, 2] -= out[:, 2].min()
        return out

    def dense_from_camera(self, camera: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
        """(n, 3) image-space dense vertices from an image-space camera and 50 coefficients."""
        return self._dense.reconstruct(np.asarray(camera, np.float32).reshape(3, 4),
                                       _checked_coefficients(coefficients))

    # -- pose -----------------------------------------------------------------------

    @staticmethod
    def head_pose(params: np.ndarray) -> HeadPose:
        """Rotation from the first two rows of the camera matrix, angles as upstream."""
        p = [float(v) for v in np.asarray(params).reshape(-1)[:7]]
        r1, r2 = p[0:3], p[4:7]
        n1, n2 = math.hypot(*r1), math.hypot(*r2)
        if not (n1 > 0 and n2 > 0 and math.isfinite(n1 + n2)):
            raise ValueError("degenerate camera matrix in the parameters")
        # The regressed rows are not exactly orthogonal (upstream uses them as they are);
        # we take the nearest orthonormal pair treating both rows alike (the SVD's U V^T).
        # For unit a, b it has a closed form: a + b and a - b are orthogonal, and the pair
        # is (c + d) / sqrt 2, (c - d) / sqrt 2 with c, d those two directions normalised.
        # Scalar arithmetic: NumPy's call overhead on 3-vectors cost more than the maths.
        a = [v / n1 for v in r1]
        b = [v / n2 for v in r2]
        c = [x + y for x, y in zip(a, b)]
        d = [x - y for x, y in zip(a, b)]
        nc, nd = math.hypot(*c), math.hypot(*d)
        if not (nc > 0 and nd > 0):
            raise ValueError("degenerate camera matrix in the parameters")
        k = math.sqrt(0.5)
        u = [k * (x / nc + y / nd) for x, y in zip(c, d)]
        v = [k * (x / nc - y / nd) for x, y in zip(c, d)]
        w = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]
        rotation = np.array([u, v, w], np.float64)
        yaw, pitch, roll = _matrix_to_angles((u, v, w))
        return HeadPose(yaw=math.degrees(yaw), pitch=math.degrees(pitch), roll=math.degrees(roll),
                        rotation=rotation.astype(np.float32), scale=float((n1 + n2) / 2))

    @staticmethod
    def pose_axes_2d(pose: HeadPose, origin: np.ndarray, length: float) -> np.ndarray:
        """(3, 2) image points of the head's x, y, z axes drawn from ``origin`` (x right, y down)."""
        directions = pose.rotation[:2, :].T.copy()  # column k: model axis k in crop x, y (y up)
        directions[:, 1] *= -1  # crop y is up, image y is down
        return np.asarray(origin[:2], np.float32) + length * directions.astype(np.float32)


def _checked_params(params: np.ndarray) -> np.ndarray:
    params = np.asarray(params, dtype=np.float32).reshape(-1)
    if params.size != N_PARAMS:
        raise ValueError(f"expected {N_PARAMS} parameters, got {params.size}")
    return params


def _checked_coefficients(coefficients: np.ndarray) -> np.ndarray:
    coefficients = np.asarray(coefficients, np.float32).reshape(-1)
    if coefficients.size != N_SHAPE + N_EXPRESSION:
        raise ValueError(f"expected {N_SHAPE + N_EXPRESSION} coefficients, got {coefficients.size}")
    return coefficients


def rotation_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of any rotation matrix, the decomposition of ``head_pose``."""
    yaw, pitch, roll = _matrix_to_angles(np.asarray(rotation, np.float64).tolist())
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def _matrix_to_angles(r: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """Upstream matrix2angle: (yaw, pitch, roll) in radians."""
    if r[2][0] > GIMBAL_LOCK:
        return math.pi / 2, math.atan2(-r[0][1], -r[0][2]), 0.0
    if r[2][0] < -GIMBAL_LOCK:
        return -math.pi / 2, math.atan2(r[0][1], r[0][2]), 0.0
    yaw = math.asin(r[2][0])
    c = math.cos(yaw)
    return yaw, math.atan2(r[2][1] / c, r[2][2] / c), math.atan2(r[1][0] / c, r[0][0] / c)


class DenseBasis:
    """The dense mean and bases packed for the compiled kernel in render_c/morph.c.

    float16 with a scale per column (folded into the coefficients), in groups of 8
    vertices laid out column by column, x, y and z rows of the 8 vertices each: one
    sequential read per group, half the memory traffic of float32,
    which is what bounds this product, at an error near 1e-5 of the face size.
    """

    GROUP = 8
    HALF_RANGE = 16384.0  # largest |value| after scaling, well inside float16's 65504

    LAYOUT_VERSION = 1  # bump when pack() lays the basis out differently (cached packs are redone)

    def __init__(self, arrays: Mapping[str, np.ndarray], n_vertices: int) -> None:
        """From ``pack()``'s arrays (``fits`` them first when they come from a file)."""
        try:
            from render_c import _morph
        except ImportError as e:
            raise ImportError(f"render_c._morph is not built ({e}); run: python build_ext.py") from None
        self._kernel = _morph
        self.packed, self.mean, self.scales = arrays["packed"], arrays["mean"], arrays["scales"]
        self.n_vertices = n_vertices
        self.use_simd = _morph.simd_available()

    @classmethod
    def pack(cls, mean: np.ndarray, basis: np.ndarray) -> dict[str, np.ndarray]:
        """The arrays of the packed layout: ``packed`` (group, column, axis, lane) float16 bits as
        uint16, ``mean`` (group, axis, lane) float32, ``scales`` (column,) float32."""
        n, k = mean.size // 3, basis.shape[1]
        groups = -(-n // cls.GROUP)
        peak = np.abs(basis).max(axis=0)
        scales = np.where(peak > 0, peak / cls.HALF_RANGE, 1.0).astype(np.float32)
        half = np.zeros((groups * cls.GROUP, 3, k), np.float16)
        half[:n] = (basis / scales).reshape(n, 3, k)
        packed = half.reshape(groups, cls.GROUP, 3, k).transpose(0, 3, 2, 1)  # (group, column, axis, lane)
        mean_padded = np.zeros((groups * cls.GROUP, 3), np.float32)
        mean_padded[:n] = mean.reshape(n, 3)
        packed_mean = mean_padded.reshape(groups, cls.GROUP, 3).transpose(0, 2, 1)
        return {"packed": np.ascontiguousarray(packed).view(np.uint16), "mean": np.ascontiguousarray(packed_mean),
                "scales": scales}

    @classmethod
    def fits(cls, arrays: Mapping[str, np.ndarray], n_vertices: int) -> bool:
        """Whether ``arrays`` have the layout's keys, dtypes and shapes for ``n_vertices`` (the
        kernel trusts them, so a cached file is checked before use)."""
        groups, k = -(-n_vertices // cls.GROUP), N_SHAPE + N_EXPRESSION
        expected = {"packed": ((groups, k, 3, cls.GROUP), np.uint16), "mean": ((groups, 3, cls.GROUP), np.float32),
                    "scales": ((k,), np.float32)}
        return set(arrays) == set(expected) and all(
            arrays[name].shape == shape and arrays[name].dtype == dtype and arrays[name].flags.c_contiguous
            for name, (shape, dtype) in expected.items())

    def reconstruct(self, camera: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
        """(n, 3) float32: camera @ (mean + basis @ coefficients), z shifted to a minimum of 0."""
        coef = np.ascontiguousarray(coefficients * self.scales, dtype=np.float32)
        return self._kernel.reconstruct(self.packed, self.mean, self.n_vertices, coef,
                                        np.ascontiguousarray(camera, np.float32), self.use_simd)
