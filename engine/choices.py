"""The names a user or a run picks from: smoothers, mesh spaces, render modes, pipeline stages.

One source of truth for each list: a ``Literal`` type for annotations and the tuple of
its values for checks, help texts and tables. No NumPy here: the command line builds
its ``--help`` from these without loading the engine.
"""
from __future__ import annotations

from typing import Literal, get_args

Smoother = Literal["lookahead", "realtime", "off"]  # look-ahead window (files), One Euro (live), none
SMOOTHERS: tuple[Smoother, ...] = get_args(Smoother)

MeshSpace = Literal["image", "head"]  # image pixels over the frame; the canonical head, in metres
MESH_SPACES: tuple[MeshSpace, ...] = get_args(MeshSpace)

RenderMode = Literal["mesh", "depth", "pncc"]
RENDER_MODES: tuple[RenderMode, ...] = get_args(RenderMode)

# Where a frame's time goes, in the order the pipeline runs them; ``export`` is the session's
# sinks (tables, videos, meshes), timed when a session writes files.
# ``embed``: face embeddings for re-identification, when computed on the tracking thread;
# ``eyes``: eye openness and gaze measured in the frame, and their filter.
Stage = Literal["decode", "detect", "regress", "verify", "embed", "eyes", "smooth", "reconstruct", "export"]
STAGES: tuple[Stage, ...] = ("decode", "detect", "regress", "verify", "embed", "eyes", "smooth", "reconstruct")
EXPORT_STAGE: Stage = "export"
