"""The per-input task, the same for the local pool and for Ray: open the input, run the
one session runner (``engine.session.run_session``) into the input's folder, write the
completion marker last.

A worker process loads the models once (``worker_analyzer`` keeps one analyzer per
process and settings) and then runs many inputs. Bad input (a missing, empty or
truncated file) is an outcome, not an exception: it is recorded as failed and the
batch goes on. Programming errors propagate, so the engine can retry and report them.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.analyzer import FaceAnalyzer
from engine.batch.index import InputOutcome, InputStatus, write_marker
from engine.batch.inputs import BatchInput
from engine.config import EngineConfig
from engine.frames import FrameResult
from engine.out_lock import LOCK_NAME, lock_out_dir
from engine.session import SessionOptions, run_session
from engine.video_source import open_source


@dataclass(frozen=True)
class BatchSettings:
    """Everything a worker needs besides the input; picklable, so it travels to worker
    processes and Ray tasks."""

    config: EngineConfig
    threads: int  # onnxruntime threads in each worker
    session: SessionOptions
    out_dir: str  # absolute: on a cluster, a path every node shares

    def folder(self, item: BatchInput) -> Path:
        return Path(self.out_dir) / item.name


@functools.cache
def worker_analyzer(config: EngineConfig, threads: int) -> FaceAnalyzer:
    """The models of this worker process, loaded on its first input."""
    return FaceAnalyzer.from_config(config, threads=threads)


FrameCounter = Callable[[int], None]  # told every few frames how many were processed since


def run_input(item: BatchInput, settings: BatchSettings, *, stop: Callable[[], bool],
              on_frames: FrameCounter) -> InputOutcome:
    """Track one input into its folder; the marker is written only for a finished input."""
    folder = settings.folder(item)
    # The folder's lock, for the whole task: a worker of a killed coordinator may still be
    # ending its frame in this folder (it stops within one); wait for it rather than mix files.
    with lock_out_dir(folder, wait=True):
        return _run_locked(item, settings, folder, stop, on_frames)


def _run_locked(item: BatchInput, settings: BatchSettings, folder: Path, stop: Callable[[], bool],
                on_frames: FrameCounter) -> InputOutcome:
    # Not done (the caller checked), so whatever the folder holds is a partial or failed
    # earlier attempt: start it afresh, so no stale file of that attempt stays behind.
    _clear_folder(folder)
    if not os.path.exists(item.source):  # vanished since the plan; also keeps "3" from meaning camera 3
        return _record(folder, _failed(item, f"{item.source}: no such file or folder"))
    try:
        source = open_source(item.source, max_image_pixels=settings.config.input.max_image_pixels)
    except OSError as e:  # SourceError: empty, truncated, not a video, no images
        return _record(folder, _failed(item, str(e)))
    analyzer = worker_analyzer(settings.config, settings.threads)
    steps = _FrameSteps(on_frames, settings.config.batch.progress_every_frames)
    # One thread per run: the pool already gives every core a worker, so pipelining a run's
    # stages would only add threads that wait for a CPU (bench/bench_runs.py: it pays only on a free core).
    options = dataclasses.replace(settings.session, pipelined=False,
                                  exports=dataclasses.replace(settings.session.exports, overwrite=True))
    with source:
        try:
            summary = run_session(source, analyzer, options, folder, stop=stop, on_result=steps.add)
        except OSError as e:  # the exports could not be opened (a folder that cannot be made)
            return _record(folder, _failed(item, str(e)))
        finally:
            steps.flush()
    outcome = InputOutcome(input=item.source, output=item.name, status=InputStatus.DONE, frames=summary.frames,
                           faces=summary.rows, tracks=summary.tracks, people=summary.people, seconds=summary.seconds)
    if summary.interrupted and not summary.error:
        return dataclasses.replace(outcome, status=InputStatus.INTERRUPTED)
    if not summary.complete:
        outcome = dataclasses.replace(outcome, status=InputStatus.FAILED,
                                      error=summary.error or "the run did not read the input to its end")
    return _record(folder, outcome)


def _clear_folder(folder: Path) -> None:
    """Remove everything in ``folder`` but its lock file (which must stay: it is what the lock is on)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.name == LOCK_NAME:
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def record_failure(item: BatchInput, settings: BatchSettings, error: str) -> InputOutcome:
    """Mark an input whose task kept failing (an exception, a worker that died) as failed."""
    return _record(settings.folder(item), _failed(item, error))


def _failed(item: BatchInput, error: str) -> InputOutcome:
    return InputOutcome(input=item.source, output=item.name, status=InputStatus.FAILED, error=error)


def _record(folder: Path, outcome: InputOutcome) -> InputOutcome:
    write_marker(folder, outcome)
    return outcome


class _FrameSteps:
    """Passes frame counts on in steps, not every frame: they cross a process boundary."""

    def __init__(self, on_frames: FrameCounter, step: int) -> None:
        self.on_frames, self.step = on_frames, max(1, step)
        self.pending = 0

    def add(self, result: FrameResult) -> None:
        self.pending += 1
        if self.pending >= self.step:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.on_frames(self.pending)
            self.pending = 0
