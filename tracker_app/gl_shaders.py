"""GLSL 3.30 core shaders of the GL view, one vertex + fragment pair per kind of thing
drawn; the sources are files in assets/shaders/ (comments there say what each does)."""
from __future__ import annotations

from tracker_app.app_assets import shader_source

# frame: the video as a full-viewport quad; mesh: the shaded dense mesh;
# points: the landmarks; colored: the pose-axis arrows and eye lines (2D), and the 3D gaze arrows.
PROGRAMS = ("frame", "mesh", "points", "colored")


def program_sources(program: str) -> tuple[str, str]:
    """(vertex, fragment) GLSL of one program."""
    return shader_source(program, "vert"), shader_source(program, "frag")
