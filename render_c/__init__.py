"""Compiled extensions: Cython NMS and the C rasteriser (built by build_ext.py)."""
