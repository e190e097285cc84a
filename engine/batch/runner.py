"""The batch coordinator: plan (what is done already), run the rest on an engine,
keep the index current, and sum up. The same code for the local pool and for Ray.

    inputs = expand_inputs(["clips/*.mp4", "more.txt"])
    report = run_batch(inputs, settings, LocalPoolEngine(2, 2), retry_failed=False,
                       observer=observer, stop=lambda: False)
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from engine.batch.engine import BatchEngine
from engine.batch.index import (
    INDEX_CSV,
    InputOutcome,
    InputStatus,
    read_marker,
    write_index,
)
from engine.batch.inputs import BatchInput
from engine.batch.task import BatchSettings


@dataclass(frozen=True)
class BatchPlan:
    """Which inputs an earlier run finished (kept as they are) and which run now."""

    inputs: tuple[BatchInput, ...]
    recorded: dict[str, InputOutcome]  # output name -> outcome kept from an earlier run
    to_run: tuple[BatchInput, ...]

    @property
    def skipped(self) -> int:
        return len(self.recorded)


def plan_batch(inputs: Sequence[BatchInput], out_dir: Path, *, retry_failed: bool) -> BatchPlan:
    """Done inputs are skipped, so are failed ones unless ``retry_failed``; an input with
    no marker (never run, or cut off by a kill) runs again."""
    recorded: dict[str, InputOutcome] = {}
    to_run: list[BatchInput] = []
    for item in inputs:
        outcome = read_marker(out_dir / item.name, item.source)
        if outcome is not None and not (retry_failed and outcome.status is InputStatus.FAILED):
            recorded[item.name] = outcome
        else:
            to_run.append(item)
    return BatchPlan(tuple(inputs), recorded, tuple(to_run))


class BatchObserver(Protocol):
    """Progress of a batch (the CLI's progress bar)."""

    def planned(self, plan: BatchPlan, engine: BatchEngine) -> None: ...
    def frames_done(self, count: int) -> None: ...
    def input_finished(self, outcome: InputOutcome) -> None: ...


@dataclass
class BatchReport:
    """What one `batch` command did (the final summary)."""

    done: int = 0  # finished now
    failed: int = 0  # failed now
    skipped: int = 0  # finished by an earlier run
    not_finished: int = 0  # left for the next run (Ctrl-C)
    frames: int = 0  # processed now
    seconds: float = 0.0
    index_path: Path = field(default_factory=Path)
    failures: list[InputOutcome] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def run_batch(inputs: Sequence[BatchInput], settings: BatchSettings, engine: BatchEngine, *,
              retry_failed: bool, observer: BatchObserver, stop: Callable[[], bool]) -> BatchReport:
    """Run every input not finished yet; the index lists every finished input, in input order."""
    out_dir = Path(settings.out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot create {out_dir}: {e.strerror or e}") from None
    plan = plan_batch(inputs, out_dir, retry_failed=retry_failed)
    observer.planned(plan, engine)
    outcomes = dict(plan.recorded)
    report = BatchReport(skipped=plan.skipped, index_path=out_dir / INDEX_CSV)

    def write() -> None:
        write_index(out_dir, [outcomes[item.name] for item in inputs if item.name in outcomes])

    started = time.perf_counter()
    write()
    for outcome in engine.run(plan.to_run, settings, on_frames=observer.frames_done, stop=stop):
        if outcome.status is InputStatus.INTERRUPTED:
            report.not_finished += 1
            continue
        outcomes[outcome.output] = outcome
        report.frames += outcome.frames
        if outcome.status is InputStatus.DONE:
            report.done += 1
        else:
            report.failed += 1
            report.failures.append(outcome)
        write()
        observer.input_finished(outcome)
    report.seconds = time.perf_counter() - started
    return report
