"""Who is who: people's embedding galleries, and the embedding work queue.

The tracker follows *tracks* (continuous stretches of one face, ``track_id``). A
*person* (``person_id``) is what re-identification makes of them: a new track is
compared, by a learned face embedding (``engine.face_embedder``), with the people seen
before and not on screen now, and takes an earlier person's ID when it is close enough.

    people = PersonRegistry(config)
    people.note_seen(person_id, frame)               # each frame a track shows its person
    match = people.best_match(embedding, frame, exclude={...})

    queue = InlineEmbeddingQueue(embedder)           # files: embeddings at once
    queue = ThreadedEmbeddingQueue(embedder)         # live: on a thread, a few frames late
    queue.submit([EmbeddingRequest(...)])
    for done in queue.collect(): ...

Each person keeps a small gallery of exemplars, each weighted by the quality of the
chip it came from (``engine.face_embedder.ChipQuality``: size, frontalness, sharpness):
the distance from a new face to a person is the quality-weighted mean of its distances
to the person's nearest exemplars. Profiles and tiny faces embed poorly, so views
whose ``view_quality`` is under ``reid_min_quality`` are not embedded at all (the track
waits for a better view) and exemplars are replaced best-first.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from engine.config import TrackerConfig


class FaceEmbedding(Protocol):
    """What the tracker needs of a face-embedding model (``engine.face_embedder.FaceEmbedder``)."""

    def chips(self, image_bgr: np.ndarray, landmarks68: Sequence[np.ndarray]) -> np.ndarray: ...

    def embed_chips(self, chips: np.ndarray) -> np.ndarray: ...


@dataclass
class EmbeddingRequest:
    """One face to embed: the aligned chip (taken on the tracker's thread) and whose it is."""

    stream: int  # the tracker's stream (it restarts its track IDs at a reset or a seek)
    track_id: int
    quality: float  # ChipQuality.score of the chip
    chip: np.ndarray  # (150, 150, 3) uint8 RGB


@dataclass
class EmbeddingResult:
    stream: int
    track_id: int
    quality: float
    embedding: np.ndarray  # (D,) float32


class EmbeddingQueue(Protocol):
    """Where the tracker sends faces to embed and reads the embeddings back."""

    calls: int  # faces embedded so far
    total_ms: float  # model time spent on them

    def chips(self, image_bgr: np.ndarray, landmarks68: Sequence[np.ndarray]) -> np.ndarray:
        """Aligned chips of faces, cut on the caller's thread (the frame is not kept)."""
        ...

    def submit(self, requests: list[EmbeddingRequest]) -> None: ...

    def collect(self) -> list[EmbeddingResult]: ...

    def close(self) -> None: ...


class _Embedding:
    """What both queues share: the model, cutting chips, and counting what it embedded."""

    def __init__(self, embedder: FaceEmbedding) -> None:
        self.embedder = embedder
        self.calls = 0
        self.total_ms = 0.0

    def chips(self, image_bgr: np.ndarray, landmarks68: Sequence[np.ndarray]) -> np.ndarray:
        return self.embedder.chips(image_bgr, landmarks68)

    def _embed(self, requests: list[EmbeddingRequest]) -> list[EmbeddingResult]:
        """One batched run of the model, counted."""
        t = time.perf_counter()
        vectors = self.embedder.embed_chips(np.stack([r.chip for r in requests]))
        self.total_ms += (time.perf_counter() - t) * 1000
        self.calls += len(requests)
        return [EmbeddingResult(r.stream, r.track_id, r.quality, np.asarray(v, np.float32))
                for r, v in zip(requests, vectors)]


class InlineEmbeddingQueue(_Embedding):
    """Embeds at ``submit`` on the caller's thread: results come back on the same frame.
    For files, where the run may wait and results must not depend on timing."""

    def __init__(self, embedder: FaceEmbedding) -> None:
        super().__init__(embedder)
        self._done: list[EmbeddingResult] = []

    def submit(self, requests: list[EmbeddingRequest]) -> None:
        if requests:
            self._done += self._embed(requests)

    def collect(self) -> list[EmbeddingResult]:
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        pass


class ThreadedEmbeddingQueue(_Embedding):
    """Embeds on a worker thread in batches, so the live frame loop never waits for it.
    Requests beyond ``max_pending`` are dropped (the tracker asks again later)."""

    def __init__(self, embedder: FaceEmbedding, max_pending: int = 8) -> None:
        super().__init__(embedder)
        self._todo: queue.Queue[EmbeddingRequest | None] = queue.Queue(maxsize=max_pending)
        self._done: queue.Queue[EmbeddingResult] = queue.Queue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="face-embedding", daemon=True)
        self._thread.start()

    def submit(self, requests: list[EmbeddingRequest]) -> None:
        if self._closing.is_set():
            return
        for r in requests:
            try:
                self._todo.put_nowait(r)
            except queue.Full:
                return

    def collect(self) -> list[EmbeddingResult]:
        out: list[EmbeddingResult] = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        """Stop the thread (idempotent), waiting at most for the batch being embedded;
        requests not embedded yet and embeddings not collected are dropped.

        The thread must be gone when this returns: left inside onnxruntime while the
        interpreter exits, it aborts the process ("terminate called without an active
        exception"). A sentinel put with a timeout was dropped when the queue stayed full
        behind a slow batch, and the thread then ran on."""
        self._closing.set()
        while self._thread.is_alive():
            while True:  # what is pending will not be embedded: make room for the sentinel
                try:
                    self._todo.get_nowait()
                except queue.Empty:
                    break
            try:
                self._todo.put_nowait(None)
            except queue.Full:
                continue
            self._thread.join()

    def _run(self) -> None:
        while not self._closing.is_set():
            first = self._todo.get()
            if first is None or self._closing.is_set():
                return
            batch = [first]
            while len(batch) < 8:
                try:
                    more = self._todo.get_nowait()
                except queue.Empty:
                    break
                if more is None:  # only close() sends it: this batch would be dropped anyway
                    return
                batch.append(more)
            for result in self._embed(batch):
                self._done.put(result)


@dataclass
class _Exemplar:
    embedding: np.ndarray
    quality: float


@dataclass
class Person:
    """What is known of one person: a gallery of views and where they were last seen."""

    person_id: int
    exemplars: list[_Exemplar] = field(default_factory=list)
    last_frame: int = -1


class PersonRegistry:
    """Every person of a stream, with their galleries. One per tracker."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self.people: dict[int, Person] = {}
        self._next_id = 1
        self._merged_into: dict[int, int] = {}  # person -> the person they turned out to be

    def new_person(self, frame: int) -> int:
        pid = self._next_id
        self._next_id += 1
        self.people[pid] = Person(pid, last_frame=frame)
        return pid

    def note_seen(self, person_id: int, frame: int) -> None:
        self.people[person_id].last_frame = frame

    def distance(self, person_id: int, embedding: np.ndarray) -> float:
        """Quality-weighted distance from ``embedding`` to the person's nearest exemplars."""
        person = self.people[person_id]
        if not person.exemplars:
            return float("inf")
        d = np.array([float(np.linalg.norm(e.embedding - embedding)) for e in person.exemplars])
        w = np.array([e.quality for e in person.exemplars]) + 1e-6
        nearest = np.argsort(d)[:3]
        return float(np.sum(d[nearest] * w[nearest]) / np.sum(w[nearest]))

    def best_match(self, embedding: np.ndarray, frame: int, exclude: set[int]) -> tuple[int, float] | None:
        """The nearest person seen within ``return_frames`` (and not in ``exclude``), when
        within ``reid_same_person``; else None."""
        cfg = self.config
        best: tuple[float, int] | None = None
        for pid, person in self.people.items():
            if pid in exclude or not person.exemplars or frame - person.last_frame > cfg.return_frames:
                continue
            d = self.distance(pid, embedding)
            if best is None or d < best[0]:
                best = (d, pid)
        if best is None or best[0] > cfg.reid_same_person:
            return None
        return best[1], best[0]

    def add_exemplar(self, person_id: int, embedding: np.ndarray, quality: float) -> None:
        """Keep the view in the person's gallery (the best ``reid_gallery_size`` views).
        A view far from the gallery is refused: it is probably someone else's face."""
        person = self.people[person_id]
        if person.exemplars and self.distance(person_id, embedding) > self.config.reid_same_person:
            return
        person.exemplars.append(_Exemplar(np.asarray(embedding, np.float32), quality))
        person.exemplars.sort(key=lambda e: -e.quality)
        del person.exemplars[self.config.reid_gallery_size:]

    def resolve(self, person_id: int) -> int:
        """The person ``person_id`` turned out to be (itself unless merged)."""
        while person_id in self._merged_into:
            person_id = self._merged_into[person_id]
        return person_id

    def forget(self, before: int, keep: set[int]) -> None:
        """Forget the people last seen before frame ``before`` (they can no longer come back
        within ``return_frames``), except ``keep``: a long video's list stays short."""
        for pid in [p for p, person in self.people.items() if person.last_frame < before and p not in keep]:
            del self.people[pid]

    def merge(self, keep: int, drop: int) -> None:
        """``drop`` turned out to be ``keep``: move its views over and forget it."""
        self._merged_into[drop] = keep
        gone = self.people.pop(drop)
        for e in gone.exemplars:
            self.add_exemplar(keep, e.embedding, e.quality)
        person = self.people[keep]
        person.last_frame = max(person.last_frame, gone.last_frame)
