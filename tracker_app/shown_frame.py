"""What the view keeps of the last frame: the frame itself and whether the GPU still has to get it.

Frames can arrive faster than the view paints; each one only replaces the last, and the one
shown is uploaded once, when drawing next (the one place the GL context is current). No Qt.
"""
from __future__ import annotations

from dataclasses import dataclass

from tracker_app.display_frame import DisplayFrame
from tracker_app.gl_scene import GpuScene


@dataclass
class ShownFrame:
    """The frame shown (uploaded or waiting for upload); ``stale`` while the GPU's copy is not it."""

    frame: DisplayFrame | None = None
    stale: bool = False

    def show(self, frame: DisplayFrame | None) -> None:
        self.frame = frame
        self.stale = True

    def upload(self, gpu: GpuScene, mirror: bool) -> None:
        """Send the frame to ``gpu`` (mirrored when asked) unless it already has it."""
        if self.stale and self.frame is not None:
            gpu.upload(self.frame, mirror)
        self.stale = False

    def size(self) -> tuple[int, int]:
        """(width, height) of the frame's image; (0, 0) without a frame."""
        if self.frame is None:
            return (0, 0)
        h, w = self.frame.image.shape[:2]
        return (w, h)
