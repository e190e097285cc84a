"""A frame as the window shows it: the engine's result and display arrays, with the app's timing.

``DisplayFrame`` bundles what the capture worker sends the GUI thread for one frame: the
``FrameResult``, the ``DisplayArrays`` the engine made for it (``engine.display_arrays``),
the mesh's levels of detail shared by every frame, and when the frame was taken from its
source. No Qt, no OpenGL.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.display_arrays import DisplayArrays
from engine.frames import FrameResult
from engine.results import Face


@dataclass(frozen=True)
class DisplayFrame:
    """One frame with everything the view draws."""

    result: FrameResult
    arrays: DisplayArrays
    lods: tuple[np.ndarray, ...]  # triangle lists (m, 3) uint32, full mesh first (mesh_lod); shared by frames
    pulled_at: float  # time.monotonic() when the worker took the packet from the source
    frames_dropped: int = 0  # live sources: frames replaced before the worker could take them

    @property
    def triangles(self) -> np.ndarray:
        """The full-resolution triangles (exports use these)."""
        return self.lods[0]

    @property
    def image(self) -> np.ndarray:
        return self.result.image

    @property
    def n_faces(self) -> int:
        return len(self.result.faces)

    @property
    def n_vertices(self) -> int:
        """Vertices per face."""
        return self.arrays.n_vertices

    def primary_face(self) -> Face | None:
        """The face the plots follow: the lowest person id (the first person seen)."""
        if not self.result.faces:
            return None
        return min(self.result.faces, key=lambda tf: tf.person_id).face
