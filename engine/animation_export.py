"""Animated meshes per person for Blender and other DCC tools: glTF 2.0 binary, PC2 point cache, base OBJ.

``AnimationExporter`` is a ``ResultSink`` (``write(result)`` in frame order, ``close()``).
For each person (``person_id``: one file per actor, whichever tracks followed them) it
writes into ``out_dir/animation/``:

* ``person_<id>.glb``: the track's mean identity (the mean of its 40 identity
  coefficients over the frames it was tracked) as the base mesh in head space
  (``engine.head_space``: metres, +Y up, the face looking down +Z), UVs, optionally the
  texture seen on the track's first frame; the 10 expression components as 20 morph
  targets, ``exp<k>+`` and ``exp<k>-``, each the displacement at the track's most
  extreme coefficient of that sign (at least one standard deviation of the regressor's
  output), so every weight lies in 0..1 and Blender's shape-key sliders never clip;
  two more morph targets, ``eyeBlinkRight`` and ``eyeBlinkLeft``, close each eye's lids
  (``engine.eyelids``; weight ``1 - openness`` of the eyes measured in the image, 0 when
  they were not); one keyframe per frame for the 22 weights and for the node's rotation,
  translation and scale (scene space, ``engine.head_space``). Keyframe times are ``frame / fps``:
  with the scene at the video's frame rate, Blender frame k is video frame k.
  The glb reproduces, for frame k, ``mean identity + expression_k`` in head space
  (exactly, up to float32 rounding) and puts it in the scene with
  ``T_k + s_k R_k (.)``.
* ``person_<id>.pc2``: the exact head-space mesh of every frame (the frame's own
  identity and expression coefficients, what ``--mesh-space head`` writes) with the
  frame's measured eyelids closed as far as the eyes were (``engine.eyelids``), float32,
  in the Z-up axes of PC2's home applications (3ds Max, Blender): head-space
  (x, y, z) is stored as (x, -z, y), which is where Blender's OBJ importer (default
  axes) puts the base OBJ, so the Mesh Cache modifier's default axes fit it.
  Header: start frame = the track's first frame, sample rate 1 (one sample a frame);
  Blender's modifier ignores the header's start in its default Frame mode, so its
  Frame Start must be set to the track's first frame.
* ``person_<id>_base.obj`` (with pc2): the glb's base mesh (mean identity, neutral
  expression) with UVs, the mesh to put the Mesh Cache modifier on (same vertex order).

Frames where a track is absent (lost and found again under the same ID, or frame
numbers the source skipped) hold the last tracked frame: the glb gets a keyframe and
the pc2 a sample with the values of the last frame seen, so both stay one entry per
frame from the track's first to its last frame. Nothing is written for frames after
a track's last appearance.

Memory stays bounded on long videos: per track only the last mesh and running sums
are kept; pc2 samples go straight to disk (header completed at close) and the small
per-frame key records (18 floats) to an anonymous temporary file next to the output,
read back once at close to build the glb.
"""
from __future__ import annotations

import math
import os
import struct
import tempfile
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from engine.errors import UsageError
from engine.eyelids import lid_closure, lid_offsets
from engine.name_lists import check_names, parse_names
from engine.atomic_files import write_atomic
from engine.face_model import N_EXPRESSION, N_POSE, N_SHAPE, FaceModel
from engine.frames import FrameResult, TrackedFace
from engine.head_space import (
    expression_coefficients,
    head_space_vertices,
    head_transform,
    identity_coefficients,
    metres_per_pixel,
)
ANIMATION_FORMATS = ("glb", "pc2")
ANIMATION_FOLDER = "animation"
PC2_MAGIC = b"POINTCACHE2\0"
# Head-space (x, y, z), Y up, is stored as (x, -z, y), Z up (see the module docstring).
PC2_AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
PC2_HEADER = struct.Struct("<12siiffi")  # magic, version 1, points, start frame, sample rate, samples
# Per-frame key record: 10 expression coefficients, quaternion (x, y, z, w), translation, scale,
# closed-lid weights (right eye, left eye).
_KEY_FIELDS = N_EXPRESSION + 4 + 3 + 1 + 2
_LIDS = slice(N_EXPRESSION + 8, N_EXPRESSION + 10)
LID_TARGETS = ("eyeBlinkRight", "eyeBlinkLeft")  # ARKit's names; the subject's right and left
_EXPRESSION_STD = slice(N_POSE + N_SHAPE, N_POSE + N_SHAPE + N_EXPRESSION)  # in FaceModel.param_std
# A plain skin-like material so an untextured import shades sensibly.
_SKIN_RGBA = [0.80, 0.62, 0.52, 1.0]


class AnimationExportError(OSError):
    """An animation file could not be written (one-line message)."""


def parse_animation_formats(text: str) -> tuple[str, ...]:
    """'glb,pc2' -> ('glb', 'pc2'); a one-line UsageError naming an unknown format."""
    return parse_names(text, ANIMATION_FORMATS, "animation format")


class AnimationExporter:
    """ResultSink writing per-track glb / pc2 / base OBJ into ``out_dir/animation``."""

    def __init__(self, out_dir: Path, face_model: FaceModel, formats: tuple[str, ...], fps: float,
                 *, texture: bool = False) -> None:
        check_names(formats, ANIMATION_FORMATS, "animation format")
        if not (math.isfinite(fps) and fps > 0):
            raise UsageError(f"fps must be a positive number, got {fps}")
        self.folder = Path(out_dir) / ANIMATION_FOLDER
        self.face_model = face_model
        self.formats = tuple(formats)
        self.fps = float(fps)
        self.texture = texture
        self._tracks: dict[int, _PersonAnimation] = {}
        self._last_index: int | None = None
        self._paths: list[Path] = []
        self._closed = False

    @property
    def paths(self) -> list[Path]:
        """Files completed so far (all of them once ``close`` has run)."""
        return list(self._paths)

    def write(self, result: FrameResult) -> None:
        if self._closed:
            raise RuntimeError("AnimationExporter.write after close")
        if self._last_index is not None and result.index <= self._last_index:
            raise ValueError(f"frame {result.index} after frame {self._last_index}: results must come in order")
        self._last_index = result.index
        if not self.formats:
            return
        height, width = result.image.shape[:2]
        for tracked in result.faces:
            track = self._tracks.get(tracked.person_id)
            if track is None:
                try:
                    self.folder.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise AnimationExportError(f"cannot create {self.folder}: {e.strerror or e}") from None
                track = _PersonAnimation(self, tracked, result)
                self._tracks[tracked.person_id] = track
            track.add(result.index, tracked, (width, height))

    def close(self) -> None:
        """Finish every track's files (also after an interrupted or failed run: what was fed is kept)."""
        if self._closed:
            return
        self._closed = True
        first_error: BaseException | None = None
        for track in self._tracks.values():
            try:
                self._paths.extend(track.close())
            except BaseException as e:  # noqa: BLE001 - finish the other tracks, then re-raise
                track.discard()
                first_error = first_error or e
        if first_error is not None:
            raise first_error


class _PersonAnimation:
    """The files of one track while the run goes on."""

    def __init__(self, owner: AnimationExporter, first: TrackedFace, first_result: FrameResult) -> None:
        face, model = first.face, owner.face_model
        self.owner = owner
        self.person_id = first.person_id
        self.first_index = self.last_index = first_result.index
        self.metres_per_px = metres_per_pixel(model.image_camera(face.params, face.roi))
        self.identity_sum = np.zeros(N_SHAPE, np.float64)
        self.tracked_frames = 0  # frames the track was seen on
        self.frames = 0  # keyframes / samples written, holds included
        self.last_key: np.ndarray | None = None
        self.last_vertices: bytes | None = None
        self.cache: PointCacheWriter | None = None
        self.pc2_lids: np.ndarray | None = None  # (2, n, 3) closed-lid offsets in PC2 axes
        self.texture_bgr: np.ndarray | None = None
        folder = owner.folder
        try:
            self.keys: IO[bytes] | None = tempfile.TemporaryFile(  # noqa: SIM115 - open for the whole track
                prefix=f".person_{self.person_id}.", suffix=".keys", dir=folder)
            if "pc2" in owner.formats:
                self.cache = PointCacheWriter(folder / f"person_{self.person_id}.pc2", model.n_vertices,
                                              start_frame=float(self.first_index), sample_rate=1.0)
                # The lids of the first frame's identity (neutral expression) close every frame's.
                neutral = np.concatenate([identity_coefficients(face.params), np.zeros(N_EXPRESSION, np.float32)])
                self.pc2_lids = lid_offsets(head_space_vertices(model, neutral), model.keypoints) @ PC2_AXES.T.astype(
                    np.float32)
        except OSError as e:
            raise AnimationExportError(f"cannot write into {folder}: {e.strerror or e}") from None
        if owner.texture:
            from engine.mesh_export import TEXTURE_SIZE
            from engine.render import MeshRenderer

            renderer = MeshRenderer(model.triangles, uv=model.uv, ncc=model.ncc)
            self.texture_bgr = renderer.uv_texture(first_result.image, model.dense_vertices(face.params, face.roi),
                                                   size=TEXTURE_SIZE)

    def add(self, index: int, tracked: TrackedFace, image_size: tuple[int, int]) -> None:
        face, model = tracked.face, self.owner.face_model
        camera = model.image_camera(face.params, face.roi)
        pose = head_transform(camera, image_size, self.metres_per_px)
        quaternion = pose.rotation
        if self.last_key is not None and float(np.dot(quaternion, self.last_key[N_EXPRESSION:N_EXPRESSION + 4])) < 0:
            quaternion = -quaternion  # q and -q are one rotation; keep neighbours close so slerp takes the short way
        closure = lid_closure(face.eyes)
        key = np.concatenate([expression_coefficients(face.params), quaternion, pose.translation,
                              [pose.scale], closure]).astype(np.float32)
        vertices = None
        if self.cache is not None and self.pc2_lids is not None:
            mesh = head_space_vertices(model, face.params[N_POSE:], PC2_AXES)
            if closure.any():
                mesh += closure[0] * self.pc2_lids[0] + closure[1] * self.pc2_lids[1]
            vertices = mesh.tobytes()
        if self.last_key is not None:
            for _ in range(index - self.last_index - 1):  # frames the track missed hold its last frame
                self._append(self.last_key, self.last_vertices)
        self._append(key, vertices)
        self.identity_sum += identity_coefficients(face.params)
        self.tracked_frames += 1
        self.last_key, self.last_vertices, self.last_index = key, vertices, index

    def _append(self, key: np.ndarray, vertices: bytes | None) -> None:
        assert self.keys is not None
        try:
            self.keys.write(key.tobytes())
            if self.cache is not None and vertices is not None:
                self.cache.append(vertices)
        except OSError as e:
            raise AnimationExportError(f"cannot write the animation of person {self.person_id}: "
                                       f"{e.strerror or e}") from None
        self.frames += 1

    def close(self) -> list[Path]:
        owner, folder = self.owner, self.owner.folder
        written: list[Path] = []
        keys = self._read_keys()
        identity = (self.identity_sum / max(self.tracked_frames, 1)).astype(np.float32)
        base = head_space_vertices(owner.face_model, np.concatenate([identity, np.zeros(N_EXPRESSION, np.float32)]))
        triangles = _counter_clockwise(base, owner.face_model.triangles)
        if self.cache is not None:
            written.append(self.cache.close())
            self.cache = None
        if "glb" in owner.formats:
            path = folder / f"person_{self.person_id}.glb"
            glb = _build_glb(owner.face_model, identity, base, triangles, keys, self.first_index, owner.fps,
                             f"person_{self.person_id}", self.texture_bgr)
            _write(path, glb)
            written.append(path)
        if "pc2" in owner.formats:  # the mesh the point cache animates
            written.extend(self._write_base_obj(folder / f"person_{self.person_id}_base.obj", base))
        return written

    def discard(self) -> None:
        if self.cache is not None:
            self.cache.discard()
            self.cache = None
        if self.keys is not None:
            self.keys.close()
            self.keys = None

    def _read_keys(self) -> np.ndarray:
        assert self.keys is not None
        self.keys.seek(0)
        data = self.keys.read()
        self.keys.close()
        self.keys = None
        return np.frombuffer(data, np.float32).reshape(-1, _KEY_FIELDS)

    def _write_base_obj(self, path: Path, base: np.ndarray) -> list[Path]:
        """The base OBJ, stored y up as it is; with a texture also its .mtl and .png."""
        from engine.mesh_export import write_obj

        try:
            write_obj(path, base, self.owner.face_model.triangles, uv=self.owner.face_model.uv,
                      texture_bgr=self.texture_bgr, center=False, y_down=False)
        except OSError as e:
            raise AnimationExportError(f"cannot write {path}: {e.strerror or e}") from None
        extras = [path.with_suffix(".mtl"), path.with_suffix(".png")] if self.texture_bgr is not None else []
        return [path, *extras]


class PointCacheWriter:
    """A PC2 point cache written sample by sample; the header's sample count is set at ``close``.

    Written under a temporary name and renamed at close, so an existing file of the same
    name stays intact until the new one is complete.
    """

    def __init__(self, path: Path, n_points: int, start_frame: float, sample_rate: float) -> None:
        self.path = Path(path)
        self.n_points = int(n_points)
        self.start_frame, self.sample_rate = float(start_frame), float(sample_rate)
        self.samples = 0
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent)
        self._tmp = Path(tmp)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")
        self._file.write(self._header())

    def _header(self) -> bytes:
        return PC2_HEADER.pack(PC2_MAGIC, 1, self.n_points, self.start_frame, self.sample_rate, self.samples)

    def append(self, vertices: bytes) -> None:
        """One sample: ``n_points * 3`` little-endian float32 (x, y, z per point)."""
        if len(vertices) != self.n_points * 12:
            raise ValueError(f"a PC2 sample needs {self.n_points} points")
        assert self._file is not None
        self._file.write(vertices)
        self.samples += 1

    def close(self) -> Path:
        assert self._file is not None
        try:
            self._file.seek(0)
            self._file.write(self._header())
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, self.path)
        except OSError as e:
            self.discard()
            raise AnimationExportError(f"cannot write {self.path}: {e.strerror or e}") from None
        return self.path

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp.unlink(missing_ok=True)


def read_pc2(path: Path) -> tuple[float, float, np.ndarray]:
    """(start frame, sample rate, (samples, points, 3) float32 memory map) of a PC2 file."""
    with open(path, "rb") as f:
        magic, version, points, start, rate, samples = PC2_HEADER.unpack(f.read(PC2_HEADER.size))
    if magic != PC2_MAGIC or version != 1:
        raise ValueError(f"{path} is not a PC2 point cache")
    data = np.memmap(path, np.float32, "r", offset=PC2_HEADER.size, shape=(samples, points, 3))
    return start, rate, data


def _write(path: Path, data: bytes) -> None:
    try:
        write_atomic(path, data)
    except OSError as e:
        raise AnimationExportError(str(e)) from None


def _counter_clockwise(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Triangles wound counter-clockwise seen from +Z (glTF front faces), judged on the whole face."""
    t = np.asarray(triangles, np.int64)
    a, b, c = vertices[t[:, 0], :2], vertices[t[:, 1], :2], vertices[t[:, 2], :2]
    area = ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])).sum()
    return np.ascontiguousarray(t if area > 0 else t[:, [0, 2, 1]], dtype=np.uint32)


def expression_extents(expression: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficient reached at weight 1 by the plus and the minus target of each component:
    the track's most extreme value of that sign, at least one standard deviation."""
    e = np.asarray(expression, np.float64)
    floor = np.asarray(std, np.float64)
    return np.maximum(e.max(axis=0), floor), np.maximum((-e).max(axis=0), floor)


def morph_weights(expression: np.ndarray, plus: np.ndarray, minus: np.ndarray) -> np.ndarray:
    """(frames, 20) weights in 0..1, targets ordered exp0+, exp0-, exp1+, ..."""
    e = np.asarray(expression, np.float64)
    weights = np.empty((len(e), 2 * e.shape[1]), np.float32)
    weights[:, 0::2] = np.clip(e, 0, None) / plus
    weights[:, 1::2] = np.clip(-e, 0, None) / minus
    return weights


def _build_glb(face_model: FaceModel, identity: np.ndarray, base: np.ndarray, triangles: np.ndarray,
               keys: np.ndarray, first_index: int, fps: float, name: str,
               texture_bgr: np.ndarray | None) -> bytes:
    import pygltflib as gl

    expression = keys[:, :N_EXPRESSION]
    rotation = keys[:, N_EXPRESSION:N_EXPRESSION + 4]
    translation = keys[:, N_EXPRESSION + 4:N_EXPRESSION + 7]
    scale = np.repeat(keys[:, N_EXPRESSION + 7:N_EXPRESSION + 8], 3, axis=1)
    plus, minus = expression_extents(expression, face_model.param_std[_EXPRESSION_STD])
    weights = np.concatenate([morph_weights(expression, plus, minus), keys[:, _LIDS]], axis=1)
    times = ((first_index + np.arange(len(keys))) / fps).astype(np.float32)

    blob = _Blob()
    position = blob.accessor(base, gl.VEC3, min_max=True, target=gl.ARRAY_BUFFER)
    uv = face_model.uv.astype(np.float32) * np.array([1, -1], np.float32) + np.array([0, 1], np.float32)
    texcoord = blob.accessor(uv, gl.VEC2, target=gl.ARRAY_BUFFER)  # glTF's v runs down
    indices = blob.accessor(triangles.reshape(-1), gl.SCALAR, target=gl.ELEMENT_ARRAY_BUFFER)
    targets, target_names = [], []
    for k in range(N_EXPRESSION):
        unit = np.zeros(N_SHAPE + N_EXPRESSION, np.float32)
        unit[:N_SHAPE] = identity
        unit[N_SHAPE + k] = 1.0
        column = head_space_vertices(face_model, unit).astype(np.float64) - base
        for sign, extent in (("+", plus[k]), ("-", -minus[k])):
            targets.append({"POSITION": blob.accessor((column * extent).astype(np.float32), gl.VEC3,
                                                      min_max=True, target=gl.ARRAY_BUFFER)})
            target_names.append(f"exp{k}{sign}")
    for name, offsets in zip(LID_TARGETS, lid_offsets(base, face_model.keypoints)):
        targets.append({"POSITION": blob.accessor(offsets, gl.VEC3, min_max=True, target=gl.ARRAY_BUFFER)})
        target_names.append(name)
    key_times = blob.accessor(times, gl.SCALAR, min_max=True)
    samplers = [gl.AnimationSampler(input=key_times, output=blob.accessor(values, kind), interpolation="LINEAR")
                for values, kind in ((weights.reshape(-1), gl.SCALAR), (translation, gl.VEC3),
                                     (rotation, gl.VEC4), (scale, gl.VEC3))]
    channels = [gl.AnimationChannel(sampler=i, target=gl.AnimationChannelTarget(node=0, path=path))
                for i, path in enumerate(("weights", "translation", "rotation", "scale"))]

    material = gl.Material(name="face", doubleSided=True, pbrMetallicRoughness=gl.PbrMetallicRoughness(
        baseColorFactor=_SKIN_RGBA, metallicFactor=0.0, roughnessFactor=0.7))
    images, textures, samplers_tex = [], [], []
    if texture_bgr is not None:
        import cv2

        ok, png = cv2.imencode(".png", texture_bgr)
        if not ok:
            raise AnimationExportError("PNG encoding of the texture failed")
        images.append(gl.Image(bufferView=blob.view(png.tobytes()), mimeType="image/png"))
        samplers_tex.append(gl.Sampler(magFilter=gl.LINEAR, minFilter=gl.LINEAR_MIPMAP_LINEAR))
        textures.append(gl.Texture(source=0, sampler=0))
        material.pbrMetallicRoughness.baseColorFactor = [1.0, 1.0, 1.0, 1.0]
        material.pbrMetallicRoughness.baseColorTexture = gl.TextureInfo(index=0)

    mesh = gl.Mesh(name=name, primitives=[gl.Primitive(
        attributes=gl.Attributes(POSITION=position, TEXCOORD_0=texcoord), indices=indices, material=0,
        targets=targets)], weights=[0.0] * len(targets), extras={"targetNames": target_names})
    node = gl.Node(name=name, mesh=0, rotation=rotation[0].tolist(), translation=translation[0].tolist(),
                   scale=scale[0].tolist())
    gltf = gl.GLTF2(
        asset=gl.Asset(version="2.0", generator="tracker-app engine.animation_export"),
        scene=0, scenes=[gl.Scene(name=name, nodes=[0])], nodes=[node], meshes=[mesh],
        materials=[material], images=images, textures=textures, samplers=samplers_tex,
        accessors=blob.accessors, bufferViews=blob.views, buffers=[gl.Buffer(byteLength=len(blob.data))],
        animations=[gl.Animation(name=name, samplers=samplers, channels=channels)],
        extras={"frames": [int(first_index), int(first_index + len(keys) - 1)], "fps": fps,
                "mean_identity": [round(float(v), 6) for v in identity]})
    gltf.set_binary_blob(bytes(blob.data))
    return b"".join(gltf.save_to_bytes())


class _Blob:
    """The glb's binary chunk: buffer views (4-byte aligned) and their accessors."""

    def __init__(self) -> None:
        import pygltflib as gl

        self._gl = gl
        self.data = bytearray()
        self.views: list[object] = []
        self.accessors: list[object] = []

    def view(self, payload: bytes, target: int | None = None) -> int:
        self.data.extend(b"\0" * (-len(self.data) % 4))
        self.views.append(self._gl.BufferView(buffer=0, byteOffset=len(self.data), byteLength=len(payload),
                                              target=target))
        self.data.extend(payload)
        return len(self.views) - 1

    def accessor(self, values: np.ndarray, kind: str, *, min_max: bool = False, target: int | None = None) -> int:
        gl = self._gl
        array = np.ascontiguousarray(values)
        component = {np.dtype(np.float32): gl.FLOAT, np.dtype(np.uint32): gl.UNSIGNED_INT}[array.dtype]
        width = {gl.SCALAR: 1, gl.VEC2: 2, gl.VEC3: 3, gl.VEC4: 4}[kind]
        rows = array.reshape(-1, width)
        accessor = gl.Accessor(bufferView=self.view(array.tobytes(), target), componentType=component,
                               count=len(rows), type=kind)
        if min_max:
            accessor.min = rows.min(axis=0).astype(np.float64).tolist()
            accessor.max = rows.max(axis=0).astype(np.float64).tolist()
        self.accessors.append(accessor)
        return len(self.accessors) - 1
