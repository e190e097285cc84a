"""The seam between the batch coordinator and where the per-input tasks run.

``LocalPoolEngine`` (worker processes on this machine) and ``RayEngine`` (a Ray
cluster) both take the inputs still to run and yield one ``InputOutcome`` per input
as it ends; the coordinator (``engine.batch.runner``) does the planning, the index
and the summary, the same code for both.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from engine.batch.index import InputOutcome
from engine.batch.inputs import BatchInput
from engine.batch.task import BatchSettings


class BatchEngine(Protocol):
    @property
    def description(self) -> str:
        """Where the tasks run, for the user: "2 local worker processes", "Ray at HOST:PORT"."""
        ...

    def run(self, items: Sequence[BatchInput], settings: BatchSettings, *,
            on_frames: Callable[[int], None], stop: Callable[[], bool]) -> Iterator[InputOutcome]:
        """Run every item; yield each outcome as it ends (``interrupted`` for the items
        that ``stop`` kept from finishing)."""
        ...
