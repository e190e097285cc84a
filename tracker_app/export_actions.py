"""Export: the frame as shown (PNG/JPEG), the current mesh (OBJ, textured, or PLY), session folders.

Frame grabs need the GL context, so they run on the GUI thread (one read-back).
Mesh files are written in a thread-pool job (texture sampling and formatting a
38k-vertex OBJ take a few hundred milliseconds), which reports back by signal.
``MeshExports`` keeps the window's jobs alive until they report. Recording itself runs in
the capture worker (engine.session.Session).
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtBoundSignal, pyqtSignal
from PyQt6.QtGui import QImage
from PyQt6.QtWidgets import QStatusBar

from engine.config import FACE_MODEL_NPZ
from tracker_app.display_frame import DisplayFrame

if TYPE_CHECKING:
    from engine.face_model import FaceModel
    from engine.mesh_export import MeshWriter

FRAME_FORMATS = "PNG image (*.png);;JPEG image (*.jpg *.jpeg)"
MESH_FORMATS = "Wavefront OBJ, textured (*.obj);;PLY with vertex colours (*.ply)"


def save_frame_image(image: QImage, path: Path) -> Path:
    """Write a QImage (from GLView.grab_frame) to ``path``; the format follows the suffix."""
    from PyQt6.QtCore import QBuffer, QIODevice

    from engine.atomic_files import write_atomic

    path = Path(path)
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
        path = path.with_suffix(".png")
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if image.isNull() or not image.save(buffer, path.suffix[1:].upper()):
        raise OSError(f"cannot encode the frame as {path.suffix}")
    write_atomic(path, bytes(buffer.data().data()))  # a full disk never leaves half an image
    return path


def mesh_paths(path: Path, person_ids: list[int]) -> list[Path]:
    """One file per face: ``name.obj`` for one face, ``name_face<id>.obj`` for several."""
    path = Path(path)
    if path.suffix.lower() not in (".obj", ".ply"):
        path = path.with_suffix(".obj")
    if len(person_ids) == 1:
        return [path]
    return [path.with_name(f"{path.stem}_face{pid}{path.suffix}") for pid in person_ids]


def write_meshes(frame: DisplayFrame, path: Path, weights_dir: Path) -> list[Path]:
    """Every face of ``frame`` as OBJ (UV-textured from the frame) or PLY (vertex colours), by the
    engine's one mesh writer (image space, as ``tracker-app track --meshes`` writes them)."""
    faces = frame.result.faces
    if not faces:
        raise ValueError("no face in the current frame")
    written = []
    for target, tf in zip(mesh_paths(path, [tf.person_id for tf in faces]), faces):
        writer = _mesh_writer(str(Path(weights_dir) / FACE_MODEL_NPZ), target.suffix.lower()[1:])
        written += writer.write(target.with_suffix(""), frame.image, tf.face)
    return written


@functools.lru_cache(maxsize=2)
def _mesh_writer(face_model_path: str, fmt: str) -> MeshWriter:
    """MeshWriter for one format (OBJ: textured), with the face model loaded once."""
    from engine.mesh_export import MeshWriter

    return MeshWriter(_face_model(face_model_path), (fmt,), "image", texture=fmt == "obj")


@functools.lru_cache(maxsize=1)
def _face_model(path: str) -> FaceModel:
    from engine.face_model import FaceModel

    return FaceModel.load(Path(path))


def session_folder(parent: Path) -> Path:
    """A new, not yet existing ``session_YYYYmmdd_HHMMSS`` folder under ``parent``."""
    stamp = time.strftime("%Y%m%d_%H%M%S")
    folder = Path(parent) / f"session_{stamp}"
    n = 2
    while folder.exists():
        folder = Path(parent) / f"session_{stamp}_{n}"
        n += 1
    return folder


class _JobSignals(QObject):
    done = pyqtSignal(list)  # written paths
    failed = pyqtSignal(str)


class MeshExportJob(QRunnable):
    """write_meshes in the global thread pool; connect to ``signals`` before ``start()``."""

    def __init__(self, frame: DisplayFrame, path: Path, weights_dir: Path) -> None:
        super().__init__()
        self.frame, self.path, self.weights_dir = frame, Path(path), Path(weights_dir)
        self.signals = _JobSignals()

    def run(self) -> None:
        try:
            paths = write_meshes(self.frame, self.path, self.weights_dir)
        except (OSError, ValueError) as e:
            self.signals.failed.emit(str(e))
        else:
            self.signals.done.emit([str(p) for p in paths])

    def start(self) -> None:
        pool = QThreadPool.globalInstance()
        assert pool is not None  # Qt's global pool exists with the application
        pool.start(self)


class MeshExports:
    """The window's mesh export jobs: each one started, reported (the status bar, ``exported``,
    ``show_error``) and kept alive, the runnable and its signals, until it reports."""

    def __init__(self, weights_dir: Path, status: QStatusBar, exported: pyqtBoundSignal,
                 show_error: Callable[[str, str], None]) -> None:
        self.weights_dir, self.status, self.exported, self.show_error = Path(weights_dir), status, exported, show_error
        self._jobs: list[MeshExportJob] = []

    def start(self, frame: DisplayFrame, path: Path) -> MeshExportJob:
        """Start writing ``frame``'s meshes to ``path``; the job's signals tell when it is done."""
        job = MeshExportJob(frame, Path(path), self.weights_dir)
        job.signals.done.connect(lambda paths: self.status.showMessage(
            "Wrote " + ", ".join(Path(p).name for p in paths), 10_000))
        job.signals.done.connect(self.exported)
        job.signals.failed.connect(lambda text: self.show_error("Export failed", text))
        job.signals.done.connect(lambda _p, j=job: self._jobs.remove(j))
        job.signals.failed.connect(lambda _t, j=job: self._jobs.remove(j))
        self._jobs.append(job)  # keep the runnable and its signals alive until it reports
        job.start()
        return job
