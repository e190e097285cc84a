"""Set-up-time conversion of the upstream 3DDFA data into runtime assets.

Used by ``build_ext.py`` only. May import onnx and scipy; the runtime engine never
imports this package.
"""
