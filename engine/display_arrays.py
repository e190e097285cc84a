"""What a view draws of one frame, as GPU-ready arrays: a typed result of the engine.

``display_arrays(result, face_model)`` turns a ``FrameResult`` into ``DisplayArrays``:
every face's mesh (its lids closed by the measured eyes, as in the animation exports)
interleaved with its vertex normals, the landmark points, the pose-axis arrows and eye
lines as coloured triangles, and the gaze arrows in 3D, all in image pixels (x right,
y down, z towards the viewer), float32 and contiguous. ``engine.playback.Playback``
makes them for every frame it shows, in the thread that tracks, so a GUI thread only
copies finished arrays into OpenGL buffers. No Qt, no OpenGL.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.config import EyesConfig
from engine.eyelids import EyeRegions, lid_closure
from engine.face_model import N_EXPRESSION, N_SHAPE, NOSE_TIP, FaceModel
from engine.frames import FrameResult
from engine.head_space import head_space_vertices
from engine.overlay import AXIS_COLOURS, AXIS_LENGTH, EYE_CLOSED_COLOUR, EYE_OPEN_COLOUR, GAZE_COLOUR, eye_lines
from engine.render import MeshRenderer
from engine.results import Face

# Arrow geometry, as fractions of the face box's mean side (engine.overlay draws the
# same arrows with OpenCV at about side / 120 px; on screen a little bolder reads better).
AXIS_WIDTH = 1 / 70
AXIS_HEAD_LENGTH = 0.15  # of the arrow length, as cv2.arrowedLine's tipLength
AXIS_HEAD_WIDTH = 3.2  # times the shaft width
MESH_FLOATS = 6  # x, y, z, nx, ny, nz per vertex
AXIS_FLOATS = 5  # x, y, r, g, b per vertex
# Eye lines (engine.overlay.eye_lines), as fractions of the face box's mean side: thinner than the
# axes, so a lid contour does not hide the eye it outlines.
EYE_LINE_WIDTH = 1 / 160
MIN_EYE_LINE_PX = 1.5
GAZE_FLOATS = 6  # x, y, z, r, g, b per vertex of the 3D gaze arrows


@dataclass(frozen=True)
class DisplayArrays:
    """One frame's drawing, in image pixels."""

    mesh: np.ndarray  # (faces * n, 6) float32: position (image space, z towards the viewer; lids closed), unit normal
    landmarks: np.ndarray  # (faces * 68, 2) float32
    axes: np.ndarray  # (k, 5) float32 triangles: x, y, r, g, b; drawn in order (back to front)
    n_vertices: int  # vertices per face
    eyes: np.ndarray  # (k, 5) float32 triangles like ``axes``: lid contours and gaze arrows
    gaze: np.ndarray  # (k, 6) float32 triangles x, y, z, r, g, b: the gaze arrows in 3D (the 3D view)


def display_arrays(result: FrameResult, face_model: FaceModel,
                   closed_below: float = EyesConfig.closed_below) -> DisplayArrays:
    """Normals, interleaved mesh buffer, landmarks, axis arrows and eye lines of ``result``'s faces,
    whose dense meshes are ``face_model``'s; each mesh closes its lids by the measured openness
    (engine.eyelids); an eye under ``closed_below`` (the eyes config's blink threshold) is drawn closed."""
    faces = [tf.face for tf in result.faces]
    regions = eye_regions(face_model)
    n = face_model.n_vertices
    mesh = np.empty((len(faces) * n, MESH_FLOATS), np.float32)  # filled in place: no copy per face
    gaze = [np.zeros((0, GAZE_FLOATS), np.float32)]
    for k, face in enumerate(faces):
        if face.vertices is None:
            raise ValueError("the display needs dense results (TrackingPipeline(dense=True))")
        camera = FaceModel.image_camera(face.params, face.roi)[:, :3]
        v = regions.close_lids(np.asarray(face.vertices, np.float32), camera, lid_closure(face.eyes))
        block = mesh[k * n:(k + 1) * n]
        block[:, :3] = v
        block[:, 3:] = vertex_normals(v, face_model.triangles)
        gaze.append(gaze_arrows(face, v[face_model.keypoints], closed_below))
    landmarks = (np.concatenate([f.landmarks[:, :2] for f in faces]).astype(np.float32)
                 if faces else np.zeros((0, 2), np.float32))
    axes = (np.concatenate([axis_arrows(f) for f in faces]) if faces
            else np.zeros((0, AXIS_FLOATS), np.float32))
    eyes = [eye_triangles(f, closed_below) for f in faces]
    eyes_array = np.concatenate(eyes) if eyes else np.zeros((0, AXIS_FLOATS), np.float32)
    return DisplayArrays(mesh=np.ascontiguousarray(mesh), landmarks=np.ascontiguousarray(landmarks),
                         axes=np.ascontiguousarray(axes), n_vertices=len(mesh) // max(1, len(faces)),
                         eyes=np.ascontiguousarray(eyes_array, np.float32),
                         gaze=np.ascontiguousarray(np.concatenate(gaze), np.float32))


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (n, 3) float32, oriented towards the viewer (+z).

    The C rasteriser's kernel (render_c, GIL released): about a tenth of the time of
    the same sums in NumPy, which matters on a capture thread sharing two cores with
    the GUI.
    """
    n = _renderer(triangles).vertex_normals(vertices)
    # The winding of the topology decides the sign; a face is seen from the front, so
    # its normals must point mostly towards +z (the viewer) whatever the topology says.
    return -n if n[:, 2].sum() < 0 else n


_renderers: dict[int, tuple[np.ndarray, MeshRenderer]] = {}


def _renderer(triangles: np.ndarray) -> MeshRenderer:
    """A renderer (validated topology) for ``triangles``, made once per triangle array."""
    cached = _renderers.get(id(triangles))
    if cached is None or cached[0] is not triangles:
        cached = (triangles, MeshRenderer(np.asarray(triangles, np.int32)))
        _renderers[id(triangles)] = cached
    return cached[1]


_regions: dict[int, tuple[FaceModel, EyeRegions]] = {}


def eye_regions(face_model: FaceModel) -> EyeRegions:
    """The vertices near the eyes of ``face_model``'s meshes, found once per face model (on its mean face)."""
    cached = _regions.get(id(face_model))
    if cached is None or cached[0] is not face_model:
        mean_face = head_space_vertices(face_model, np.zeros(N_SHAPE + N_EXPRESSION, np.float32))
        cached = (face_model, EyeRegions.of(mean_face, face_model.keypoints))
        _regions[id(face_model)] = cached
    return cached[1]


def _face_side(face: Face) -> float:
    """The face box's mean side in pixels: what the arrows and lines scale with."""
    return float((face.box[2] - face.box[0] + face.box[3] - face.box[1]) / 2)


def _eye_line_width(face: Face) -> float:
    return max(MIN_EYE_LINE_PX, _face_side(face) * EYE_LINE_WIDTH)


def _rgb(bgr: tuple[int, int, int]) -> np.ndarray:
    """An OpenCV (B, G, R) 0..255 colour as the GPU's (r, g, b) 0..1."""
    return np.asarray(bgr[::-1], np.float32) / 255.0


def axis_arrows(face: Face) -> np.ndarray:
    """Triangles (k, 5) of the three pose-axis arrows from the nose tip, farthest axis first."""
    side = _face_side(face)
    origin = face.landmarks[NOSE_TIP, :2].astype(np.float32)
    tips = FaceModel.pose_axes_2d(face.pose, origin, AXIS_LENGTH * side)
    width = max(2.0, side * AXIS_WIDTH)
    parts = []
    # Same painter's order as engine.overlay.draw_face: the axis pointing away first.
    for k in np.argsort(face.pose.rotation[2, :]):
        parts.append(_arrow(origin, tips[k], width, _rgb(AXIS_COLOURS[k])))
    return np.concatenate(parts).astype(np.float32)


def eye_triangles(face: Face, closed_below: float = EyesConfig.closed_below) -> np.ndarray:
    """Triangles (k, 5) of ``engine.overlay.eye_lines(face)``: each measured eye's lid contour
    (white open, magenta closed) and its gaze arrow; none for a face without measured eyes."""
    width = _eye_line_width(face)
    gaze_rgb = _rgb(GAZE_COLOUR)
    parts = [np.zeros((0, AXIS_FLOATS), np.float32)]
    for lines in eye_lines(face, closed_below):
        bgr = EYE_CLOSED_COLOUR if lines.closed else EYE_OPEN_COLOUR
        contour = np.asarray(lines.contour, np.float32)
        parts.append(_polygon(contour, width, _rgb(bgr)))
        if lines.gaze is not None:
            start, end = (np.asarray(p, np.float32) for p in lines.gaze)
            parts.append(_arrow(start, end, width, gaze_rgb))
    return np.concatenate(parts).astype(np.float32)


def _polygon(points: np.ndarray, width: float, rgb: np.ndarray) -> np.ndarray:
    """A closed polygon's edges ``width`` wide, each a quad (two triangles) lengthened by half
    the width at both ends so the edges join without notches."""
    a = points
    b = np.roll(points, -1, axis=0)
    d = b - a
    length = np.hypot(d[:, 0], d[:, 1])[:, None]
    u = np.where(length > 1e-6, d / np.maximum(length, 1e-6), np.array([1.0, 0.0], np.float32))
    perp = np.stack([-u[:, 1], u[:, 0]], axis=1) * (width / 2)
    a, b = a - u * (width / 2), b + u * (width / 2)
    quads = np.stack([a + perp, a - perp, b - perp, a + perp, b - perp, b + perp], axis=1).reshape(-1, 2)
    out = np.empty((len(quads), AXIS_FLOATS), np.float32)
    out[:, :2] = quads
    out[:, 2:] = rgb
    return out


def _arrow(start: np.ndarray, end: np.ndarray, width: float, rgb: np.ndarray) -> np.ndarray:
    """Shaft quad (two triangles) plus a head triangle; an axis seen end-on is a dot."""
    d = end - start
    length = float(np.hypot(*d))
    if length < 1e-3:
        d, length = np.array([1.0, 0.0], np.float32), 1e-3
    u = d / length
    perp = np.array([-u[1], u[0]], np.float32)
    head = min(length, max(AXIS_HEAD_LENGTH * length, 2 * width))
    base = end - u * head
    h = width / 2
    s0, s1, s2, s3 = start + perp * h, start - perp * h, base - perp * h, base + perp * h
    hw = width * AXIS_HEAD_WIDTH / 2
    points = [s0, s1, s2, s0, s2, s3, base + perp * hw, base - perp * hw, end]
    out = np.empty((len(points), AXIS_FLOATS), np.float32)
    out[:, :2] = points
    out[:, 2:] = rgb
    return out


def gaze_arrows(face: Face, landmarks: np.ndarray, closed_below: float = EyesConfig.closed_below) -> np.ndarray:
    """Triangles (k, 6) of each open eye's gaze arrow in 3D (``eye_lines``' arrow with its depth), from
    the pupil at the depth of the eye's contour on the mesh (``landmarks``: its (68, 3) landmark
    vertices) along the head's rotation then the eye's yaw and pitch; the 3D view turns them with the mesh."""
    width = _eye_line_width(face)
    rgb = _rgb(GAZE_COLOUR)
    head_axes = face.pose.rotation[:, :2].T * np.array([1, -1, 1], np.float32)  # head x, y; crop y is up
    parts = [np.zeros((0, GAZE_FLOATS), np.float32)]
    for lines in eye_lines(face, closed_below):
        if lines.gaze is None or lines.gaze_vector is None:
            continue
        z = float(np.mean(landmarks[list(lines.landmarks), 2]))
        start = np.array([*lines.gaze[0], z], np.float32)
        length = max(float(np.linalg.norm(lines.gaze_vector)), 1e-3)
        u = (lines.gaze_vector / length).astype(np.float32)
        flat = _arrow(np.zeros(2, np.float32), np.array([length, 0.0], np.float32), width, rgb)  # along +x
        # Two flat arrows crossed along the gaze, across the head's x and y axes: whichever way
        # the camera orbits, one of them shows its width.
        perps = head_axes - np.outer(head_axes @ u, u)
        perps /= np.maximum(np.linalg.norm(perps, axis=1, keepdims=True), 1e-6)
        xyz = start + flat[None, :, :1] * u + flat[None, :, 1:2] * perps[:, None, :]
        parts.append(np.concatenate([xyz, np.broadcast_to(flat[:, 2:], xyz.shape)], axis=2).reshape(-1, GAZE_FLOATS))
    return np.concatenate(parts).astype(np.float32)
