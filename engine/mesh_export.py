"""Mesh files for Blender, MeshLab and friends: Wavefront OBJ (+ MTL + PNG texture)
and binary PLY with vertex colours.

Axes: the engine's meshes are in image space (x right, y DOWN, z towards the
camera, pixels). Viewers expect a right-handed, y-UP world, so the writers store
(x, -y, z): the face then stands upright and looks towards +z, i.e. at the
default front view of MeshLab and (with Blender's default OBJ import, forward
-Z / up Y) at Blender's front view. Negating one axis mirrors the mesh, which
reverses the triangle winding, so the writers orient the triangles
counter-clockwise as seen from +z (outward normals for a face). With center=True
the mesh is moved so its bounding-box centre is at the origin, which is where
viewers look first; units stay pixels.

Every file is written to a temporary name in the target folder and moved into
place with os.replace(), so a crash or an exception never leaves a half-written
file (an existing file of the same name stays intact until the new one is
complete).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.choices import MESH_SPACES as MESH_SPACES
from engine.errors import TrackerError, UsageError
from engine.atomic_files import atomic_open

if TYPE_CHECKING:
    from engine.face_model import FaceModel
    from engine.frame_selection import FrameSelection
    from engine.frames import FrameResult
    from engine.results import Face


def sample_vertex_colors(frame: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """(n, 3) uint8 BGR colours of the frame at the vertices' projected (x, y).

    Bilinear, pixel centres on integer coordinates, frame edges repeated;
    vertices with non-finite x or y get black.
    """
    img = np.asarray(frame)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError("frame must be a non-empty BGR uint8 array (H, W, 3)")
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] < 2:
        raise ValueError(f"vertices must be (n, 2) or (n, 3), got {v.shape}")
    h, w = img.shape[:2]
    ok = np.isfinite(v[:, 0]) & np.isfinite(v[:, 1])
    x = np.clip(np.where(ok, v[:, 0], 0.0), 0, w - 1)
    y = np.clip(np.where(ok, v[:, 1], 0.0), 0, h - 1)
    xa, ya = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    xb, yb = np.minimum(xa + 1, w - 1), np.minimum(ya + 1, h - 1)
    fx, fy = (x - xa)[:, None], (y - ya)[:, None]
    im = img.astype(np.float32)
    top = im[ya, xa] * (1 - fx) + im[ya, xb] * fx
    bottom = im[yb, xa] * (1 - fx) + im[yb, xb] * fx
    out = np.clip(np.rint(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)
    out[~ok] = 0
    return out


def to_viewer_space(vertices: np.ndarray, triangles: np.ndarray, center: bool = True, y_down: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(x, -y, z) float32 vertices (as they are with ``y_down=False``: already y up) and
    triangles wound counter-clockwise seen from +z.

    The winding is chosen from the projected signed area of the whole mesh, so it
    is right for a face (an open surface looking towards +z) whatever the input
    winding is.
    """
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must be (n, 3), got {v.shape}")
    if t.ndim != 2 or t.shape[1] != 3 or not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"triangles must be (m, 3) integers, got {t.shape} {t.dtype}")
    if t.size and (t.min() < 0 or t.max() >= len(v)):
        raise ValueError("triangle index out of range")
    out = v * np.array([1.0, -1.0 if y_down else 1.0, 1.0])
    if center:
        finite = np.isfinite(out).all(axis=1)
        if finite.any():
            out -= (out[finite].min(axis=0) + out[finite].max(axis=0)) / 2
    t = t.astype(np.int64)
    if t.size:
        a, b, c = out[t[:, 0], :2], out[t[:, 1], :2], out[t[:, 2], :2]
        cross_z = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
        if np.nansum(cross_z) < 0:
            t = t[:, [0, 2, 1]]
    return out.astype(np.float32), t


def write_obj(path: str | os.PathLike[str], vertices: np.ndarray, triangles: np.ndarray,
              uv: np.ndarray | None = None, texture_bgr: np.ndarray | None = None,
              vertex_colors: np.ndarray | None = None, center: bool = True, y_down: bool = True) -> Path:
    """Writes a Wavefront OBJ of an image-space mesh (see the module docstring for axes).

    uv: (n, 2) per-vertex texture coordinates (v up, OBJ convention);
    texture_bgr: (S, S, 3) uint8 texture, written as <stem>.png next to the OBJ
    with a <stem>.mtl material referring to it by relative name (needs uv);
    vertex_colors: (n, 3) uint8 BGR or float [0, 1] BGR, written as the common
    "v x y z r g b" extension that MeshLab and Blender read.
    y_down=False: the vertices are already y up (head space) and are stored as they are.
    Returns the OBJ path.
    """
    path = Path(path)
    v, t = to_viewer_space(vertices, triangles, center, y_down)
    n = len(v)
    uvs = None
    if uv is not None:
        uvs = np.asarray(uv, dtype=np.float64)
        if uvs.shape != (n, 2):
            raise ValueError(f"uv must be ({n}, 2), got {uvs.shape}")
    if texture_bgr is not None:
        if uvs is None:
            raise ValueError("a texture needs uv coordinates")
        tex = np.asarray(texture_bgr)
        if tex.ndim != 3 or tex.shape[2] != 3 or tex.dtype != np.uint8:
            raise ValueError("texture_bgr must be (H, W, 3) uint8")
    rgb = _colors_rgb01(vertex_colors, n) if vertex_colors is not None else None

    mtl_name = png_name = None
    if texture_bgr is not None:
        import cv2

        png_name, mtl_name = path.stem + ".png", path.stem + ".mtl"
        ok, png = cv2.imencode(".png", texture_bgr)
        if not ok:
            raise OSError("PNG encoding of the texture failed")
        with atomic_open(path.with_name(png_name), "wb") as f:
            f.write(png.tobytes())
        with atomic_open(path.with_name(mtl_name), "w") as f:
            f.write("# written by engine.mesh_export\nnewmtl face\n"
                    "Ka 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\n"
                    f"map_Kd {png_name}\n")

    with atomic_open(path, "w") as f:
        f.write("# written by engine.mesh_export: " + ("image-space mesh stored as (x, -y, z), y up\n" if y_down
                                                        else "y up\n"))
        f.write(f"# {n} vertices, {len(t)} triangles\n")
        if mtl_name:
            f.write(f"mtllib {mtl_name}\n")
        if rgb is not None:
            rows = np.hstack([v.astype(np.float64), rgb])
            f.write(_lines("v %.4f %.4f %.4f %.4f %.4f %.4f", rows))
        else:
            f.write(_lines("v %.4f %.4f %.4f", v))
        if uvs is not None:
            f.write(_lines("vt %.6f %.6f", uvs))
        if mtl_name:
            f.write("usemtl face\n")
        one = t + 1  # OBJ indices start at 1
        if uvs is not None:
            f.write(_lines("f %d/%d %d/%d %d/%d", np.repeat(one, 2, axis=1)))
        else:
            f.write(_lines("f %d %d %d", one))
    return path


def write_ply(path: str | os.PathLike[str], vertices: np.ndarray, triangles: np.ndarray,
              vertex_colors: np.ndarray | None = None, center: bool = True, y_down: bool = True) -> Path:
    """Writes a binary little-endian PLY: float xyz (axes as for OBJ), optional
    uchar red/green/blue from BGR vertex_colors (uint8 or float [0, 1]), and
    triangles as uchar-counted int lists. Returns the path."""
    path = Path(path)
    v, t = to_viewer_space(vertices, triangles, center, y_down)
    n = len(v)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if vertex_colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vert = np.zeros(n, dtype=fields)
    vert["x"], vert["y"], vert["z"] = v[:, 0], v[:, 1], v[:, 2]
    if vertex_colors is not None:
        rgb = np.clip(np.rint(_colors_rgb01(vertex_colors, n) * 255), 0, 255).astype(np.uint8)
        vert["red"], vert["green"], vert["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    face = np.zeros(len(t), dtype=[("count", "u1"), ("idx", "<i4", (3,))])
    face["count"] = 3
    face["idx"] = t
    header = ["ply", "format binary_little_endian 1.0", "comment written by engine.mesh_export (y up)",
              f"element vertex {n}", "property float x", "property float y", "property float z"]
    if vertex_colors is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header += [f"element face {len(t)}", "property list uchar int vertex_indices", "end_header"]
    with atomic_open(path, "wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        f.write(vert.tobytes())
        f.write(face.tobytes())
    return path


def _lines(line_format: str, rows: np.ndarray) -> str:
    """Every row formatted with ``line_format`` (one line each): what np.savetxt writes,
    several times faster (one %-format over the whole array; a 38k-vertex OBJ in 0.2 s)."""
    values = np.asarray(rows)
    if values.dtype.kind == "f":
        values = values.astype(np.float64)
    return ((line_format + "\n") * len(values)) % tuple(values.ravel().tolist())


def _colors_rgb01(colors: np.ndarray, n: int) -> np.ndarray:
    """BGR uint8 or float [0, 1] colours (n, 3) -> RGB float64 in [0, 1]."""
    c = np.asarray(colors)
    if c.shape != (n, 3):
        raise ValueError(f"vertex_colors must be ({n}, 3), got {c.shape}")
    c = c.astype(np.float64) / 255.0 if c.dtype == np.uint8 else np.nan_to_num(c.astype(np.float64))
    return np.clip(c[:, ::-1], 0.0, 1.0)




# -- the one mesh/texture writer of the project (track, Record Session, Save Mesh, detect) --

MESH_FORMATS = ("obj", "ply")
TEXTURE_SIZE = 512  # px, square UV texture of a textured OBJ


# Typical bytes per OBJ line (image-space coordinates of a few hundred pixels), for estimates.
OBJ_VERTEX_LINE = 30
OBJ_COLOURED_VERTEX_LINE = 52
OBJ_UV_LINE = 21
OBJ_FACE_LINE = 19
OBJ_FACE_UV_LINE = 37
TEXTURE_PNG_BYTES = 400_000
# Room left on a disk after mesh files: the table, run.json and the video still need it.
DISK_MARGIN = 64 << 20


class DiskSpaceError(TrackerError, OSError):
    """Files about to be written would not fit on the disk (one-line message)."""


def check_free_space(folder: Path, needed: int, what: str) -> None:
    """DiskSpaceError when the disk holding ``folder`` (or its nearest existing parent) has
    less than ``needed`` bytes free beyond ``DISK_MARGIN``."""
    place = Path(folder).absolute()
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        free = shutil.disk_usage(place).free
    except OSError:
        return  # no answer (an odd file system): the writes themselves will tell
    if needed + DISK_MARGIN > free:
        raise DiskSpaceError(f"not enough disk space for {what}: about {_size(needed)} needed, "
                             f"{_size(free)} free on {place} (keeping {_size(DISK_MARGIN)} spare)")


def mesh_file_bytes(face_model: "FaceModel", formats: tuple[str, ...], texture: bool) -> int:
    """About what one face's mesh files take on disk (the OBJ text is estimated from typical
    line lengths; 4.9 MB for OBJ + PLY of the 38,365-vertex mesh)."""
    n, m = face_model.n_vertices, len(face_model.triangles)
    total = 0
    if "obj" in formats and texture:
        total += n * (OBJ_VERTEX_LINE + OBJ_UV_LINE) + m * OBJ_FACE_UV_LINE + TEXTURE_PNG_BYTES
    elif "obj" in formats:
        total += n * OBJ_COLOURED_VERTEX_LINE + m * OBJ_FACE_LINE
    if "ply" in formats:
        total += n * (3 * 4 + 3) + m * (1 + 3 * 4) + 512
    return total


def check_mesh_space(out_dir: Path, face_model: "FaceModel", formats: tuple[str, ...], texture: bool,
                     selection: "FrameSelection", frames_expected: int | None, *, counted: bool = True) -> None:
    """Before a run: refuse ``--meshes`` whose files would not fit, at one face per selected
    frame (more faces need more); nothing to check when the frame count is unknown (live).
    ``counted`` false: ``frames_expected`` is a video header's claim, which can be wrong
    (obama.mp4's says 158 for 55), and the message says so rather than pass it off as fact;
    the check during the run (``MeshExporter``) still stops a disk that fills up."""
    if not selection or not frames_expected:
        return
    count = selection.count_below(frames_expected)
    per_face = mesh_file_bytes(face_model, formats, texture)
    frames = f"{count} frames" if counted else f"{count} frames by the file's header"
    check_free_space(out_dir, count * per_face,
                     f"--meshes {selection.text()[:40]} ({frames} x {_size(per_face)} per face, "
                     "at least one face each)")


def _size(nbytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


class MeshWriter:
    """A face's dense mesh as OBJ (vertex colours, or a UV texture with ``texture``) and/or PLY.

    ``space="image"``: image pixels as in engine.image_space, stored y up as (x, -y, z),
    so the mesh overlays the frame; no per-file recentring, so head motion is kept.
    ``space="head"``: engine.head_space, the canonical head with the pose removed, in
    metres, +Y up, looking down +Z. Colours and textures are sampled from the frame
    either way. One per thread (the texture renderer caches topology).
    """

    def __init__(self, face_model: "FaceModel", formats: tuple[str, ...] = MESH_FORMATS, space: str = "image",
                 texture: bool = False) -> None:
        if not formats or any(f not in MESH_FORMATS for f in formats):
            raise UsageError(f"mesh formats must be among {', '.join(MESH_FORMATS)}, got {', '.join(formats)}")
        if space not in MESH_SPACES:
            raise UsageError(f"unknown mesh space '{space}' (choose {', '.join(MESH_SPACES)})")
        self.face_model = face_model
        self.formats = tuple(formats)
        self.space = space
        self.texture = bool(texture)
        self._renderer = None
        if self.texture and "obj" in self.formats:
            from engine.render import MeshRenderer

            self._renderer = MeshRenderer(face_model.triangles, uv=face_model.uv, ncc=face_model.ncc)

    def bytes_per_mesh(self) -> int:
        """About what one face's files take on disk."""
        return mesh_file_bytes(self.face_model, self.formats, self.texture)

    def write(self, stem: Path, image: np.ndarray, face: "Face") -> list[Path]:
        """``stem``.obj / .ply (+ .mtl and .png with a texture); the paths written."""
        from engine.head_space import head_space_vertices
        from engine.image_space import export_vertices

        model = self.face_model
        on_image = export_vertices(model, face)
        vertices = on_image if self.space == "image" else head_space_vertices(model, np.asarray(face.params)[12:])
        y_down = self.space == "image"
        colours = sample_vertex_colors(image, on_image)
        written: list[Path] = []
        stem = Path(stem)
        try:
            if "obj" in self.formats and self._renderer is not None:
                texture = self._renderer.uv_texture(image, on_image, size=TEXTURE_SIZE)
                written.append(write_obj(stem.with_suffix(".obj"), vertices, model.triangles, uv=model.uv,
                                         texture_bgr=texture, center=False, y_down=y_down))
            elif "obj" in self.formats:
                written.append(write_obj(stem.with_suffix(".obj"), vertices, model.triangles,
                                         vertex_colors=colours, center=False, y_down=y_down))
            if "ply" in self.formats:
                written.append(write_ply(stem.with_suffix(".ply"), vertices, model.triangles,
                                         vertex_colors=colours, center=False, y_down=y_down))
        except OSError as e:
            raise OSError(f"cannot write mesh {stem}: {e.strerror or e}") from None
        return written


class MeshExporter:
    """ResultSink: ``meshes/frame_000123_id1.obj`` etc. for the selected frames.

    Before each frame's meshes are written the disk must have room for them (plus
    ``DISK_MARGIN``): a disk filling up stops the run with one line, between two frames,
    instead of leaving half-written files or starving the table and run.json."""

    def __init__(self, out_dir: Path, writer: MeshWriter, frames: "FrameSelection") -> None:
        self.folder = Path(out_dir) / "meshes"
        self.writer = writer
        self.frames = frames
        self.paths: list[Path] = []

    def write(self, result: "FrameResult") -> None:
        if result.index not in self.frames or not result.faces:
            return
        try:
            self.folder.mkdir(exist_ok=True)
        except OSError as e:
            raise OSError(f"cannot create {self.folder}: {e.strerror or e}") from None
        check_free_space(self.folder, len(result.faces) * self.writer.bytes_per_mesh(),
                         f"the meshes of frame {result.index}")
        for tf in result.faces:
            self.paths += self.writer.write(self.folder / f"frame_{result.index:06d}_id{tf.track_id}",
                                            result.image, tf.face)

    def close(self) -> None:
        pass
