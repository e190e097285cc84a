"""Image exports of a session: the overlay video, render-mode videos and chosen frames as PNG.

``OverlayExporter`` is a ResultSink (engine.session builds it):

* ``overlay.avi``: landmarks, pose axes and track IDs over every frame, over the
  shaded dense mesh with ``render=("mesh",)`` (what the app shows). Motion-JPEG
  AVI by engine.avi_writer: the source's exact frame size (odd sizes too), and a
  killed run leaves a file that plays up to its last frame.
* ``depth.avi`` / ``pncc.avi`` for the render modes ``depth`` / ``pncc`` (with ``video``).
* ``frames/frame_000123.png`` (overlay drawn) and ``frame_000123_depth.png`` etc. for
  the selected frames, written whole (temp name + rename).

Write errors (full disk, removed folder) raise ``OSError`` with a one-line message
naming the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.atomic_files import write_image
from engine.avi_writer import MjpegAviWriter
from engine.face_model import FaceModel
from engine.frame_selection import FrameSelection
from engine.frames import FrameResult

VIDEO_NAME = "overlay.avi"
FRAMES_FOLDER = "frames"


class OverlayExporter:
    """ResultSink for overlay.avi, depth/pncc videos and PNG frames. One writer thread."""

    def __init__(self, out_dir: Path, face_model: FaceModel, fps: float, frame_size: tuple[int, int], *,
                 video: bool = False, frames: FrameSelection | None = None,
                 render: tuple[str, ...] = ()) -> None:
        from engine.frame_render import FrameRenderer

        # The modes were checked where the user named them (ExportOptions); FrameRenderer refuses others.
        self.out_dir = Path(out_dir)
        self.frames = frames if frames is not None else FrameSelection.none()
        self.render_modes = tuple(render)
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self._renderer = FrameRenderer(face_model) if render else None
        self.paths: list[Path] = []
        self._videos: dict[str, MjpegAviWriter] = {}  # "overlay" or a data render mode -> writer
        self._canvas: np.ndarray | None = None  # the overlay of the frame being written
        if video:
            try:
                for name in ("overlay",) + self.data_modes:
                    path = self.out_dir / (VIDEO_NAME if name == "overlay" else f"{name}.avi")
                    self._videos[name] = MjpegAviWriter(path, fps, self.frame_size)
                    self.paths.append(path)
            except OSError:
                self.close()
                raise

    @property
    def data_modes(self) -> tuple[str, ...]:
        """Render modes that make images of their own (not drawn under the overlay)."""
        return tuple(m for m in self.render_modes if m != "mesh")

    @property
    def active(self) -> bool:
        """False when this exporter would write nothing."""
        return bool(self._videos or self.frames)

    def write(self, result: FrameResult) -> None:
        need_png = result.index in self.frames
        if "overlay" in self._videos or need_png:
            # Encoded (and written) before the next frame: one canvas serves every frame.
            overlay = self._canvas = self.draw(result, canvas=self._canvas)
            if "overlay" in self._videos:
                self._videos["overlay"].write(self._fit(overlay))
            if need_png:
                self._write_png(result, overlay)
        if self._renderer is None:
            return
        for mode in self.data_modes:
            if mode not in self._videos and not need_png:
                continue
            image = self._renderer.render(result.image, [tf.face for tf in result.faces], mode)
            if mode in self._videos:
                self._videos[mode].write(self._fit(image))
            if need_png:
                self._write_png(result, image, suffix=f"_{mode}")

    def draw(self, result: FrameResult, canvas: np.ndarray | None = None) -> np.ndarray:
        """The overlay image: the shaded mesh when asked for, landmarks, pose axes and track IDs
        (drawn into ``canvas`` when it fits)."""
        from engine.overlay import draw_faces

        faces = [tf.face for tf in result.faces]
        base = result.image
        if self._renderer is not None and "mesh" in self.render_modes:
            base = canvas = self._renderer.render(result.image, faces, "mesh", out=canvas)
        return draw_faces(base, faces, labels=[f"#{tf.person_id}" for tf in result.faces], out=canvas)

    def _fit(self, image: np.ndarray) -> np.ndarray:
        """Frames of another size than the first (image folders) are scaled to the video's size."""
        import cv2

        w, h = self.frame_size
        if image.shape[1] != w or image.shape[0] != h:
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        return image

    def _write_png(self, result: FrameResult, image: np.ndarray, suffix: str = "") -> None:
        folder = self.out_dir / FRAMES_FOLDER
        try:
            folder.mkdir(exist_ok=True)
        except OSError as e:
            raise OSError(f"cannot create {folder}: {e.strerror or e}") from None
        path = folder / f"frame_{result.index:06d}{suffix}.png"
        write_image(path, image)
        self.paths.append(path)

    def close(self) -> None:
        """Finish the videos (index and frame count). Safe to call twice."""
        videos, self._videos = self._videos, {}
        error: OSError | None = None
        for writer in videos.values():
            try:
                writer.close()
            except OSError as e:
                error = error or e
        if error is not None:
            raise error
