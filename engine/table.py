"""The per-frame research table (format "tracker-app table 3"): ``faces.csv`` and ``faces.npz``.

One row per face per frame, and one row with ``success`` 0 and an empty
``track_id`` for a frame without a face, so every frame read has a row. The
columns (units and sign conventions in ``TABLE_SCHEMA``, also written into run.json):

    frame, time, track_id, person_id, success, confidence,
    box_x1, box_y1, box_x2, box_y2, roi_x1, roi_y1, roi_x2, roi_y2,
    yaw, pitch, roll, scale, cam00 ... cam23 (3x4, row-major),
    id0 ... id39, exp0 ... exp9, lm0_x, lm0_y, lm0_z ... lm67_z,
    eye_right_openness, eye_right_yaw, eye_right_pitch, eye_right_pupil_x, eye_right_pupil_y,
    eye_left_openness ... eye_left_pupil_y

Format 3 added the eye columns at the end (engine.eyes; empty / NaN when the eyes were
not measured); a reader of format 2 that takes columns by name reads format 3 unchanged.

The camera maps model coordinates to image pixels and depth (engine.image_space),
so ``cam @ [mean + basis @ (id, exp); 1]`` rebuilds the landmarks (and the dense
mesh) from the table alone.

``faces.csv`` is written as frames arrive and flushed after each one: a killed run
leaves a table that parses, up to its last frame. ``faces.npz`` holds the same rows
at full precision as named arrays (see ``NPZ_ARRAYS``); it is written whole when the
table closes, from rows kept in memory (2.3 KB per row).
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from engine.atomic_files import atomic_open
from engine.face_model import N_EXPRESSION, N_LANDMARKS, N_POSE, N_SHAPE, FaceModel
from engine.frames import FrameResult
from engine.image_space import camera_scale, export_camera, export_landmarks
from engine.results import EYE_QUANTITIES, Face

TABLE_FORMAT = "tracker-app table 3"
CSV_NAME = "faces.csv"
NPZ_NAME = "faces.npz"

# (name, number of columns, csv format, unit and meaning); one source for csv, npz and the docs.
_GROUPS: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("time", ("time",), "%.6f", "seconds: the stream's own timestamp of the frame"),
    ("confidence", ("confidence",), "%.4f",
     "0..1: detector score on frames where the detector found the face, the tracker's face check otherwise"),
    ("box", ("box_x1", "box_y1", "box_x2", "box_y2"), "%.2f", "image pixels: face box (landmark box when tracked)"),
    ("roi", ("roi_x1", "roi_y1", "roi_x2", "roi_y2"), "%.2f", "image pixels: the square crop given to the regressor"),
    ("angles", ("yaw", "pitch", "roll"), "%.4f",
     "degrees: yaw > 0 the head turns towards the image's left (the subject's right), "
     "pitch > 0 it tilts down (chin down), roll > 0 its top leans towards the image's left "
     "(counter-clockwise on screen) "
     "(upstream 3DDFA_V2 formulas)"),
    ("scale", ("scale",), "%.7g", "image pixels per model unit (mean length of the camera's x and y rows)"),
    ("camera", tuple(f"cam{r}{c}" for r in range(3) for c in range(4)), "%.9g",
     "3x4 row-major: model coordinates -> (x px right, y px down, z px towards the camera, 0 at the head centre)"),
    ("identity", tuple(f"id{k}" for k in range(N_SHAPE)), "%.9g", "identity (shape) coefficients of the face model"),
    ("expression", tuple(f"exp{k}" for k in range(N_EXPRESSION)), "%.9g", "expression coefficients of the face model"),
    ("landmarks", tuple(f"lm{k}_{a}" for k in range(N_LANDMARKS) for a in "xyz"), "%.4f",
     "image pixels, iBUG 300-W order; z as the camera's z (same depth frame on every frame)"),
    ("eyes", tuple(f"eye_{side}_{q}" for side in ("right", "left") for q in EYE_QUANTITIES), "%.4f",
     "per eye, the subject's right then left (npz: (2, 5), rows right, left): openness (0 closed, "
     "1 the person's neutral open eye, > 1 wider; filtered, see engine.eye_filter), "
     "yaw and pitch in degrees of the eyeball relative to the head (yaw > 0 towards the subject's right, "
     "pitch > 0 looking down, 0 the person's neutral gaze), pupil x, y in image pixels; "
     "empty / NaN when the eyes were not measured"),
)
_INT_COLUMNS = ("frame", "track_id", "person_id", "success")
_INT_DOCS = {"frame": "0-based frame number in the source",
             "track_id": "track: one continuous stretch of one face, kept through short occlusions "
                         "(empty / -1 when the frame has no face)",
             "person_id": "person, re-identified by a face embedding across tracks and cuts "
                          "(empty / -1 when the frame has no face); people.csv maps tracks to people",
             "success": "1 for a face, 0 for a frame without one (all other columns empty / NaN)"}
N_FLOATS = sum(len(cols) for _, cols, _, _ in _GROUPS)
_NO_EYES = np.full(2 * len(EYE_QUANTITIES), np.nan)
# npz array name -> shape of one row
NPZ_ARRAYS: dict[str, tuple[int, ...]] = {
    "frame": (), "time": (), "track_id": (), "person_id": (), "success": (), "confidence": (), "box": (4,), "roi": (4,),
    "angles": (3,), "scale": (), "camera": (3, 4), "identity": (N_SHAPE,), "expression": (N_EXPRESSION,),
    "landmarks": (N_LANDMARKS, 3), "eyes": (2, len(EYE_QUANTITIES))}


def table_columns() -> list[str]:
    """Every CSV column, in order."""
    return ["frame", "time", "track_id", "person_id", "success", *[c for _, cols, _, _ in _GROUPS[1:] for c in cols]]


def table_schema() -> dict[str, object]:
    """Format version, files, units and sign conventions (written into run.json)."""
    groups: list[dict[str, object]] = [{"columns": [c], "npz": c, "unit": _INT_DOCS[c]} for c in _INT_COLUMNS]
    groups.insert(1, {"columns": ["time"], "npz": "time", "unit": _GROUPS[0][3]})
    groups += [{"columns": list(cols), "npz": name, "unit": doc} for name, cols, _, doc in _GROUPS[1:]]
    return {"format": TABLE_FORMAT, "csv": CSV_NAME, "npz": NPZ_NAME, "columns": table_columns(),
            "groups": groups,
            "rows": "one per face per frame where the face was seen (none while it is hidden); "
                    "one with success 0 and no track_id for a frame without a face",
            "coordinates": "image pixels, x right, y down; z pixels towards the camera, 0 at the model origin",
            "rebuild": "landmarks = S @ camera[:, :3].T + camera[:, 3], S = (u_base + [w_shp_base, w_exp_base] "
                       "@ [identity, expression]).reshape(-1, 3) from weights/face_model.npz"}


class TableError(OSError):
    """The table could not be written (one-line message naming the file)."""


class TableWriter:
    """ResultSink writing faces.csv as it goes and faces.npz at ``close``. One writer thread."""

    def __init__(self, out_dir: Path, face_model: FaceModel) -> None:
        self.csv_path = Path(out_dir) / CSV_NAME
        self.npz_path = Path(out_dir) / NPZ_NAME
        self.face_model = face_model
        self.rows = 0
        self._ints = np.zeros((1024, len(_INT_COLUMNS)), np.int64)
        self._floats = np.zeros((1024, N_FLOATS), np.float64)
        try:
            self._csv: io.TextIOWrapper | None = open(self.csv_path, "w", encoding="utf-8", newline="")
            self._csv.write(",".join(table_columns()) + "\n")
            self._csv.flush()
        except OSError as e:
            raise TableError(f"cannot write {self.csv_path}: {e.strerror or e}") from None
        self._good = self._csv.tell()
        self.paths: list[Path] = [self.csv_path]  # faces.npz once written

    def write(self, result: FrameResult) -> None:
        if self._csv is None:
            raise ValueError("table is closed")
        rows: list[tuple[tuple[int, int, int, int], np.ndarray]] = []
        if not result.faces:
            blank = np.full(N_FLOATS, np.nan)
            blank[0] = result.timestamp
            rows.append(((result.index, -1, -1, 0), blank))
        for tf in result.faces:
            rows.append(((result.index, tf.track_id, tf.person_id, 1), self._face_values(result.timestamp, tf.face)))
        text = "".join(_csv_line(ints, values) for ints, values in rows)
        try:
            self._csv.write(text)
            self._csv.flush()
        except OSError as e:
            self._fail(e)
        self._good = self._csv.tell()
        for ints, values in rows:
            self._append(ints, values)

    def _face_values(self, timestamp: float, face: Face) -> np.ndarray:
        camera = export_camera(face)
        pose = face.pose
        return np.concatenate([
            [timestamp, face.score], np.asarray(face.box[:4], np.float64), np.asarray(face.roi, np.float64),
            [pose.yaw, pose.pitch, pose.roll, camera_scale(camera)], camera.reshape(-1),
            np.asarray(face.params, np.float64)[N_POSE:],
            export_landmarks(self.face_model, face).astype(np.float64).reshape(-1),
            _NO_EYES if face.eyes is None else face.eyes.as_array().reshape(-1)])

    def _append(self, ints: tuple[int, int, int, int], values: np.ndarray) -> None:
        if self.rows == len(self._ints):
            self._ints = np.concatenate([self._ints, np.zeros_like(self._ints)])
            self._floats = np.concatenate([self._floats, np.zeros_like(self._floats)])
        self._ints[self.rows] = ints
        self._floats[self.rows] = values
        self.rows += 1

    def _fail(self, error: OSError) -> None:
        """Cut the CSV back to its last complete frame, close it, raise one line."""
        table, self._csv = self._csv, None
        try:
            if table is not None:
                table.close()
        except OSError:
            pass
        try:
            os.truncate(self.csv_path, self._good)
        except OSError:
            pass
        raise TableError(f"cannot write {self.csv_path}: {error.strerror or error}") from None

    def arrays(self) -> dict[str, np.ndarray]:
        """The rows so far as the npz arrays."""
        n = self.rows
        out: dict[str, np.ndarray] = {"format": np.array(TABLE_FORMAT)}
        for k, name in enumerate(_INT_COLUMNS):
            out[name] = self._ints[:n, k].astype(bool) if name == "success" else self._ints[:n, k].copy()
        col = 0
        for name, cols, _, _ in _GROUPS:
            block = self._floats[:n, col:col + len(cols)]
            out[name] = block.reshape((n, *NPZ_ARRAYS[name])).copy()
            col += len(cols)
        return out

    def close(self) -> None:
        """Close the CSV and write faces.npz whole. Safe to call twice."""
        if self._csv is None:
            return
        table, self._csv = self._csv, None
        try:
            table.flush()
            os.fsync(table.fileno())  # on disk before run.json (and a batch's marker) say it is complete
            table.close()
        except OSError as e:
            raise TableError(f"cannot write {self.csv_path}: {e.strerror or e}") from None
        try:
            with atomic_open(self.npz_path, "wb") as f:
                # numeric and unicode arrays only, so nothing in the file needs pickle to load;
                # (numpy's stubs read ** as the allow_pickle keyword of numpy >= 2.1)
                np.savez(f, **self.arrays())  # type: ignore[arg-type]
        except OSError as e:
            raise TableError(f"cannot write {self.npz_path}: {e.strerror or e}") from None
        self.paths.append(self.npz_path)


def _csv_line(ints: tuple[int, int, int, int], values: np.ndarray) -> str:
    frame, track_id, person_id, success = ints
    if not success:
        return f"{frame},{values[0]:.6f},,,0" + "," * (N_FLOATS - 1) + "\n"
    parts = [str(frame), "%.6f" % values[0], str(track_id), str(person_id), "1"]
    col = 1
    for _, cols, fmt, _ in _GROUPS[1:]:
        block = values[col:col + len(cols)]
        if np.isnan(block).any():  # eyes not measured: empty cells, as on a frame without a face
            parts.extend("" if np.isnan(v) else fmt % v for v in block)
        else:
            parts.extend(fmt % v for v in block)
        col += len(cols)
    return ",".join(parts) + "\n"


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """faces.npz as a dict of arrays (no pickles)."""
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}
