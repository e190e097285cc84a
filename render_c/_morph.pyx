# cython: boundscheck=False, wraparound=False
"""Typed binding to render_c/morph.c: dense face reconstruction from a float16 basis.

Cython (not ctypes) so the arrays' dtypes and shapes are checked at the boundary
and the GIL is released during the kernel, letting a GUI thread run meanwhile.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint16_t

cnp.import_array()

cdef extern from "morph.h" nogil:
    int morph_reconstruct(const uint16_t *basis, const float *mean, int64_t n, int32_t k,
                          const float *coef, const float *camera, int use_simd, float *out)
    int morph_simd_available()

GROUP = 8


def simd_available():
    return bool(morph_simd_available())


def reconstruct(const uint16_t[:, :, :, ::1] basis not None, const float[:, :, ::1] mean not None,
                Py_ssize_t n,
                const float[::1] coef not None, const float[:, ::1] camera not None, bint use_simd=True):
    """(n, 3) float32 image-space vertices; see morph.h for the layouts."""
    cdef Py_ssize_t groups = (n + GROUP - 1) // GROUP
    cdef int32_t k = <int32_t>basis.shape[1]
    if n <= 0 or basis.shape[0] != groups or basis.shape[2] != 3 or basis.shape[3] != GROUP:
        raise ValueError(f"basis shape {tuple(basis.shape)[:4]} does not fit {n} vertices")
    if mean.shape[0] != groups or mean.shape[1] != 3 or mean.shape[2] != GROUP:
        raise ValueError("mean shape does not fit the basis")
    if coef.shape[0] != k:
        raise ValueError(f"expected {k} coefficients, got {coef.shape[0]}")
    if camera.shape[0] != 3 or camera.shape[1] != 4:
        raise ValueError("camera must be 3x4")
    out = np.empty((n, 3), dtype=np.float32)
    cdef float[:, ::1] out_view = out
    cdef int rc
    with nogil:
        rc = morph_reconstruct(&basis[0, 0, 0, 0], &mean[0, 0, 0], n, k, &coef[0], &camera[0, 0],
                               use_simd, &out_view[0, 0])
    if rc != 0:
        raise ValueError("invalid sizes for the dense reconstruction")
    return out
