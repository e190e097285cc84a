"""Render modes of the command line and the recorder, on top of the C rasteriser.

``mesh`` blends the shaded dense mesh over the frame (overlays are drawn on top),
``depth`` and ``pncc`` are data images of their own (black where no face is).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.choices import RENDER_MODES as RENDER_MODES
from engine.name_lists import parse_names
from engine.face_model import FaceModel
from engine.image_input import copy_into
from engine.results import Face

MESH_ALPHA = 0.6


def parse_render_modes(text: str | None) -> tuple[str, ...]:
    """'mesh,depth' -> ('mesh', 'depth'); a one-line UsageError for unknown names."""
    return parse_names(text, RENDER_MODES, "render mode")


class FrameRenderer:
    """Renders faces of one frame in the modes above. One per thread (caches topology)."""

    def __init__(self, face_model: FaceModel) -> None:
        from engine.render import MeshRenderer

        self.face_model = face_model
        self.renderer = MeshRenderer(face_model.triangles, uv=face_model.uv, ncc=face_model.ncc)

    def vertices(self, faces: Sequence[Face]) -> list[np.ndarray]:
        """Dense meshes of the faces, reconstructed when the face has none."""
        model = self.face_model
        return [f.vertices if f.vertices is not None else model.dense_vertices(f.params, f.roi) for f in faces]

    def render(self, image: np.ndarray, faces: Sequence[Face], mode: str,
               out: np.ndarray | None = None) -> np.ndarray:
        """(H, W, 3) uint8 BGR image of ``faces`` in ``mode``; ``mesh`` is drawn into ``out``
        when it is an array like ``image`` (a writer's reused canvas)."""
        meshes = self.vertices(faces)
        if mode == "mesh":
            out = copy_into(image, out)
            return self.renderer.shaded(out, meshes, alpha=MESH_ALPHA, inplace=True) if meshes else out
        if mode == "depth":
            if not meshes:
                return np.zeros_like(image)
            depth = self.renderer.depth(image.shape[:2], meshes, normalize=True)
            return np.repeat(depth[:, :, None], 3, axis=2)
        if mode == "pncc":
            return self.renderer.pncc(image.shape[:2], meshes) if meshes else np.zeros_like(image)
        raise ValueError(f"unknown render mode '{mode}'")
