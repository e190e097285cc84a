"""The Ray batch engine (`tracker-app batch --ray [ADDRESS]`, optional extra `.[ray]`).

The same per-input task as the local pool (``engine.batch.task.run_input``) runs as a
Ray task on any node of the cluster, so inputs and DIR must be paths every node sees
(a shared file system). Ray runs a task again when its worker dies or it raises, at
most ``task_retries`` times; after that the input is recorded as failed. A bad input
is not an exception, so it is recorded at once. Ray reuses its worker processes, so a
worker loads the models once for all the inputs it gets.

With no address a local Ray instance is started for the batch (and shut down after),
with as many CPUs as the workers asked for need.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from engine.batch.index import InputOutcome, InputStatus
from engine.batch.inputs import BatchInput
from engine.batch.local_pool import capped_workers
from engine.batch.task import BatchSettings, record_failure, run_input

POLL_SECONDS = 0.2


class RayUnavailableError(OSError):
    """--ray was asked for but Ray is not installed or the cluster cannot be reached."""


class ProgressBoard:
    """A Ray actor: tasks add their frame counts here and learn whether to stop."""

    def __init__(self) -> None:
        self.frames = 0
        self.stopping = False

    def add(self, count: int) -> bool:
        self.frames += count
        return self.stopping

    def take(self) -> int:
        count, self.frames = self.frames, 0
        return count

    def stop(self) -> None:
        self.stopping = True


def ray_task(item: BatchInput, settings: BatchSettings, board: Any) -> InputOutcome:
    """The per-input task on a Ray worker."""
    import ray

    stopping = [False]

    def on_frames(count: int) -> None:
        try:
            stopping[0] = ray.get(board.add.remote(count))
        except ray.exceptions.RayError:  # the driver (which owns the board) is gone: stop
            stopping[0] = True

    return run_input(item, settings, stop=lambda: stopping[0], on_frames=on_frames)


class RayEngine:
    def __init__(self, address: str | None, workers: int, threads: int, task_retries: int) -> None:
        try:
            import ray
        except ImportError:
            raise RayUnavailableError("--ray needs the Ray package: pip install '.[ray]'") from None
        self.ray = ray
        self.address = address
        # A local instance: CPUs for this many tasks at once, no more than this machine has.
        self.workers = capped_workers(workers)
        self.threads = threads
        self.task_retries = task_retries

    @property
    def description(self) -> str:
        if self.address:
            return f"Ray at {self.address}"
        return f"a local Ray instance ({self.workers * self.threads} CPUs)"

    def _connect(self) -> bool:
        """Join the cluster (or start a local instance); True when this call started Ray."""
        ray = self.ray
        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        try:
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:  # "local": a new instance, even when another cluster runs on this machine
                ray.init(address="local", num_cpus=self.workers * self.threads, include_dashboard=False, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = self.address or "a local instance"
            raise RayUnavailableError(f"cannot start Ray ({where}): {str(e).splitlines()[0]}") from None
        return True

    def run(self, items: Sequence[BatchInput], settings: BatchSettings, *,
            on_frames: Callable[[int], None], stop: Callable[[], bool]) -> Iterator[InputOutcome]:
        if not items:
            return
        ray = self.ray
        started = self._connect()
        try:
            yield from self._run(ray, items, settings, on_frames, stop)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray: Any, items: Sequence[BatchInput], settings: BatchSettings,
             on_frames: Callable[[int], None], stop: Callable[[], bool]) -> Iterator[InputOutcome]:
        board = ray.remote(num_cpus=0)(ProgressBoard).remote()
        task = ray.remote(ray_task).options(num_cpus=self.threads, max_retries=self.task_retries,
                                            retry_exceptions=True)
        # A few tasks more than the cluster runs at once, so no CPU waits for the driver
        # and a stop leaves little queued behind.
        cpus = int(ray.cluster_resources().get("CPU", 1))
        window = max(1, cpus // max(1, self.threads)) * 2
        waiting = deque(items)  # popped from the left: constant time per input
        shared_settings = ray.put(settings)  # sent to the object store once, not with every task
        in_flight: dict[Any, BatchInput] = {}
        stopping = False
        while waiting or in_flight:
            if not stopping and stop():
                stopping = True
                ray.get(board.stop.remote())
            while waiting and not stopping and len(in_flight) < window:
                item = waiting.popleft()
                in_flight[task.remote(item, shared_settings, board)] = item
            if not in_flight:
                break
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=POLL_SECONDS)
            on_frames(ray.get(board.take.remote()))
            for ref in ready:
                item = in_flight.pop(ref)
                yield self._outcome(ray, ref, item, settings)
        for item in waiting:  # never submitted: no marker, run next time
            yield InputOutcome(input=item.source, output=item.name, status=InputStatus.INTERRUPTED)

    def _outcome(self, ray: Any, ref: Any, item: BatchInput, settings: BatchSettings) -> InputOutcome:
        try:
            outcome: InputOutcome = ray.get(ref)
            return outcome
        except ray.exceptions.TaskCancelledError:
            return InputOutcome(input=item.source, output=item.name, status=InputStatus.INTERRUPTED)
        except ray.exceptions.RayError as e:  # kept failing after task_retries attempts
            cause = getattr(e, "cause", None) or e
            text = f"{type(cause).__name__}: {cause}".splitlines()[0]
            return record_failure(item, settings, f"failed after {self.task_retries + 1} attempts ({text})")
