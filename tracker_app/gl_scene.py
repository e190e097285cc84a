"""The GPU side of the view: shader programs, the frame texture and the mesh and overlay buffers.

Owns every OpenGL object the view draws with, made in ``GpuScene(...)`` (with the
view's context current), filled by ``upload`` (whole-buffer updates: glTexSubImage2D
for the frame, glBufferSubData for all vertices of all faces; the triangle index
buffer once per face model, every level of detail in it) and freed by ``release``.
No Qt: the view makes its context current around these calls.
"""
from __future__ import annotations

import ctypes
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from OpenGL import GL

from engine.render import Light
from tracker_app import gl_shaders
from engine.display_arrays import AXIS_FLOATS, GAZE_FLOATS, MESH_FLOATS
from tracker_app.display_frame import DisplayFrame

FLOAT = 4  # bytes


@dataclass(frozen=True)
class MeshLook:
    """How the meshes are drawn: projection, lighting, colour, opacity, wireframe."""

    mvp: np.ndarray  # image space -> clip space
    normal_to_eye: np.ndarray  # image-space normals -> eye space (the light's frame)
    colour: np.ndarray  # RGB 0..1
    opacity: float
    wireframe: bool
    light_eye: np.ndarray  # unit direction towards the light, eye space
    light: Light


class GpuScene:
    """The GL objects of one context: ``programs``/``uniforms`` by name, ``texture`` with the
    frame, ``mesh_vao`` (every face's interleaved position + normal, one index buffer),
    ``points_vao`` (landmarks), ``axes_vao`` (pose arrows), ``eyes_vao`` (lid contours and gaze
    arrows), ``gaze_vao`` (the gaze arrows in 3D), ``empty_vao`` (the frame quad)."""

    def __init__(self) -> None:
        self.programs = {name: _program(*gl_shaders.program_sources(name)) for name in gl_shaders.PROGRAMS}
        self.uniforms = {name: UniformCache(p) for name, p in self.programs.items()}
        self.empty_vao = GL.glGenVertexArrays(1)  # core profile: drawing needs a bound VAO
        self.texture = GL.glGenTextures(1)
        self.texture_size = (0, 0)  # (w, h) of the frame texture, once uploaded
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        for pname, value in ((GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR), (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
                             (GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE),
                             (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, pname, value)
        self.mesh_vao = GL.glGenVertexArrays(1)
        self._mesh_vbo, self._mesh_ebo = GL.glGenBuffers(2)
        GL.glBindVertexArray(self.mesh_vao)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self._mesh_vbo)
        stride = MESH_FLOATS * FLOAT
        GL.glEnableVertexAttribArray(0)
        GL.glVertexAttribPointer(0, 3, GL.GL_FLOAT, GL.GL_FALSE, stride, ctypes.c_void_p(0))
        GL.glEnableVertexAttribArray(1)
        GL.glVertexAttribPointer(1, 3, GL.GL_FLOAT, GL.GL_FALSE, stride, ctypes.c_void_p(3 * FLOAT))
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, self._mesh_ebo)  # recorded in the VAO
        self._mesh_capacity = 0
        self._lods: tuple[np.ndarray, ...] | None = None  # the triangle lists in the index buffer
        self.lod_ranges: list[tuple[int, int]] = []  # (byte offset, index count) per level
        self.points_vao, self._points_vbo = _small_vao([(0, 2)], 2)
        self.axes_vao, self._axes_vbo = _small_vao([(0, 2), (1, 3)], AXIS_FLOATS)
        self.eyes_vao, self._eyes_vbo = _small_vao([(0, 2), (1, 3)], AXIS_FLOATS)  # drawn like the axes
        self.gaze_vao, self._gaze_vbo = _small_vao([(0, 3), (1, 3)], GAZE_FLOATS)  # the same program, in 3D
        GL.glBindVertexArray(0)

    def lod_counts(self) -> list[int]:
        """Index counts of the levels of detail, full mesh first."""
        return [n for _, n in self.lod_ranges]

    def upload(self, frame: DisplayFrame, mirror: bool) -> None:
        """The frame's pixels (mirrored when asked), meshes, landmarks, arrows and eyes to the GPU."""
        image = np.ascontiguousarray(frame.image[:, ::-1] if mirror else frame.image)
        h, w = image.shape[:2]
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        if (w, h) != self.texture_size:
            GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGB8, w, h, 0, GL.GL_BGR, GL.GL_UNSIGNED_BYTE, image)
            self.texture_size = (w, h)
        else:
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_BGR, GL.GL_UNSIGNED_BYTE, image)

        GL.glBindVertexArray(self.mesh_vao)
        if frame.lods is not self._lods:  # once per face model: every level in one index buffer
            indices = np.concatenate([lod.ravel() for lod in frame.lods]).astype(np.uint32)
            GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, indices.nbytes, indices, GL.GL_STATIC_DRAW)
            offsets = np.cumsum([0] + [lod.size for lod in frame.lods])
            self.lod_ranges = [(int(o) * 4, lod.size) for o, lod in zip(offsets, frame.lods)]
            self._lods = frame.lods
        arrays = frame.arrays
        if arrays.mesh.size:
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self._mesh_vbo)
            if arrays.mesh.nbytes > self._mesh_capacity:
                GL.glBufferData(GL.GL_ARRAY_BUFFER, arrays.mesh.nbytes, None, GL.GL_DYNAMIC_DRAW)
                self._mesh_capacity = arrays.mesh.nbytes
            GL.glBufferSubData(GL.GL_ARRAY_BUFFER, 0, arrays.mesh.nbytes, arrays.mesh)
        for vbo, data in ((self._points_vbo, arrays.landmarks), (self._axes_vbo, arrays.axes),
                          (self._eyes_vbo, arrays.eyes), (self._gaze_vbo, arrays.gaze)):
            if data.size:
                GL.glBindBuffer(GL.GL_ARRAY_BUFFER, vbo)
                GL.glBufferData(GL.GL_ARRAY_BUFFER, data.nbytes, data, GL.GL_STREAM_DRAW)
        GL.glBindVertexArray(0)

    def draw_meshes(self, frame: DisplayFrame, look: MeshLook, lod: int) -> None:
        """Every face's mesh at level ``lod``: a depth pass, then the nearest surface's colour
        blended over what is drawn (a translucent mesh shows only its front)."""
        GL.glUseProgram(self.programs["mesh"])
        u = self.uniforms["mesh"]
        u.set_matrix4("u_mvp", look.mvp)
        u.set_matrix3("u_normal_to_eye", look.normal_to_eye)
        u.set_vec3("u_color", look.colour)
        u.set_float("u_opacity", look.opacity)
        u.set_vec3("u_light_dir", look.light_eye)
        u.set_float("u_ambient", look.light.ambient)
        u.set_float("u_diffuse", look.light.diffuse)
        u.set_float("u_specular", look.light.specular)
        u.set_float("u_shininess", look.light.shininess)
        GL.glBindVertexArray(self.mesh_vao)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDepthMask(GL.GL_TRUE)
        # Pass 1: depth only, pushed back a little so the lines of pass 2 win the depth test.
        GL.glDepthFunc(GL.GL_LESS)
        GL.glColorMask(GL.GL_FALSE, GL.GL_FALSE, GL.GL_FALSE, GL.GL_FALSE)
        GL.glEnable(GL.GL_POLYGON_OFFSET_FILL)
        GL.glPolygonOffset(1.0, 1.0)
        self._draw_faces(frame, lod)
        GL.glDisable(GL.GL_POLYGON_OFFSET_FILL)
        # Pass 2: colour of the nearest surface only, blended over the frame.
        GL.glColorMask(GL.GL_TRUE, GL.GL_TRUE, GL.GL_TRUE, GL.GL_TRUE)
        GL.glEnable(GL.GL_BLEND)
        GL.glBlendFuncSeparate(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA, GL.GL_ZERO, GL.GL_ONE)
        if look.wireframe:
            # Lines write depth so the first one at a pixel hides the rest: a dense mesh
            # has several edges per pixel, and blending all of them would look opaque.
            GL.glPolygonMode(GL.GL_FRONT_AND_BACK, GL.GL_LINE)
            GL.glDepthFunc(GL.GL_LESS)
            GL.glDepthMask(GL.GL_TRUE)
        else:
            GL.glDepthFunc(GL.GL_LEQUAL)
            GL.glDepthMask(GL.GL_FALSE)
        self._draw_faces(frame, lod)
        GL.glPolygonMode(GL.GL_FRONT_AND_BACK, GL.GL_FILL)
        GL.glDisable(GL.GL_BLEND)
        GL.glDepthMask(GL.GL_TRUE)
        GL.glDepthFunc(GL.GL_LESS)

    def _draw_faces(self, frame: DisplayFrame, lod: int) -> None:
        offset, count = self.lod_ranges[lod]
        n = frame.arrays.n_vertices
        for i in range(frame.n_faces):
            GL.glDrawElementsBaseVertex(GL.GL_TRIANGLES, count, GL.GL_UNSIGNED_INT, ctypes.c_void_p(offset), i * n)

    def release(self) -> None:
        """Free every object (the context must be current)."""
        GL.glDeleteTextures([self.texture])
        GL.glDeleteBuffers(6, [self._mesh_vbo, self._mesh_ebo, self._points_vbo, self._axes_vbo, self._eyes_vbo,
                               self._gaze_vbo])
        GL.glDeleteVertexArrays(6, [self.empty_vao, self.mesh_vao, self.points_vao, self.axes_vao, self.eyes_vao,
                                    self.gaze_vao])
        for program in self.programs.values():
            GL.glDeleteProgram(program)


def _small_vao(attributes: list[tuple[int, int]], floats: int) -> tuple[int, int]:
    vao = GL.glGenVertexArrays(1)
    vbo = GL.glGenBuffers(1)
    GL.glBindVertexArray(vao)
    GL.glBindBuffer(GL.GL_ARRAY_BUFFER, vbo)
    offset = 0
    for location, size in attributes:
        GL.glEnableVertexAttribArray(location)
        GL.glVertexAttribPointer(location, size, GL.GL_FLOAT, GL.GL_FALSE, floats * FLOAT,
                                 ctypes.c_void_p(offset * FLOAT))
        offset += size
    return vao, vbo


class UniformCache:
    """Uniform locations looked up once per program."""

    def __init__(self, program: int) -> None:
        self.program = program
        self._locations: dict[str, int] = {}

    def _loc(self, name: str) -> int:
        if name not in self._locations:
            self._locations[name] = GL.glGetUniformLocation(self.program, name)
        return self._locations[name]

    def set_int(self, name: str, value: int) -> None:
        GL.glUniform1i(self._loc(name), int(value))

    def set_float(self, name: str, value: float) -> None:
        GL.glUniform1f(self._loc(name), float(value))

    def set_vec3(self, name: str, value: Iterable[float]) -> None:
        GL.glUniform3f(self._loc(name), *(float(v) for v in value))

    def set_matrix3(self, name: str, m: np.ndarray) -> None:
        GL.glUniformMatrix3fv(self._loc(name), 1, GL.GL_TRUE, np.ascontiguousarray(m, np.float32))

    def set_matrix4(self, name: str, m: np.ndarray) -> None:
        GL.glUniformMatrix4fv(self._loc(name), 1, GL.GL_TRUE, np.ascontiguousarray(m, np.float32))


class ShaderError(RuntimeError):
    """A shader did not compile or link (the message carries the driver's log)."""


def _program(vertex_src: str, fragment_src: str) -> int:
    shaders = []
    for kind, src in ((GL.GL_VERTEX_SHADER, vertex_src), (GL.GL_FRAGMENT_SHADER, fragment_src)):
        shader = GL.glCreateShader(kind)
        GL.glShaderSource(shader, src)
        GL.glCompileShader(shader)
        if not GL.glGetShaderiv(shader, GL.GL_COMPILE_STATUS):
            raise ShaderError(f"shader compilation failed: {_text(GL.glGetShaderInfoLog(shader))}")
        shaders.append(shader)
    program = GL.glCreateProgram()
    for shader in shaders:
        GL.glAttachShader(program, shader)
    GL.glLinkProgram(program)
    if not GL.glGetProgramiv(program, GL.GL_LINK_STATUS):
        raise ShaderError(f"shader link failed: {_text(GL.glGetProgramInfoLog(program))}")
    for shader in shaders:
        GL.glDetachShader(program, shader)
        GL.glDeleteShader(shader)
    return program


def _text(log: bytes | str) -> str:
    """Driver info logs come back as bytes or str depending on the PyOpenGL version."""
    return log.decode(errors="replace") if isinstance(log, bytes) else str(log)
