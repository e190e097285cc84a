# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Thin typed binding to render_c/rasterize.c (the C rasteriser).

Why Cython rather than ctypes: typed memoryviews check dtype, number of
dimensions and C-contiguity at the call boundary (a wrong array raises
ValueError instead of handing C a bad pointer), the calls release the GIL with
`with nogil` so a GUI thread keeps running, there is no per-call marshalling
cost, and build_ext.py already compiles Cython for render_c._nms, so the C file
is linked into an ordinary importable module with no separate shared library
to locate at run time.

Every function validates shapes here; the C side additionally clips all writes
to its buffers and ignores invalid ids, so nothing reaches out of bounds even
if a check were missed. Conventions (image space, coverage and tie rules) are
documented in rasterize.h; engine/render.py is the user-facing API.
"""
import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t

cdef extern from "rasterize.h" nogil:
    int RC_API_VERSION
    int RC_MAX_COORD
    int RC_WORK_PER_WINDOW_PIXEL
    int RC_WORK_PER_TRIANGLE
    int RC_SUBPIXEL
    int RC_OK
    int RC_ERR_NOMEM
    int RC_ERR_ARG

    ctypedef struct rc_gbuffer:
        int32_t x0, y0, width, height
        float *depth
        int32_t *tri_id
        float *bary

    ctypedef struct rc_light:
        float dir[3]
        float ambient, diffuse, specular, shininess

    int rc_api_version()
    void rc_mesh_window(const float *verts, int32_t n_faces, int32_t n_verts,
                        int32_t frame_width, int32_t frame_height, int32_t out[4])
    void rc_gbuffer_clear(rc_gbuffer *gb)
    int64_t rc_rasterize(rc_gbuffer *gb, const float *verts, int32_t n_faces, int32_t n_verts,
                         const int32_t *tris, int32_t n_tris)
    int rc_vertex_normals(const float *verts, int32_t n_verts, const int32_t *tris, int32_t n_tris,
                          float *normals)
    void rc_shade_vertices(const float *normals, int32_t n_verts, const float *albedo,
                           int32_t albedo_stride, const rc_light *light, float *colors)
    int rc_shade_mesh(const float *verts, int32_t n_verts, const int32_t *tris, int32_t n_tris,
                      const float *albedo, int32_t albedo_stride, const rc_light *light, float *colors)
    int rc_blend_colors(const rc_gbuffer *gb, const int32_t *tris, int32_t n_tris, int32_t n_verts,
                        int32_t n_faces, const float *colors, int64_t color_face_stride, float alpha,
                        uint8_t *frame, int32_t frame_width, int32_t frame_height)
    int rc_interpolate(const rc_gbuffer *gb, const int32_t *tris, int32_t n_tris, int32_t n_verts,
                       int32_t n_faces, const float *attrs, int64_t attr_face_stride, int32_t n_channels,
                       float *out)
    int64_t rc_sample_texture(const rc_gbuffer *uv_gb, const rc_gbuffer *frame_gb,
                              const float *verts, int32_t n_verts, const int32_t *tris, int32_t n_tris,
                              const uint8_t *frame, int32_t frame_width, int32_t frame_height,
                              float depth_eps, float min_facing, uint8_t *texture, uint8_t *mask)

MAX_COORD = RC_MAX_COORD
WORK_PER_WINDOW_PIXEL = RC_WORK_PER_WINDOW_PIXEL
WORK_PER_TRIANGLE = RC_WORK_PER_TRIANGLE
SUBPIXEL = RC_SUBPIXEL
INT32_MAX = 2147483647

if rc_api_version() != RC_API_VERSION:  # a stale .so next to a new header
    raise ImportError("render_c._raster was built against another rasterize.h: run python build_ext.py")


cdef class Topology:
    """Validated triangle list shared by every call (the mesh connectivity).

    Holds a private read-only int32 (m, 3) copy, so the index range checked here
    stays true; each call then only compares the vertex count with max_index.
    """
    cdef readonly object triangles
    cdef readonly int32_t n_tris
    cdef readonly int32_t max_index
    cdef const int32_t[:, ::1] _tris

    def __init__(self, triangles):
        tris = np.array(triangles, copy=True)
        if tris.ndim != 2 or tris.shape[1] != 3:
            raise ValueError(f"triangles must have shape (m, 3), got {tris.shape}")
        if tris.shape[0] == 0 or tris.shape[0] > INT32_MAX:
            raise ValueError("triangles must hold between 1 and 2**31 - 1 rows")
        if not np.issubdtype(tris.dtype, np.integer):
            raise ValueError(f"triangles must be integers, got {tris.dtype}")
        if tris.min() < 0 or tris.max() >= INT32_MAX:
            raise ValueError("triangle indices must be in [0, 2**31 - 1)")
        tris = np.ascontiguousarray(tris, dtype=np.int32)
        tris.setflags(write=False)
        self.triangles = tris
        self._tris = tris
        self.n_tris = <int32_t>tris.shape[0]
        self.max_index = <int32_t>tris.max()

    cdef void check_vertices(self, Py_ssize_t n_verts) except *:
        if n_verts <= self.max_index:
            raise ValueError(f"triangle index {self.max_index} out of range for {n_verts} vertices")
        if n_verts > INT32_MAX:
            raise ValueError("too many vertices")


cdef void _check_faces(const float[:, :, ::1] verts, Topology topo) except *:
    if verts.shape[2] != 3:
        raise ValueError(f"vertices must have shape (k, n, 3), got {tuple(verts.shape)[:3]}")
    topo.check_vertices(verts.shape[1])
    if verts.shape[0] * <int64_t>topo.n_tris > INT32_MAX:
        raise ValueError("too many faces for int32 triangle ids")


cdef rc_gbuffer _gbuffer(float[:, ::1] depth, int32_t[:, ::1] tri_id, float[:, :, ::1] bary,
                         int x0, int y0) except *:
    """Wraps three window-sized arrays; empty windows get NULL pointers (C never reads them)."""
    cdef rc_gbuffer gb
    if tuple(tri_id.shape)[:2] != tuple(depth.shape)[:2] or tuple(bary.shape)[:3] != (depth.shape[0], depth.shape[1], 2):
        raise ValueError("depth (h, w), tri_id (h, w) and bary (h, w, 2) must match")
    if x0 < 0 or y0 < 0 or x0 + depth.shape[1] > RC_MAX_COORD or y0 + depth.shape[0] > RC_MAX_COORD:
        # Inside [0, MAX_COORD]: what keeps the C edge functions exact in int64.
        raise ValueError(f"buffer window must lie inside [0, {RC_MAX_COORD}] pixels")
    gb.x0 = x0
    gb.y0 = y0
    gb.height = <int32_t>depth.shape[0]
    gb.width = <int32_t>depth.shape[1]
    if gb.width > 0 and gb.height > 0:
        gb.depth = &depth[0, 0]
        gb.tri_id = &tri_id[0, 0]
        gb.bary = &bary[0, 0, 0]
    else:
        gb.width = gb.height = 0
        gb.depth = NULL
        gb.tri_id = NULL
        gb.bary = NULL
    return gb


def mesh_window(const float[:, :, ::1] verts not None, int height, int width):
    """(x0, y0, x1, y1): the frame window holding every usable vertex, x1/y1 exclusive.

    Empty (x1 <= x0) when the meshes are off-screen or have no finite vertex.
    """
    cdef int32_t out[4]
    if verts.shape[2] != 3:
        raise ValueError("vertices must have shape (k, n, 3)")
    if height < 0 or width < 0 or height > RC_MAX_COORD or width > RC_MAX_COORD:
        raise ValueError(f"frame size must be in [0, {RC_MAX_COORD}]")
    if verts.shape[0] * verts.shape[1] > INT32_MAX or verts.shape[0] == 0 or verts.shape[1] == 0:
        return (0, 0, 0, 0)
    with nogil:
        rc_mesh_window(&verts[0, 0, 0], <int32_t>verts.shape[0], <int32_t>verts.shape[1],
                       width, height, out)
    return (out[0], out[1], out[2], out[3])


def rasterize(Topology topo not None, const float[:, :, ::1] verts not None, float[:, ::1] depth not None,
              int32_t[:, ::1] tri_id not None, float[:, :, ::1] bary not None, int x0=0, int y0=0, bint clear=True):
    """Rasterises k faces (verts (k, n, 3) float32, image space) into a G-buffer.

    The buffers cover the frame window whose top-left pixel is (x0, y0); tri_id
    receives face * m + triangle of the nearest triangle (-1 where none), depth
    its z (-inf where none) and bary its barycentric weights (b1, b2).
    Returns the number of triangles drawn.
    """
    _check_faces(verts, topo)
    cdef rc_gbuffer gb = _gbuffer(depth, tri_id, bary, x0, y0)
    cdef int64_t drawn = 0
    if gb.width == 0:
        return 0
    with nogil:
        if clear:
            rc_gbuffer_clear(&gb)
        if verts.shape[0] > 0:
            drawn = rc_rasterize(&gb, &verts[0, 0, 0], <int32_t>verts.shape[0], <int32_t>verts.shape[1],
                                 &topo._tris[0, 0], topo.n_tris)
    if drawn == RC_ERR_NOMEM:
        raise MemoryError("rasteriser scratch allocation failed")
    return drawn


def vertex_normals(Topology topo not None, const float[:, :, ::1] verts not None):
    """Area-weighted unit vertex normals, (k, n, 3) float32, for k faces (k, n, 3)."""
    _check_faces(verts, topo)
    out = np.empty((verts.shape[0], verts.shape[1], 3), np.float32)
    cdef float[:, :, ::1] normals = out
    cdef Py_ssize_t f
    cdef int rc = RC_OK
    if out.size == 0:
        return out
    with nogil:
        for f in range(verts.shape[0]):
            rc = rc_vertex_normals(&verts[f, 0, 0], <int32_t>verts.shape[1], &topo._tris[0, 0],
                                   topo.n_tris, &normals[f, 0, 0])
            if rc != RC_OK:
                break
    if rc != RC_OK:
        raise MemoryError("normal accumulation buffer allocation failed")
    return out


cdef rc_light _make_light(light_dir, float ambient, float diffuse, float specular, float shininess) except *:
    """The C light of the shading kernels; light_dir must be 3 finite numbers."""
    cdef rc_light light
    ld = np.asarray(light_dir, dtype=np.float64).reshape(-1)
    if ld.shape[0] != 3 or not np.all(np.isfinite(ld)):
        raise ValueError("light_dir must be 3 finite numbers")
    for i in range(3):
        light.dir[i] = ld[i]
    light.ambient = ambient
    light.diffuse = diffuse
    light.specular = specular
    light.shininess = shininess if shininess > 0 else 0
    return light


def shade_vertices(const float[:, :, ::1] normals not None, const float[:, ::1] albedo not None, light_dir,
                   float ambient, float diffuse, float specular, float shininess):
    """Per-vertex Phong colours (k, n, 3) float32 in [0, 1] from unit normals (k, n, 3).

    albedo: (n, 3) per-vertex or (1, 3) for one colour; light_dir: 3 floats, a
    unit vector towards the light in image space.
    """
    cdef rc_light light
    if normals.shape[2] != 3 or albedo.shape[1] != 3:
        raise ValueError("normals must be (k, n, 3) and albedo (n, 3) or (1, 3)")
    if albedo.shape[0] != 1 and albedo.shape[0] != normals.shape[1]:
        raise ValueError(f"albedo has {albedo.shape[0]} rows for {normals.shape[1]} vertices")
    if normals.shape[1] > INT32_MAX:
        raise ValueError("too many vertices")
    light = _make_light(light_dir, ambient, diffuse, specular, shininess)
    out = np.empty((normals.shape[0], normals.shape[1], 3), np.float32)
    cdef float[:, :, ::1] colors = out
    cdef int32_t stride = 0 if albedo.shape[0] == 1 else 3
    cdef Py_ssize_t f
    if out.size == 0:
        return out
    with nogil:
        for f in range(normals.shape[0]):
            rc_shade_vertices(&normals[f, 0, 0], <int32_t>normals.shape[1], &albedo[0, 0], stride,
                              &light, &colors[f, 0, 0])
    return out


def shade_mesh(Topology topo not None, const float[:, :, ::1] verts not None,
               const float[:, ::1] albedo not None, light_dir,
               float ambient, float diffuse, float specular, float shininess):
    """shade_vertices(vertex_normals(topo, verts), ...) in one C pass per face
    (identical colours, no normals array): (k, n, 3) float32 in [0, 1]."""
    cdef rc_light light
    _check_faces(verts, topo)
    if albedo.shape[1] != 3 or (albedo.shape[0] != 1 and albedo.shape[0] != verts.shape[1]):
        raise ValueError("albedo must be (n, 3) or (1, 3)")
    light = _make_light(light_dir, ambient, diffuse, specular, shininess)
    out = np.empty((verts.shape[0], verts.shape[1], 3), np.float32)
    cdef float[:, :, ::1] colors = out
    cdef int32_t stride = 0 if albedo.shape[0] == 1 else 3
    cdef Py_ssize_t f
    if out.size == 0:
        return out
    with nogil:
        for f in range(verts.shape[0]):
            rc_shade_mesh(&verts[f, 0, 0], <int32_t>verts.shape[1], &topo._tris[0, 0], topo.n_tris,
                          &albedo[0, 0], stride, &light, &colors[f, 0, 0])
    return out


cdef int64_t _face_stride(const float[:, :, ::1] per_face, Py_ssize_t n_faces, Py_ssize_t n_verts,
                          Py_ssize_t channels, str name) except -1:
    """Face stride (in floats) of a (k, n, c) or shared (1, n, c) attribute array."""
    if per_face.shape[1] != n_verts or per_face.shape[2] != channels:
        raise ValueError(f"{name} must have shape (k or 1, {n_verts}, {channels})")
    if per_face.shape[0] == 1:
        return 0
    if per_face.shape[0] != n_faces:
        raise ValueError(f"{name} has {per_face.shape[0]} faces, the G-buffer ids need {n_faces}")
    return n_verts * channels


cdef int32_t _faces_addressable(Py_ssize_t rows, int64_t stride, Topology topo):
    """Faces whose ids C may accept: the rows given, or, for one shared row
    (stride 0, every face reads the same values), any face an int32 id can name."""
    if stride == 0:
        return <int32_t>(INT32_MAX // topo.n_tris)
    return <int32_t>rows


def blend_colors(Topology topo not None, float[:, ::1] depth not None, int32_t[:, ::1] tri_id not None,
                 float[:, :, ::1] bary not None,
                 int x0, int y0, const float[:, :, ::1] colors not None, float alpha,
                 unsigned char[:, :, ::1] frame not None):
    """Alpha-blends interpolated vertex colours (k or 1, n, 3) in [0, 1] over the
    covered pixels of the G-buffer, into the BGR frame (H, W, 3) uint8, in place."""
    cdef rc_gbuffer gb = _gbuffer(depth, tri_id, bary, x0, y0)
    topo.check_vertices(colors.shape[1])
    cdef int64_t stride = _face_stride(colors, colors.shape[0], colors.shape[1], 3, "colors")
    if frame.shape[2] != 3:
        raise ValueError("frame must be (H, W, 3) uint8")
    if not (0.0 <= alpha <= 1.0):
        raise ValueError("alpha must be in [0, 1]")
    if gb.width == 0 or colors.shape[0] == 0:
        return
    cdef int rc
    cdef int32_t n_faces = _faces_addressable(colors.shape[0], stride, topo)
    with nogil:
        rc = rc_blend_colors(&gb, &topo._tris[0, 0], topo.n_tris, <int32_t>colors.shape[1],
                             n_faces, &colors[0, 0, 0], stride, alpha,
                             &frame[0, 0, 0], <int32_t>frame.shape[1], <int32_t>frame.shape[0])
    if rc == RC_ERR_ARG:
        raise ValueError("G-buffer window is not inside the frame")


def interpolate(Topology topo not None, float[:, ::1] depth not None, int32_t[:, ::1] tri_id not None,
                float[:, :, ::1] bary not None,
                const float[:, :, ::1] attrs not None, float[:, :, ::1] out not None):
    """Writes interpolated per-vertex attributes (k or 1, n, c) into out (h, w, c)
    at the covered pixels of the G-buffer; other pixels are untouched."""
    cdef rc_gbuffer gb = _gbuffer(depth, tri_id, bary, 0, 0)
    topo.check_vertices(attrs.shape[1])
    cdef int64_t stride = _face_stride(attrs, attrs.shape[0], attrs.shape[1], attrs.shape[2], "attrs")
    if out.shape[0] != depth.shape[0] or out.shape[1] != depth.shape[1] or out.shape[2] != attrs.shape[2]:
        raise ValueError("out must have shape (h, w, c) of the G-buffer and attributes")
    if gb.width == 0 or attrs.shape[0] == 0 or attrs.shape[2] == 0:
        return
    cdef int32_t n_faces = _faces_addressable(attrs.shape[0], stride, topo)
    with nogil:
        rc_interpolate(&gb, &topo._tris[0, 0], topo.n_tris, <int32_t>attrs.shape[1],
                       n_faces, &attrs[0, 0, 0], stride, <int32_t>attrs.shape[2],
                       &out[0, 0, 0])


def sample_texture(Topology topo not None, float[:, ::1] uv_depth not None, int32_t[:, ::1] uv_tri_id not None,
                   float[:, :, ::1] uv_bary not None, float[:, ::1] depth not None,
                   int32_t[:, ::1] tri_id not None, float[:, :, ::1] bary not None, int x0, int y0,
                   const float[:, ::1] verts not None, const unsigned char[:, :, ::1] frame not None,
                   float depth_eps, float min_facing, unsigned char[:, :, ::1] texture not None,
                   unsigned char[:, ::1] mask not None):
    """Fills the visible texels of texture (s, s, 3) uint8 and mask (s, s) from the
    frame, given the mesh's G-buffer in texture space (uv_*) and in the frame
    (window at x0, y0). verts: the single face (n, 3) in image space. Texels
    are visible within depth_eps of the rendered depth and when their triangle's
    unit normal has |z| >= min_facing.
    Returns the number of visible texels."""
    cdef rc_gbuffer uv_gb = _gbuffer(uv_depth, uv_tri_id, uv_bary, 0, 0)
    cdef rc_gbuffer gb = _gbuffer(depth, tri_id, bary, x0, y0)
    if verts.shape[1] != 3:
        raise ValueError("vertices must have shape (n, 3)")
    topo.check_vertices(verts.shape[0])
    if frame.shape[2] != 3:
        raise ValueError("frame must be (H, W, 3) uint8")
    if (texture.shape[0], texture.shape[1], texture.shape[2]) != (uv_depth.shape[0], uv_depth.shape[1], 3) \
            or (mask.shape[0], mask.shape[1]) != (uv_depth.shape[0], uv_depth.shape[1]):
        raise ValueError("texture (s, s, 3) and mask (s, s) must match the texture-space G-buffer")
    if uv_gb.width == 0 or frame.shape[0] == 0 or frame.shape[1] == 0:
        return 0
    cdef int64_t visible
    with nogil:
        visible = rc_sample_texture(&uv_gb, &gb, &verts[0, 0], <int32_t>verts.shape[0], &topo._tris[0, 0],
                                    topo.n_tris, &frame[0, 0, 0], <int32_t>frame.shape[1],
                                    <int32_t>frame.shape[0], depth_eps, min_facing, &texture[0, 0, 0],
                                    &mask[0, 0])
    if visible == RC_ERR_ARG:
        raise ValueError("G-buffer window is not inside the frame")
    return visible


cdef class Scratch:
    """Reusable working memory of shaded(): G-buffer, normals and colours.

    Allocating these per frame costs page faults (a 300 px face needs ~2 MB of
    G-buffer); one Scratch grows to the largest size seen and is then reused.
    Not thread-safe: give each thread its own (MeshRenderer keeps a pool).
    """
    cdef object _depth, _ids, _bary, _colors

    def __init__(self):
        self._depth = np.empty(0, np.float32)
        self._ids = np.empty(0, np.int32)
        self._bary = np.empty(0, np.float32)
        self._colors = np.empty(0, np.float32)

    cdef void reserve(self, Py_ssize_t pixels, Py_ssize_t floats) except *:
        if self._depth.shape[0] < pixels:
            pixels += pixels // 4  # headroom: the window changes size from frame to frame
            self._depth = np.empty(pixels, np.float32)
            self._ids = np.empty(pixels, np.int32)
            self._bary = np.empty(2 * pixels, np.float32)
        if self._colors.shape[0] < floats:
            self._colors = np.empty(floats, np.float32)


def shaded(Topology topo not None, const float[:, :, ::1] verts not None, const float[:, ::1] albedo not None,
           light_dir, float ambient, float diffuse, float specular, float shininess, float alpha,
           unsigned char[:, :, ::1] frame not None, Scratch scratch not None):
    """The whole shaded overlay in one call (mesh_window, rasterize, vertex_normals,
    shade_vertices and blend_colors, with the same results; the middle two fused
    as rc_shade_mesh), using scratch for
    every intermediate buffer. Returns the number of triangles drawn."""
    cdef rc_light light
    cdef int32_t win[4]
    cdef rc_gbuffer gb
    cdef int64_t drawn = 0
    cdef Py_ssize_t f, n_faces = verts.shape[0], n_verts = verts.shape[1]
    cdef int32_t stride = 0 if albedo.shape[0] == 1 else 3
    _check_faces(verts, topo)
    light = _make_light(light_dir, ambient, diffuse, specular, shininess)
    if albedo.shape[1] != 3 or (albedo.shape[0] != 1 and albedo.shape[0] != n_verts):
        raise ValueError("albedo must be (n, 3) or (1, 3)")
    if frame.shape[2] != 3:
        raise ValueError("frame must be (H, W, 3) uint8")
    if not (0.0 <= alpha <= 1.0):
        raise ValueError("alpha must be in [0, 1]")
    if frame.shape[0] > RC_MAX_COORD or frame.shape[1] > RC_MAX_COORD:
        raise ValueError(f"frame size must be in [0, {RC_MAX_COORD}]")
    if n_faces == 0 or n_verts == 0 or frame.shape[0] == 0 or frame.shape[1] == 0:
        return 0
    with nogil:
        rc_mesh_window(&verts[0, 0, 0], <int32_t>n_faces, <int32_t>n_verts,
                       <int32_t>frame.shape[1], <int32_t>frame.shape[0], win)
    if win[2] <= win[0] or win[3] <= win[1]:
        return 0
    gb.x0 = win[0]
    gb.y0 = win[1]
    gb.width = win[2] - win[0]
    gb.height = win[3] - win[1]
    scratch.reserve(<Py_ssize_t>gb.width * gb.height, n_faces * n_verts * 3)
    cdef float[::1] depth = scratch._depth
    cdef int32_t[::1] ids = scratch._ids
    cdef float[::1] bary = scratch._bary
    cdef float[::1] colors = scratch._colors
    gb.depth = &depth[0]
    gb.tri_id = &ids[0]
    gb.bary = &bary[0]
    with nogil:
        rc_gbuffer_clear(&gb)
        drawn = rc_rasterize(&gb, &verts[0, 0, 0], <int32_t>n_faces, <int32_t>n_verts,
                             &topo._tris[0, 0], topo.n_tris)
        if drawn >= 0:
            for f in range(n_faces):
                rc_shade_mesh(&verts[f, 0, 0], <int32_t>n_verts, &topo._tris[0, 0], topo.n_tris,
                              &albedo[0, 0], stride, &light, &colors[f * n_verts * 3])
            rc_blend_colors(&gb, &topo._tris[0, 0], topo.n_tris, <int32_t>n_verts, <int32_t>n_faces,
                            &colors[0], n_verts * 3, alpha, &frame[0, 0, 0],
                            <int32_t>frame.shape[1], <int32_t>frame.shape[0])
    if drawn == RC_ERR_NOMEM:
        raise MemoryError("rasteriser scratch allocation failed")
    if drawn == RC_ERR_ARG:
        raise ValueError("too many faces for int32 triangle ids")
    return drawn
