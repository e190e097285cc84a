"""Exports of a tracking session: per-frame table, run description, overlay video,
PNG frames and meshes.

    with SessionRecorder(out_dir, fps, (w, h), table=True, video=True,
                         frames={0, 100}, meshes={100}, face_model=model,
                         run_info={"source": "clip.mp4"}) as rec:
        for result in results:          # FrameResult from TrackingPipeline, in order
            rec.write(result)
        rec.close(summary={...})        # optional; leaving the block closes too

Interface kept stable for the GUI's capture thread: ``SessionRecorder(out_dir, fps,
frame_size, *, table=True, video=False, frames=None, meshes=None,
mesh_formats=("obj", "ply"), face_model=None, run_info=None, png_overlay=True,
render=(), mesh_texture=False)``,
``write(result)``, ``close(summary=None)``, context manager; ``paths`` lists what
was written.

Files in ``out_dir``:

* ``faces.csv``: one row per face per frame (frame, time, track_id, box, score, yaw,
  pitch, roll, 68 landmarks x/y/z, 62 parameters), header first. Rows are written
  as frames arrive and flushed after each frame, so an interrupted run (Ctrl-C,
  kill, a crash of the source) leaves a table that parses, up to the last frame.
* ``run.json``: what the run was (source, fps, size, options, columns) written at
  the start and rewritten at ``close`` with the summary; temp name + rename.
* ``overlay.avi``: landmarks, pose axes and track IDs drawn on every frame, Motion-
  JPEG in AVI: each frame is a self-contained JPEG and the AVI index is optional,
  so the file plays (OpenCV/FFmpeg read it) up to the last frames even when the
  process was killed (checked by tests/test_track_cli.py with SIGKILL; OpenCV's
  writer holds back under 1 MB, a few frames).
* ``frames/frame_000123.png`` for the chosen frames (overlay drawn unless
  ``png_overlay=False``), temp name + rename.
* ``meshes/frame_000123_id1.obj`` / ``.ply`` for the chosen frames: the dense mesh of
  every face with vertex colours sampled from the frame (engine.mesh_export); with
  ``mesh_texture`` the OBJ carries a UV texture (``.mtl`` + ``.png``) instead.
* ``render`` modes (engine.frame_render): ``mesh`` shades the dense mesh under the
  overlay of the video and PNG frames; ``depth`` and ``pncc`` add ``depth.avi`` /
  ``pncc.avi`` (with ``video``) and ``frame_000123_depth.png`` etc. (chosen frames).

Write errors (full disk, removed folder) raise ``OSError`` with a one-line message;
the table is cut back to its last complete frame so what was written stays readable.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from engine.atomic_files import write_atomic, write_image
from engine.face_model import N_LANDMARKS, N_PARAMS
from engine.frame_selection import FrameSelection
from engine.frames import FrameResult

TABLE_NAME = "faces.csv"
RUN_NAME = "run.json"
VIDEO_NAME = "overlay.avi"
VIDEO_FOURCC = "MJPG"


def table_columns() -> list[str]:
    cols = ["frame", "time", "track_id", "box_x1", "box_y1", "box_x2", "box_y2", "score",
            "yaw", "pitch", "roll"]
    for k in range(N_LANDMARKS):
        cols += [f"lm{k}_x", f"lm{k}_y", f"lm{k}_z"]
    cols += [f"p{k}" for k in range(N_PARAMS)]
    return cols


def _fmt(values: Iterable[float], spec: str) -> str:
    return ",".join(format(float(v), spec) for v in values)


def face_row(frame: int, timestamp: float, track_id: int, face) -> str:
    """One CSV line (with newline) for one face in one frame."""
    pose = face.pose
    return ",".join([
        str(int(frame)), format(float(timestamp), ".4f"), str(int(track_id)),
        _fmt(face.box[:4], ".2f"), format(float(face.score), ".4f"),
        _fmt((pose.yaw, pose.pitch, pose.roll), ".3f"),
        _fmt(np.asarray(face.landmarks, np.float64).reshape(-1), ".3f"),
        _fmt(np.asarray(face.params, np.float64).reshape(-1), ".7g"),
    ]) + "\n"


class SessionRecorder:
    """Writes the exports of one run as results arrive. Not thread-safe: one writer thread."""

    def __init__(self, out_dir: str | os.PathLike, fps: float, frame_size: tuple[int, int], *,
                 table: bool = True, video: bool = False, frames: FrameSelection | set[int] | None = None,
                 meshes: FrameSelection | set[int] | None = None, mesh_formats: Iterable[str] = ("obj", "ply"),
                 face_model=None, run_info: dict[str, Any] | None = None,
                 png_overlay: bool = True, render: Iterable[str] = (), mesh_texture: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.frames = FrameSelection.of(frames)
        self.meshes = FrameSelection.of(meshes)
        self.mesh_formats = tuple(f.lower() for f in mesh_formats)
        for f in self.mesh_formats:
            if f not in ("obj", "ply"):
                raise ValueError(f"unknown mesh format '{f}' (obj, ply)")
        if self.meshes and face_model is None:
            raise ValueError("meshes need the face model (face_model=...)")
        self.render_modes = tuple(render)
        self.mesh_texture = bool(mesh_texture)
        self._renderer = None
        if self.render_modes or self.mesh_texture:
            from engine.frame_render import RENDER_MODES, FrameRenderer

            for mode in self.render_modes:
                if mode not in RENDER_MODES:
                    raise ValueError(f"unknown render mode '{mode}' ({', '.join(RENDER_MODES)})")
            if face_model is None:
                raise ValueError("rendering needs the face model (face_model=...)")
            self._renderer = FrameRenderer(face_model)
        self.face_model = face_model
        self.png_overlay = png_overlay
        self.run_info = dict(run_info or {})
        self.table_enabled = bool(table)
        self.video_enabled = bool(video)
        self.paths: list[Path] = []
        self.frames_written = 0
        self.rows_written = 0
        self.track_ids: set[int] = set()
        self._closed = False
        self._table = None
        self._video = None
        self._data_videos: dict[str, Any] = {}  # render mode -> writer of depth.avi / pncc.avi
        self._started = time.time()
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OSError(f"cannot create {self.out_dir}: {e.strerror or e}") from None
        self._write_run_json(None)
        if table:
            path = self.out_dir / TABLE_NAME
            try:
                self._table = open(path, "w", encoding="utf-8", newline="")
                self._table.write(",".join(table_columns()) + "\n")
                self._table.flush()
            except OSError as e:
                self._table = None
                raise OSError(f"cannot write {path}: {e.strerror or e}") from None
            self._table_good = self._table.tell()
            self.paths.append(path)
        if video:
            self._video = self._open_video(self.out_dir / VIDEO_NAME)
            for mode in self.data_modes:
                self._data_videos[mode] = self._open_video(self.out_dir / f"{mode}.avi")

    @property
    def data_modes(self) -> tuple[str, ...]:
        """Render modes that make images of their own (not drawn under the overlay)."""
        return tuple(m for m in self.render_modes if m != "mesh")

    def _open_video(self, path: Path):
        import cv2

        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*VIDEO_FOURCC), self.fps, self.frame_size)
        if not writer.isOpened():
            self._release_videos()
            self._close_table()
            raise OSError(f"cannot write {path}: OpenCV's video writer did not open")
        self.paths.append(path)
        return writer

    # -- per frame --------------------------------------------------------------------

    def write(self, result: FrameResult) -> None:
        """Append one frame's results to every export that was asked for."""
        if self._closed:
            raise ValueError("recorder is closed")
        for tf in result.faces:
            self.track_ids.add(tf.track_id)
        if self._table is not None:
            self._write_rows(result)
        overlay = None
        need_png = result.index in self.frames
        if self._video is not None or (need_png and self.png_overlay):
            overlay = self.draw(result)
        if self._video is not None:
            self._write_video(self._video, overlay)
        if need_png:
            self._write_png(result, overlay if self.png_overlay else result.image)
        for mode in self.data_modes if (self._data_videos or need_png) else ():
            image = self._renderer.render(result.image, [tf.face for tf in result.faces], mode)
            if mode in self._data_videos:
                self._write_video(self._data_videos[mode], image)
            if need_png:
                self._write_png(result, image, suffix=f"_{mode}")
        if result.index in self.meshes:
            self._write_meshes(result)
        self.frames_written += 1

    def draw(self, result: FrameResult) -> np.ndarray:
        """The overlay image: the shaded mesh when asked for, landmarks, pose axes and track IDs."""
        from engine.overlay import draw_faces

        faces = [tf.face for tf in result.faces]
        base = result.image
        if "mesh" in self.render_modes:
            base = self._renderer.render(result.image, faces, "mesh")
        return draw_faces(base, faces, labels=[f"#{tf.track_id}" for tf in result.faces])

    def _write_rows(self, result: FrameResult) -> None:
        text = "".join(face_row(result.index, result.timestamp, tf.track_id, tf.face) for tf in result.faces)
        if not text:
            return
        try:
            self._table.write(text)
            self._table.flush()
        except OSError as e:
            self._fail_table(e)
        self._table_good = self._table.tell()
        self.rows_written += len(result.faces)

    def _fail_table(self, error: OSError) -> None:
        """Cut the table back to its last complete frame, close it, raise one line."""
        path = self.out_dir / TABLE_NAME
        table, self._table = self._table, None
        try:
            table.close()
        except OSError:
            pass
        try:
            os.truncate(path, self._table_good)
        except OSError:
            pass
        raise OSError(f"cannot write {path}: {error.strerror or error}") from None

    def _write_video(self, writer, image: np.ndarray) -> None:
        import cv2

        w, h = self.frame_size
        if image.shape[1] != w or image.shape[0] != h:
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        writer.write(image)

    def _write_png(self, result: FrameResult, image: np.ndarray, suffix: str = "") -> None:
        folder = self.out_dir / "frames"
        folder.mkdir(exist_ok=True)
        path = folder / f"frame_{result.index:06d}{suffix}.png"
        write_image(path, image)
        self.paths.append(path)

    def _write_meshes(self, result: FrameResult) -> None:
        from engine.mesh_export import sample_vertex_colors, write_obj, write_ply

        if not result.faces:
            return
        folder = self.out_dir / "meshes"
        folder.mkdir(exist_ok=True)
        model = self.face_model
        for tf in result.faces:
            vertices = tf.face.vertices
            if vertices is None:
                vertices = model.dense_vertices(tf.face.params, tf.face.roi)
            colours = sample_vertex_colors(result.image, vertices)
            stem = folder / f"frame_{result.index:06d}_id{tf.track_id}"
            try:
                if "obj" in self.mesh_formats and self.mesh_texture:
                    self.paths.append(self._renderer.write_textured_obj(stem.with_suffix(".obj"), result.image,
                                                                        tf.face))
                elif "obj" in self.mesh_formats:
                    self.paths.append(write_obj(stem.with_suffix(".obj"), vertices, model.triangles,
                                                vertex_colors=colours))
                if "ply" in self.mesh_formats:
                    self.paths.append(write_ply(stem.with_suffix(".ply"), vertices, model.triangles,
                                                vertex_colors=colours))
            except OSError as e:
                raise OSError(f"cannot write mesh {stem}: {e.strerror or e}") from None

    # -- run description and closing ----------------------------------------------------

    def _write_run_json(self, summary: dict[str, Any] | None) -> None:
        doc = {
            "format": "tracker-app run 1",
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self._started)),
            "fps": self.fps,
            "frame_size": list(self.frame_size),
            **self.run_info,
            "exports": {
                "table": TABLE_NAME if self.table_enabled else None,
                "video": VIDEO_NAME if self.video_enabled else None,
                "frames": self.frames.text(),
                "meshes": self.meshes.text(),
                "mesh_formats": list(self.mesh_formats),
                "mesh_texture": self.mesh_texture,
                "render": list(self.render_modes),
            },
            "table_columns": table_columns(),
            "coordinates": "image pixels, x right, y down; z depth in pixels, larger nearer, min 0 per face",
            "params": "12 pose (3x4 [sR|t] row-major, crop space of the ROI), 40 identity, 10 expression",
            "complete": summary is not None,
        }
        if summary is not None:
            doc["summary"] = summary
            doc["frames_written"] = self.frames_written
            doc["rows_written"] = self.rows_written
            doc["track_ids"] = sorted(self.track_ids)
        write_atomic(self.out_dir / RUN_NAME, json.dumps(doc, indent=1, default=_json_default).encode())
        if self.out_dir / RUN_NAME not in self.paths:
            self.paths.append(self.out_dir / RUN_NAME)

    def _close_table(self) -> None:
        if self._table is not None:
            table, self._table = self._table, None
            try:
                table.close()
            except OSError as e:
                raise OSError(f"cannot write {self.out_dir / TABLE_NAME}: {e.strerror or e}") from None

    def close(self, summary: dict[str, Any] | None = None) -> None:
        """Finish every file; ``summary`` goes into run.json. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._close_table()
        finally:
            self._release_videos()
        self._write_run_json(summary if summary is not None else {})

    def _release_videos(self) -> None:
        writers = [self._video, *self._data_videos.values()]
        self._video, self._data_videos = None, {}
        for writer in writers:
            if writer is not None:
                writer.release()

    def __enter__(self) -> "SessionRecorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)
