"""The default batch engine: a pool of worker processes on this machine.

Each worker process loads the models once and is handed inputs by the coordinator, over
a pipe of its own, until there are none left. Workers ignore Ctrl-C (the terminal sends
it to the whole process group); the coordinator asks them to stop through a shared flag,
and each stops at its next frame with its input left unmarked. A worker that dies (killed, out of memory) is
replaced, and its input is run again up to ``task_retries`` times, then recorded as
failed. Workers also stop when the coordinator process is gone (SIGKILL), so nothing
keeps writing into a batch nobody is watching.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from typing import Any

from engine.cpus import usable_cpu_count
from engine.errors import UsageError
from engine.batch.index import InputOutcome, InputStatus
from engine.batch.inputs import BatchInput
from engine.batch.task import BatchSettings, record_failure, run_input

# How often an idle worker and the coordinator look at the stop event and at each other.
POLL_SECONDS = 0.2


class WorkerStartError(OSError):
    """The worker processes cannot even start (a broken install): the batch cannot go on."""


@dataclass(frozen=True)
class _Started:
    worker: int
    item: BatchInput


@dataclass(frozen=True)
class _Frames:
    count: int


@dataclass(frozen=True)
class _Finished:
    worker: int
    outcome: InputOutcome


@dataclass(frozen=True)
class _Raised:
    worker: int
    item: BatchInput
    error: str




def default_workers(threads_per_worker: int) -> int:
    """As many workers as the CPUs this process may use hold ``threads_per_worker`` each."""
    return max(1, usable_cpu_count() // max(1, threads_per_worker))


def capped_workers(requested: int) -> int:
    """``requested`` workers, at most one per usable CPU: a worker runs its input's frames on
    a CPU of its own, so more only add processes (each with its models, about 18 MB) that wait."""
    if requested < 1:
        raise UsageError("--workers must be at least 1")
    return min(requested, usable_cpu_count())


class LocalPoolEngine:
    def __init__(self, workers: int, task_retries: int) -> None:
        self.requested = workers
        self.workers = capped_workers(workers)
        self.task_retries = task_retries

    @property
    def description(self) -> str:
        text = f"{self.workers} local worker process{'es' if self.workers > 1 else ''}"
        if self.requested > self.workers:
            text += f" (--workers {self.requested} capped at the {self.workers} usable CPUs)"
        return text

    def run(self, items: Sequence[BatchInput], settings: BatchSettings, *,
            on_frames: Callable[[int], None], stop: Callable[[], bool]) -> Iterator[InputOutcome]:
        if not items:
            return
        pool = _Pool(min(self.workers, len(items)), self.task_retries, settings, on_frames)
        try:
            yield from pool.run(items, stop)
        except BaseException:  # a second Ctrl-C, or the consumer gave up: do not wait for the workers
            pool.terminate()
            raise
        finally:
            pool.close()


@dataclass(frozen=True)
class _Ready:
    """A worker waits for an input."""

    worker: int


_Message = _Started | _Frames | _Finished | _Raised | _Ready


class _Worker:
    """One worker process and the coordinator's end of its own pipe."""

    def __init__(self, process: multiprocessing.process.BaseProcess, conn: Connection) -> None:
        self.process, self.conn = process, conn
        self.ready = False  # waiting for an input
        self.item: BatchInput | None = None  # the input it is on


class _Pool:
    """The processes of one ``LocalPoolEngine.run``.

    Each worker talks to the coordinator over a pipe of its own, and the coordinator hands
    out the inputs: a worker killed in the middle of a message (SIGKILL, out of memory)
    can corrupt only its own pipe, never a lock the other workers need (as it could with
    queues shared by every worker). The stop flag is a lock-free shared byte.
    """

    def __init__(self, workers: int, task_retries: int, settings: BatchSettings,
                 on_frames: Callable[[int], None]) -> None:
        # spawn, not fork: a forked child would inherit the coordinator's threads (tqdm,
        # onnxruntime) in whatever state they were; spawn is also what other OSes do.
        self.ctx = multiprocessing.get_context("spawn")
        self.stop_flag = self.ctx.RawValue("b", 0)
        self.size, self.task_retries, self.settings, self.on_frames = workers, task_retries, settings, on_frames
        self.workers: dict[int, _Worker] = {}
        self.pending: deque[BatchInput] = deque()  # inputs no worker has yet
        self.attempts: dict[str, int] = {}
        self.remaining: dict[str, BatchInput] = {}
        self.next_worker = 0
        self.started_any: set[int] = set()  # workers that got as far as an input
        self.deaths_before_work = 0

    @property
    def stopping(self) -> bool:
        return bool(self.stop_flag.value)

    def run(self, items: Sequence[BatchInput], stop: Callable[[], bool]) -> Iterator[InputOutcome]:
        self.remaining = {item.name: item for item in items}
        self.pending.extend(items)
        for _ in range(self.size):
            self.start_worker()
        while self.remaining and not (self.stopping and not self.workers):
            if stop():
                self.stop_flag.value = 1
            ready = wait([w.conn for w in self.workers.values()], timeout=POLL_SECONDS)
            for number, worker in list(self.workers.items()):
                if worker.conn in ready:
                    yield from self.read(number, worker)
            yield from self.replace_dead_workers()
            self.hand_out()
        for item in self.remaining.values():  # stopped before they finished: no marker, run next time
            yield InputOutcome(input=item.source, output=item.name, status=InputStatus.INTERRUPTED)

    def start_worker(self) -> None:
        number, self.next_worker = self.next_worker, self.next_worker + 1
        ours, theirs = self.ctx.Pipe()
        process = self.ctx.Process(target=_worker_main, name=f"tracker-batch-{number}", daemon=True,
                                   args=(number, theirs, self.stop_flag, self.settings, os.getpid()))
        # A terminal's Ctrl-C reaches the whole process group. A worker still starting (its
        # interpreter importing, seconds on a busy machine) died of it with a fatal error and
        # a traceback: it is born with SIGINT blocked (the mask is inherited), and unblocks it
        # once it ignores it. Here, a Ctrl-C meanwhile is only held back until start() returns.
        # (The resource tracker's own start unblocks SIGINT in this thread: it starts first.)
        resource_tracker.ensure_running()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        theirs.close()  # the worker's end lives in the worker only: its death reads as EOF here
        self.workers[number] = _Worker(process, ours)

    def read(self, number: int, worker: _Worker) -> Iterator[InputOutcome]:
        """Every complete message the worker sent (none once its pipe is broken)."""
        try:
            while worker.conn.poll():
                yield from self.handle(number, worker, worker.conn.recv())
        except (EOFError, OSError, pickle.UnpicklingError):
            pass  # the worker is gone (perhaps in the middle of a message): replace_dead_workers

    def handle(self, number: int, worker: _Worker, message: _Message) -> Iterator[InputOutcome]:
        if isinstance(message, _Frames):
            self.on_frames(message.count)
        elif isinstance(message, _Ready):
            worker.ready, worker.item = True, None
        elif isinstance(message, _Started):
            worker.item = message.item
            self.started_any.add(number)
        elif isinstance(message, _Finished):
            worker.item = None
            yield from self.ended(message.outcome)
        elif isinstance(message, _Raised):
            worker.item = None
            yield from self.failed_attempt(message.item, message.error)

    def hand_out(self) -> None:
        for worker in self.workers.values():
            if not self.pending or self.stopping:
                return
            if worker.ready:
                item = self.pending.popleft()
                try:
                    worker.conn.send(item)
                except OSError:  # it just died: the input goes to the next one
                    self.pending.appendleft(item)
                    continue
                worker.ready, worker.item = False, item

    def ended(self, outcome: InputOutcome) -> Iterator[InputOutcome]:
        if self.remaining.pop(outcome.output, None) is not None:
            yield outcome

    def failed_attempt(self, item: BatchInput, error: str) -> Iterator[InputOutcome]:
        """Queue the input again, or record it as failed once it has used its retries."""
        if self.stopping:
            return  # stays remaining: reported as interrupted, run again next time
        self.attempts[item.name] = self.attempts.get(item.name, 0) + 1
        if self.attempts[item.name] <= self.task_retries:
            self.pending.append(item)
        else:
            yield from self.ended(record_failure(item, self.settings, error))

    def replace_dead_workers(self) -> Iterator[InputOutcome]:
        dead = [n for n, w in self.workers.items() if not w.process.is_alive()]
        for number in dead:
            worker = self.workers.pop(number)
            # What it sent just before it ended is still in the pipe: read it first, so a
            # finished input is not taken for a lost one.
            yield from self.read(number, worker)
            worker.conn.close()
            exitcode = worker.process.exitcode
            if number not in self.started_any and not self.stopping:
                self.deaths_before_work += 1
                if self.deaths_before_work > self.size * (self.task_retries + 1):
                    raise WorkerStartError(f"batch worker processes keep ending before their first input "
                                           f"({_exit_text(exitcode)}); try `tracker-app track` on one input")
            if worker.item is not None:
                yield from self.failed_attempt(worker.item, f"the worker process died ({_exit_text(exitcode)})")
            if not self.stopping and self.remaining:
                self.start_worker()

    def terminate(self) -> None:
        for worker in self.workers.values():
            worker.process.terminate()

    def close(self) -> None:
        self.stop_flag.value = 1
        for worker in self.workers.values():
            try:
                worker.conn.send(None)
            except OSError:
                pass
        for number, worker in self.workers.items():
            while worker.process.is_alive():  # read what it still sends, so none blocks on a full pipe
                for _ in self.read(number, worker):
                    pass
                worker.process.join(timeout=POLL_SECONDS)
            worker.conn.close()


def _exit_text(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def _worker_main(worker: int, conn: Connection, stop_flag: Any, settings: BatchSettings, parent_pid: int) -> None:
    """One worker process: inputs from the coordinator until a None, a stop, or the coordinator is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator decides how to stop
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked from birth (start_worker): now ignored

    coordinator_gone = False

    def send(message: _Message) -> None:
        nonlocal coordinator_gone
        if not coordinator_gone:
            try:
                conn.send(message)
            except OSError:  # the coordinator is gone: stop, and leave the input unmarked
                coordinator_gone = True

    def stop() -> bool:
        return coordinator_gone or bool(stop_flag.value) or os.getppid() != parent_pid

    while not stop():
        send(_Ready(worker))
        while not stop() and not conn.poll(POLL_SECONDS):
            pass
        if stop():
            break
        try:
            item = conn.recv()
        except (EOFError, OSError):
            break
        if item is None:
            break
        send(_Started(worker, item))
        try:
            outcome = run_input(item, settings, stop=stop, on_frames=lambda n: send(_Frames(n)))
        except Exception as e:  # a bug, not a bad input: the coordinator retries, then records it
            send(_Raised(worker, item, f"{type(e).__name__}: {e}".splitlines()[0]))
            continue
        send(_Finished(worker, outcome))
