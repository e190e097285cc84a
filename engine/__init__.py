"""3D dense face alignment engine: detection, 3DMM regression, face model, tracking.

No Qt imports anywhere in this package. The public entry point is
:class:`engine.analyzer.FaceAnalyzer`; import it from its module so that
``import engine`` stays cheap.
"""
