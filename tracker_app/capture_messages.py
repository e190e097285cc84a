"""What the capture worker's signals carry besides frames: one typed value per signal.

A signal whose report has more than one part, or may be None, carries one of these small
frozen dataclasses, so the GUI side (``worker_link.WorkerLink``) reads fields, never tuples.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.vmc import LiveFrame, VmcTarget


@dataclass(frozen=True)
class Failure:
    """Something the user asked for failed: a dialog with this title and one-line message."""

    title: str
    message: str


@dataclass(frozen=True)
class Recording:
    """The session folder being written (None: not recording)."""

    folder: Path | None


@dataclass(frozen=True)
class Streaming:
    """The VMC receiver streamed to (None: not streaming)."""

    target: VmcTarget | None


@dataclass(frozen=True)
class Followed:
    """The followed face of the frame just processed (None: not in it)."""

    live: LiveFrame | None
