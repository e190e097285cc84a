"""Thin typed binding to render_c/rasterize.c."""

cdef extern from "rasterize.h":
    int rc_api_version()


def api_version():
    return rc_api_version()
