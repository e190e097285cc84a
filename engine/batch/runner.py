"""The batch coordinator: plan (what is done already, what cannot start), run the rest on
an engine, journal and index every outcome, and sum up. The same code for the local pool
and for Ray.

    inputs = expand_inputs(["clips/*.mp4", "more.txt"])
    report = run_batch(inputs, settings, LocalPoolEngine(2, 2), retry_failed=False,
                       observer=observer, stop=lambda: False)

The cost per input is constant however many there are: the plan reads the journal once
(and the marker of an input only when the journal does not have it), each finished input
is one journal line, and the index is rewritten whole only every ``INDEX_EVERY_SECONDS``
and at the end. The coordinator holds the dataset folder's lock for the whole batch:
a second command on the same folder refuses (or waits, with ``wait``).
"""
from __future__ import annotations

import os
import stat
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
    Journal,
    read_journal,
    read_marker,
    rewrite_journal,
    write_index,
)
from engine.batch.inputs import BatchInput
from engine.batch.task import BatchSettings
from engine.out_lock import lock_out_dir

# The index is compacted from the outcomes at most this often while the batch runs, and
# never for more than INDEX_TIME_SHARE of the time (a large index takes longer to write:
# the interval grows with it, so the cost per input stays constant).
INDEX_EVERY_SECONDS = 5.0
INDEX_TIME_SHARE = 0.02


@dataclass(frozen=True)
class BatchPlan:
    """Which inputs an earlier run finished (kept as they are), which cannot start (recorded
    as failed without a folder) and which run now."""

    inputs: tuple[BatchInput, ...]
    recorded: dict[str, InputOutcome]  # input path -> outcome kept from an earlier run
    unreadable: tuple[InputOutcome, ...]  # failed before a task: missing, empty, unreadable
    to_run: tuple[BatchInput, ...]
    unjournaled: tuple[InputOutcome, ...] = ()  # markers the journal missed (a coordinator killed)

    @property
    def skipped(self) -> int:
        return len(self.recorded)


def probe_input(source: str) -> str | None:
    """Why ``source`` cannot be an input, from one ``stat`` (None: it may be; the task
    finds out the rest). The same wording as the sources' own errors."""
    try:
        st = os.stat(source)
    except FileNotFoundError:
        return f"{source}: no such file or folder"
    except OSError as e:
        return f"{source}: {e.strerror or e}"
    if stat.S_ISDIR(st.st_mode):
        return None if os.access(source, os.R_OK | os.X_OK) else f"{source}: folder not readable (permission denied)"
    if not stat.S_ISREG(st.st_mode):
        return f"{source}: not a regular file or folder"
    if st.st_size == 0:
        return f"{source}: file is empty"
    return None if os.access(source, os.R_OK) else f"{source}: file not readable (permission denied)"


def plan_batch(inputs: Sequence[BatchInput], out_dir: Path, *, retry_failed: bool,
               journal: dict[str, InputOutcome] | None = None) -> BatchPlan:
    """Done inputs are skipped, so are failed ones unless ``retry_failed``; an input with
    no record (never run, or cut off by a kill) runs again, unless it cannot start.
    ``journal``: the folder's journal when the caller read it already."""
    if journal is None:
        journal, _ = read_journal(out_dir)
    recorded: dict[str, InputOutcome] = {}
    unjournaled: list[InputOutcome] = []
    unreadable: list[InputOutcome] = []
    to_run: list[BatchInput] = []
    for item in inputs:
        outcome = journal.get(item.source)
        if outcome is None:
            outcome = read_marker(out_dir / item.name, item.source)
            if outcome is not None:
                unjournaled.append(outcome)
        if outcome is not None and not (retry_failed and outcome.status is InputStatus.FAILED):
            recorded[item.source] = outcome
            continue
        problem = probe_input(item.source)
        if problem is not None:
            unreadable.append(InputOutcome(input=item.source, output="", status=InputStatus.FAILED, error=problem))
        else:
            to_run.append(item)
    return BatchPlan(tuple(inputs), recorded, tuple(unreadable), tuple(to_run), tuple(unjournaled))


class BatchObserver(Protocol):
    """Progress of a batch (the CLI's progress bar)."""

    def planned(self, plan: BatchPlan, engine: BatchEngine) -> None: ...
    def frames_done(self, count: int) -> None: ...
    def input_finished(self, outcome: InputOutcome) -> None: ...


@dataclass
class BatchReport:
    """What one `batch` command did (the final summary)."""

    done: int = 0  # finished now
    failed: int = 0  # failed now (the unreadable inputs included)
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
              retry_failed: bool, observer: BatchObserver, stop: Callable[[], bool],
              wait: bool = False) -> BatchReport:
    """Run every input not finished yet; the index lists every finished input of the folder,
    this command's in input order first."""
    out_dir = Path(settings.out_dir)
    with lock_out_dir(out_dir, wait=wait):
        return _run_locked(inputs, settings, engine, retry_failed, observer, stop)


def _run_locked(inputs: Sequence[BatchInput], settings: BatchSettings, engine: BatchEngine, retry_failed: bool,
                observer: BatchObserver, stop: Callable[[], bool]) -> BatchReport:
    out_dir = Path(settings.out_dir)
    started = time.perf_counter()
    journaled, journal_lines = read_journal(out_dir)
    plan = plan_batch(inputs, out_dir, retry_failed=retry_failed, journal=journaled)
    observer.planned(plan, engine)
    outcomes = dict(plan.recorded)  # input path -> outcome, of this command's inputs
    ours = {item.source for item in inputs}
    others = [o for o in journaled.values() if o.input not in ours]  # earlier commands' other inputs
    report = BatchReport(skipped=plan.skipped, index_path=out_dir / INDEX_CSV)
    index_due = 0.0  # time.monotonic() of the next compaction
    appended = 0

    def write_index_now() -> None:
        nonlocal index_due
        t = time.monotonic()
        rows = [outcomes.get(item.source) or journaled.get(item.source) for item in inputs]
        write_index(out_dir, [o for o in rows if o is not None] + others)
        now = time.monotonic()
        index_due = now + max(INDEX_EVERY_SECONDS, (now - t) / INDEX_TIME_SHARE)

    with Journal(out_dir) as journal:
        for outcome in plan.unjournaled + plan.unreadable:
            journal.append(outcome)
            appended += 1
        for outcome in plan.unreadable:
            outcomes[outcome.input] = outcome
            report.failed += 1
            report.failures.append(outcome)
        write_index_now()
        for outcome in engine.run(plan.to_run, settings, on_frames=observer.frames_done, stop=stop):
            if outcome.status is InputStatus.INTERRUPTED:
                report.not_finished += 1
                continue
            journal.append(outcome)
            appended += 1
            outcomes[outcome.input] = outcome
            report.frames += outcome.frames
            if outcome.status is InputStatus.DONE:
                report.done += 1
            else:
                report.failed += 1
                report.failures.append(outcome)
            if time.monotonic() >= index_due:
                write_index_now()
            observer.input_finished(outcome)
        write_index_now()
    # Reruns (--retry-failed, resumed inputs) add lines for inputs already in the journal:
    # once they are most of it, write it again with one line per input.
    latest = {**journaled, **outcomes}
    if journal_lines + appended > 2 * len(latest) + 1000:
        rewrite_journal(out_dir, list(latest.values()))
    report.seconds = time.perf_counter() - started
    return report
