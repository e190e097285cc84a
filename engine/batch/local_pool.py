"""The default batch engine: a pool of worker processes on this machine.

Each worker process loads the models once and takes inputs from a shared queue until
there are none left. Workers ignore Ctrl-C (the terminal sends it to the whole process
group); the coordinator asks them to stop through an event, and each stops at its next
frame with its input left unmarked. A worker that dies (killed, out of memory) is
replaced, and its input is run again up to ``task_retries`` times, then recorded as
failed. Workers also stop when the coordinator process is gone (SIGKILL), so nothing
keeps writing into a batch nobody is watching.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

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


_Message = _Started | _Frames | _Finished | _Raised


def default_workers(threads_per_worker: int) -> int:
    """As many workers as the CPUs this process may use hold ``threads_per_worker`` each."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, threads_per_worker))


class LocalPoolEngine:
    def __init__(self, workers: int, task_retries: int) -> None:
        if workers < 1:
            raise UsageError("--workers must be at least 1")
        self.workers = workers
        self.task_retries = task_retries

    @property
    def description(self) -> str:
        return f"{self.workers} local worker process{'es' if self.workers > 1 else ''}"

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


class _Pool:
    """The processes and queues of one ``LocalPoolEngine.run``."""

    def __init__(self, workers: int, task_retries: int, settings: BatchSettings,
                 on_frames: Callable[[int], None]) -> None:
        # spawn, not fork: a forked child would inherit the coordinator's threads (tqdm,
        # onnxruntime) in whatever state they were; spawn is also what other OSes do.
        self.ctx = multiprocessing.get_context("spawn")
        self.tasks: multiprocessing.Queue[BatchInput | None] = self.ctx.Queue()
        self.messages: multiprocessing.Queue[_Message] = self.ctx.Queue()
        self.stop_event = self.ctx.Event()
        self.size, self.task_retries, self.settings, self.on_frames = workers, task_retries, settings, on_frames
        self.processes: dict[int, multiprocessing.process.BaseProcess] = {}
        self.running: dict[int, BatchInput] = {}  # worker -> the input it is on
        self.attempts: dict[str, int] = {}
        self.remaining: dict[str, BatchInput] = {}
        self.next_worker = 0
        self.started_any: set[int] = set()  # workers that got as far as an input
        self.deaths_before_work = 0

    def run(self, items: Sequence[BatchInput], stop: Callable[[], bool]) -> Iterator[InputOutcome]:
        self.remaining = {item.name: item for item in items}
        for item in items:
            self.tasks.put(item)
        for _ in range(self.size):
            self.start_worker()
        while self.remaining and not (self.stop_event.is_set() and not self.processes):
            if stop():
                self.stop_event.set()
            try:
                message: _Message | None = self.messages.get(timeout=POLL_SECONDS)
            except queue.Empty:
                message = None
            if message is not None:
                yield from self.handle(message)
            yield from self.replace_dead_workers()
        for item in self.remaining.values():  # stopped before they finished: no marker, run next time
            yield InputOutcome(input=item.source, output=item.name, status=InputStatus.INTERRUPTED)

    def start_worker(self) -> None:
        worker, self.next_worker = self.next_worker, self.next_worker + 1
        process = self.ctx.Process(target=_worker_main, name=f"tracker-batch-{worker}", daemon=True,
                                   args=(worker, self.tasks, self.messages, self.stop_event, self.settings,
                                         os.getpid()))
        process.start()
        self.processes[worker] = process

    def handle(self, message: _Message) -> Iterator[InputOutcome]:
        if isinstance(message, _Frames):
            self.on_frames(message.count)
        elif isinstance(message, _Started):
            self.running[message.worker] = message.item
            self.started_any.add(message.worker)
        elif isinstance(message, _Finished):
            self.running.pop(message.worker, None)
            yield from self.ended(message.outcome)
        elif isinstance(message, _Raised):
            self.running.pop(message.worker, None)
            yield from self.failed_attempt(message.item, message.error)

    def ended(self, outcome: InputOutcome) -> Iterator[InputOutcome]:
        if self.remaining.pop(outcome.output, None) is not None:
            yield outcome

    def failed_attempt(self, item: BatchInput, error: str) -> Iterator[InputOutcome]:
        """Queue the input again, or record it as failed once it has used its retries."""
        if self.stop_event.is_set():
            return  # stays remaining: reported as interrupted, run again next time
        self.attempts[item.name] = self.attempts.get(item.name, 0) + 1
        if self.attempts[item.name] <= self.task_retries:
            self.tasks.put(item)
        else:
            yield from self.ended(record_failure(item, self.settings, error))

    def replace_dead_workers(self) -> Iterator[InputOutcome]:
        dead = [w for w, p in self.processes.items() if not p.is_alive()]
        if not dead:
            return
        # What a worker sent just before it ended is still in the pipe: read it first,
        # so a finished input is not taken for a lost one.
        while True:
            try:
                message = self.messages.get_nowait()
            except queue.Empty:
                break
            yield from self.handle(message)
        for worker in dead:
            process = self.processes.pop(worker)
            if worker not in self.started_any and not self.stop_event.is_set():
                self.deaths_before_work += 1
                if self.deaths_before_work > self.size * (self.task_retries + 1):
                    raise WorkerStartError(f"batch worker processes keep ending before their first input "
                                           f"({_exit_text(process.exitcode)}); try `tracker-app track` on one input")
            lost = self.running.pop(worker, None)
            if lost is not None:
                yield from self.failed_attempt(lost, f"the worker process died ({_exit_text(process.exitcode)})")
            if not self.stop_event.is_set() and self.remaining:
                self.start_worker()

    def terminate(self) -> None:
        for process in self.processes.values():
            process.terminate()

    def close(self) -> None:
        self.stop_event.set()
        for _ in self.processes:
            self.tasks.put(None)
        _drain_and_join(self.messages, list(self.processes.values()))
        self.tasks.cancel_join_thread()


def _exit_text(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def _drain_and_join(messages: multiprocessing.Queue[_Message],
                    processes: list[multiprocessing.process.BaseProcess]) -> None:
    """Wait for the workers to end; read what they still send so none blocks on a full pipe."""
    for process in processes:
        while process.is_alive():
            try:
                messages.get(timeout=POLL_SECONDS)
            except queue.Empty:
                pass
            process.join(timeout=0)
        process.join()


def _worker_main(worker: int, tasks: multiprocessing.Queue[BatchInput | None],
                 messages: multiprocessing.Queue[_Message], stop_event: object,
                 settings: BatchSettings, parent_pid: int) -> None:
    """One worker process: inputs from ``tasks`` until a None, a stop, or the coordinator is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator decides how to stop

    def stop() -> bool:
        return stop_event.is_set() or os.getppid() != parent_pid  # type: ignore[attr-defined]

    while not stop():
        try:
            item = tasks.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
        if item is None:
            break
        messages.put(_Started(worker, item))
        try:
            outcome = run_input(item, settings, stop=stop, on_frames=lambda n: messages.put(_Frames(n)))
        except Exception as e:  # a bug, not a bad input: the coordinator retries, then records it
            messages.put(_Raised(worker, item, f"{type(e).__name__}: {e}".splitlines()[0]))
            continue
        messages.put(_Finished(worker, outcome))
