"""The OpenGL view: video frame, shaded dense mesh, landmarks, pose axes and eyes; or the mesh alone in 3D
(its lids closed by the measured eyes, as in the video, and the gaze arrows).

A QOpenGLWidget drawing with PyOpenGL through GLSL 3.30 core shaders. It observes
the ViewerModel: a new frame only stores a reference (shown_frame) and schedules a
repaint; uploads happen in paintGL (the one place the context is current), as
whole-buffer updates into the GL objects of gl_scene. The widget owns the context's
life cycle, the letterboxed frame rectangle and grabbing; the parts it delegates to:
gl_layers draws the frame's layers, face_framing frames and picks faces in 3D, and
orbit_mouse turns the orbit camera (drag to turn, wheel to zoom, double-click to
reset, click to centre on a face).
"""
from __future__ import annotations

import os

import numpy as np
import OpenGL

# PyOpenGL calls glGetError after every call by default: twice the calls, and each
# ctypes call releases and re-takes the GIL, which the capture thread may hold for a
# few milliseconds at a time. Set TRACKER_GL_DEBUG=1 to keep the checks (they raise).
# Set before OpenGL.GL loads: gl_scene and gl_layers, imported below, draw with it.
if not os.environ.get("TRACKER_GL_DEBUG"):
    OpenGL.ERROR_CHECKING = False
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage
from PyQt6.QtOpenGLWidgets import QOpenGLWidget
from PyQt6.QtWidgets import QLabel, QWidget

from tracker_app import face_framing, gl_layers
from tracker_app.display_frame import DisplayFrame
from tracker_app.gl_layers import LayerPainter
from tracker_app.gl_scene import GpuScene
from tracker_app.orbit_mouse import OrbitMouse
from tracker_app.shown_frame import ShownFrame
from tracker_app.view_math import OrbitCamera, fit_rect
from tracker_app.viewer_model import ViewerModel

BACKGROUND_VIDEO = (0.08, 0.08, 0.09)  # letterbox bars
BACKGROUND_3D = (0.16, 0.17, 0.20)
READOUT_STYLE = ("QLabel { color: #f0f0f0; background: rgba(0, 0, 0, 150); padding: 4px 8px;"
                 " font-family: monospace; }")


class GLView(QOpenGLWidget):
    """Draws the model's current frame; ``grab_frame()`` returns the picture as shown."""

    def __init__(self, model: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.camera = OrbitCamera()
        self.setMinimumSize(320, 200)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._shown = ShownFrame()
        self._gpu: GpuScene | None = None  # the GL objects, while the context lives
        self._painter = LayerPainter()
        self._mouse = OrbitMouse(self, model, self.camera, self.face_at)
        self.paint_count = 0
        self.mirror = False  # video mode shows the frame and its overlays left-right mirrored
        self.readout = QLabel(self)  # pose and latency, over the top-left corner of the view
        self.readout.setStyleSheet(READOUT_STYLE)
        self.readout.move(8, 8)
        self.readout.hide()
        model.frame_changed.connect(self._on_frame)
        model.overlay_changed.connect(lambda _options: self.update())
        model.view_mode_changed.connect(lambda _view_3d: self.update())
        model.focus_changed.connect(lambda _track: self.update())

    # -- model observers -------------------------------------------------------------

    def _on_frame(self, frame: DisplayFrame | None) -> None:
        self._shown.show(frame)
        self.update()  # coalesced by Qt: many frames before a repaint cost one paint

    def set_mirror(self, on: bool) -> None:
        if on != self.mirror:
            self.mirror = on
            self._shown.stale = True  # the frame texture is uploaded mirrored
            self.update()

    def reset_camera(self) -> None:
        """The 3D view's camera back to its start (every face framed, facing them)."""
        self.camera.reset()
        self.update()

    def set_readout(self, text: str) -> None:
        self.readout.setText(text)
        self.readout.setVisible(bool(text))
        self.readout.adjustSize()

    # -- GL life cycle ------------------------------------------------------------------

    def initializeGL(self) -> None:
        self._gpu = GpuScene()  # a new context (e.g. after re-parenting) has empty objects
        context = self.context()
        assert context is not None  # current inside initializeGL
        context.aboutToBeDestroyed.connect(self._release_gl)
        self._shown.stale = True

    def _release_gl(self) -> None:
        """Free the GL objects while our context still exists.

        Qt leaves no context current after destroying a QOpenGLWidget, so owners
        should destroy windows deterministically (run_gui does), not whenever the
        garbage collector gets to them: that could be in the middle of another
        GL widget's drawing.
        """
        if self._gpu is None:
            return
        self.makeCurrent()
        self._gpu.release()
        self._gpu = None
        self.doneCurrent()

    # -- drawing ----------------------------------------------------------------------------

    def paintGL(self) -> None:
        frame, gpu = self._shown.frame, self._gpu
        if gpu is None:
            return
        self._shown.upload(gpu, self.mirror)
        dpr = self.devicePixelRatio()
        width, height = int(self.width() * dpr), int(self.height() * dpr)
        gl_layers.clear(width, height, BACKGROUND_3D if self.model.view_3d else BACKGROUND_VIDEO)
        if frame is not None:
            if self.model.view_3d:
                self._painter.orbit(gpu, frame, self.model.overlay, self.mvp_3d(frame, width, height),
                                    self.camera, height)
            else:
                self._painter.video(gpu, frame, self.model.overlay, self.video_rect(), self.mirror)
        gl_layers.unbind()
        self.paint_count += 1

    def video_rect(self) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the frame inside the widget in device pixels, GL origin (bottom left)."""
        dpr = self.devicePixelRatio()
        size = self._gpu.texture_size if self._gpu is not None else (0, 0)
        fw, fh = size if size[0] else self._shown.size()
        return fit_rect(fw, fh, int(self.width() * dpr), int(self.height() * dpr))

    # -- 3D framing and picking (face_framing) ---------------------------------------------------

    def face_vertices(self, frame: DisplayFrame, face: int) -> np.ndarray:
        """Image-space vertices (n, 3) of the ``face``-th face of ``frame``."""
        return face_framing.face_vertices(frame, face)

    def framed_faces(self, frame: DisplayFrame) -> list[int]:
        """The faces the 3D view frames: the one centred on (model.focus_person), else all."""
        return face_framing.framed_faces(frame, self.model.focus_person)

    def mvp_3d(self, frame: DisplayFrame, width: int, height: int) -> np.ndarray:
        """The 3D view's image space -> clip space matrix for ``frame`` in a width x height view."""
        return face_framing.framing_mvp(self.camera, frame, self.model.focus_person, width, height)

    def face_at(self, x: float, y: float) -> int | None:
        """3D view: the person id of the face drawn at widget pixel (x, y), the nearest one where
        projected faces overlap; None on the background."""
        frame = self._shown.frame
        if frame is None or not self.model.view_3d:
            return None
        return face_framing.face_at(self.camera, frame, self.model.focus_person, x, y, self.width(), self.height())

    # -- grabbing -------------------------------------------------------------------------

    def grab_video_frame(self) -> QImage:
        """The frame as the view draws it (mesh, landmarks, axes, eyes) at the video's own resolution."""
        from PyQt6.QtOpenGL import QOpenGLFramebufferObject, QOpenGLFramebufferObjectFormat

        frame = self._shown.frame
        if frame is None:
            return QImage()
        w, h = self._shown.size()
        self.makeCurrent()
        fmt = QOpenGLFramebufferObjectFormat()
        fmt.setAttachment(QOpenGLFramebufferObject.Attachment.CombinedDepthStencil)
        fbo = QOpenGLFramebufferObject(w, h, fmt)
        fbo.bind()
        try:
            gpu = self._gpu
            assert gpu is not None  # drawing happens with the context and its objects
            self._shown.upload(gpu, self.mirror)
            gl_layers.clear(w, h, BACKGROUND_VIDEO)
            self._painter.video(gpu, frame, self.model.overlay, (0, 0, w, h), self.mirror)  # the whole target
            gl_layers.unbind()
        finally:
            fbo.release()
        image = fbo.toImage().convertToFormat(QImage.Format.Format_RGB888)
        self.doneCurrent()
        return image

    def grab_frame(self) -> QImage:
        """What the view shows (video mode: the frame rectangle only, without the bars)."""
        image = self.grabFramebuffer()
        if self.model.view_3d or self._shown.frame is None:
            return image
        x, y, w, h = self.video_rect()
        top = image.height() - (y + h)  # QImage rows run top-down, GL's bottom-up
        return image.copy(x, top, w, h)
