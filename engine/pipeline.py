"""The video pipeline: tracker -> smoother -> dense reconstruction, one frame at a time.

    from engine.analyzer import FaceAnalyzer
    from engine.pipeline import TrackingPipeline
    from engine.video_source import open_source

    analyzer = FaceAnalyzer.from_config()
    pipeline = TrackingPipeline(analyzer, dense=True, smoother="lookahead")
    with open_source("clip.mp4") as source:
        for packet in source:
            for result in pipeline.process(packet):   # 0..k FrameResults, in frame order
                use(result)
        for result in pipeline.flush():               # the frames the smoother still holds
            use(result)

Interface kept stable for the GUI's capture thread:

* ``TrackingPipeline(analyzer, config=None, dense=False, smoother="lookahead", keep_pixels=True,
  background_embedding=False)``;
  ``config`` is an ``EngineConfig`` (default: ``analyzer.config``); ``smoother`` is
  ``"lookahead"`` (offline, delays output by ``config.smoother.n_next`` frames),
  ``"realtime"`` (One Euro, no delay) or ``"off"``. Results are held
  ``tracker.confirm_frames`` frames more so that tentative faces can be back-filled once
  confirmed (``engine.confirmation``), except with ``"realtime"``, which promises no delay:
  there tentative faces are hidden until confirmed. ``background_embedding``: the frame
  loop must never wait (the app): faces are embedded on a thread of their own and
  people are recognised a few frames later; otherwise (files) embeddings are computed
  at once, so results do not depend on timing.
* ``process(packet) -> list[FrameResult]``: every packet comes out exactly once, in
  order, possibly later (``delay_frames``); ``flush()`` returns what is still held
  at the end of a stream; ``reset()`` starts a new stream (tracks and IDs restart).
* each FrameResult carries the frame image (only its size, (H, W, 0), with
  ``keep_pixels=False``), its faces with track IDs and segments (parameters,
  landmarks, pose; ``vertices`` too when ``dense``), ``detector_ran`` and
  ``timings_ms`` with the stages ``decode``, ``detect``, ``regress``, ``verify``, ``embed``, ``eyes``, ``smooth``,
  ``reconstruct`` (milliseconds spent on that frame).
* ``stats``: running counters (frames in/out, detector calls, face searches, scene
  cuts, tracks started, confirmed, dropped, coasting, recovered and ended, embeddings
  and re-identifications).

Not thread-safe: one pipeline per thread (the ONNX sessions of one analyzer are not
shared across threads).
"""
from __future__ import annotations

import dataclasses
import time

from engine.choices import STAGES, Stage
from engine.analyzer import FaceAnalyzer
from engine.config import EngineConfig
from engine.confirmation import ConfirmationGate
from engine.eye_filter import EyeFilter
from engine.eyes import EyeEstimator
from engine.frames import FramePacket, FrameResult, without_pixels
from engine.reid import EmbeddingQueue, InlineEmbeddingQueue, ThreadedEmbeddingQueue
from engine.smoothing import SMOOTHERS, Smoother, make_smoother
from engine.tracker import FaceTracker

__all__ = ["SMOOTHERS", "STAGES", "PipelineStats", "TrackingPipeline"]



@dataclasses.dataclass
class PipelineStats:
    frames_in: int = 0
    frames_out: int = 0
    detector_calls: int = 0  # full-frame FaceBoxes runs
    search_calls: int = 0  # scheduled searches for new faces (FaceBoxes on the shrunk frame)
    cut_frames: list[int] = dataclasses.field(default_factory=list)  # frame numbers that start a shot
    verify_calls: int = 0  # face-likeness checks (FaceBoxes on a 128x128 ROI)
    tracks_started: int = 0  # tentative tracks born
    tracks_confirmed: int = 0
    tracks_dropped: int = 0  # tentative tracks that failed: never in any output
    tracks_hidden: int = 0  # times a confirmed face was not seen and its track started coasting
    tracks_recovered: int = 0  # coasting tracks seen again (same track ID)
    tracks_lost: int = 0  # tracks ended
    tracks_merged: int = 0  # tracks found to follow the face of an older track, which took it over
    embeddings: int = 0  # faces embedded for re-identification
    embedding_ms: float = 0.0  # model time spent on them
    reidentified: int = 0  # tracks given an earlier person's ID
    face_frames: int = 0  # sum over output frames of the faces in them
    max_faces: int = 0  # most faces in one frame
    lost_reasons: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def scene_cuts(self) -> int:
        return len(self.cut_frames)


class TrackingPipeline:
    """Tracker + smoother + optional dense mesh, fed one FramePacket at a time."""

    def __init__(self, analyzer: FaceAnalyzer, config: EngineConfig | None = None, dense: bool = False,
                 smoother: str = "lookahead", fps: float = 25.0, keep_pixels: bool = True,
                 background_embedding: bool = False) -> None:
        self.analyzer = analyzer
        self.config = config or analyzer.config
        self.dense = bool(dense)
        self.keep_pixels = bool(keep_pixels)
        self.smoother: Smoother = make_smoother(smoother, analyzer.face_model, self.config.smoother, fps=fps)
        self.embeddings: EmbeddingQueue | None = None
        if self.config.tracker.reid:
            embedder = analyzer.face_embedder()
            self.embeddings = (ThreadedEmbeddingQueue(embedder) if background_embedding
                               else InlineEmbeddingQueue(embedder))
        self.tracker = FaceTracker(analyzer, self.config.tracker, embeddings=self.embeddings)
        # Eyes are measured on the tracked frame (the only moment its pixels are sure to be
        # there) and filtered after the smoother, by their own filter (engine.eye_filter).
        eyes = self.config.eyes
        self.eyes: EyeEstimator | None = EyeEstimator(eyes) if eyes.enabled else None
        self.eye_filter: EyeFilter | None = EyeFilter(eyes) if eyes.enabled and smoother != "off" else None
        self.gate = ConfirmationGate(0 if smoother == "realtime" else self.config.tracker.confirm_frames)
        self.stats = PipelineStats()

    @property
    def delay_frames(self) -> int:
        """Frames between a packet going in and its result coming out."""
        return self.gate.delay_frames + self.smoother.delay_frames

    def reset(self) -> None:
        """Start a new stream: forget tracks, IDs, held frames and counters."""
        self.tracker.reset()
        self.gate.reset()
        self.smoother.reset()
        if self.eyes is not None:
            self.eyes.reset()
        if self.eye_filter is not None:
            self.eye_filter.reset()
        self.stats = PipelineStats()

    def close(self) -> None:
        """Stop the embedding thread, if any (the pipeline is not used after this)."""
        if self.embeddings is not None:
            self.embeddings.close()

    def process(self, packet: FramePacket) -> list[FrameResult]:
        """Track one frame; return the frames the smoother releases (oldest first)."""
        step = self.tracker.step(packet.image)
        s = self.stats
        s.frames_in += 1
        s.detector_calls = self.tracker.detector_calls
        s.search_calls = self.tracker.search_calls
        if step.cut:
            s.cut_frames.append(packet.index)
        s.verify_calls = self.tracker.verify_calls
        s.tracks_started += len(step.started)
        s.tracks_confirmed += len(step.confirmed)
        s.tracks_dropped += len(step.dropped)
        s.tracks_hidden += len(step.hidden)
        s.tracks_recovered += len(step.recovered)
        s.tracks_lost += len(step.lost)
        s.tracks_merged += len(step.merged)
        for reason in step.lost.values():
            s.lost_reasons[reason] = s.lost_reasons.get(reason, 0) + 1
        if self.embeddings is not None:
            s.embeddings, s.embedding_ms = self.embeddings.calls, self.embeddings.total_ms
        s.reidentified += len(step.reidentified)
        timings: dict[Stage, float] = {"decode": float(packet.decode_ms), "detect": step.timings_ms.get("detect", 0.0),
                   "regress": step.timings_ms.get("regress", 0.0),
                   "verify": step.timings_ms.get("verify", 0.0), "embed": step.timings_ms.get("embed", 0.0)}
        te = time.perf_counter()
        faces = step.faces
        if self.eyes is not None and faces:
            faces = [dataclasses.replace(tf, face=dataclasses.replace(
                tf.face, eyes=self.eyes.estimate(tf.track_id, packet.image, tf.face))) for tf in faces]
        timings["eyes"] = (time.perf_counter() - te) * 1000
        image = packet.image if self.keep_pixels else without_pixels(packet.image)
        result = FrameResult(index=packet.index, timestamp=packet.timestamp, image=image,
                             faces=faces, detector_ran=step.detector_ran, timings_ms=timings)
        t = time.perf_counter()
        ready = [r for held in self.gate.push(result) for r in self.smoother.push(held)]
        # The smoother's cost is booked on the frame pushed (its timings dict is shared
        # with the result object the smoother holds, so it is there when it comes out).
        timings["smooth"] = (time.perf_counter() - t) * 1000
        return [self._finish(r) for r in ready]

    def flush(self) -> list[FrameResult]:
        """End of stream: every frame still held by the smoother, in order."""
        t = time.perf_counter()
        ready = [r for held in self.gate.flush() for r in self.smoother.push(held)] + self.smoother.flush()
        if ready:
            per = (time.perf_counter() - t) * 1000 / len(ready)
            for r in ready:
                r.timings_ms["smooth"] = r.timings_ms.get("smooth", 0.0) + per
        return [self._finish(r) for r in ready]

    def _finish(self, result: FrameResult) -> FrameResult:
        if self.eye_filter is not None:
            t = time.perf_counter()
            result = self.eye_filter.apply(result)
            result.timings_ms["eyes"] = result.timings_ms.get("eyes", 0.0) + (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        if self.dense and result.faces:
            model = self.analyzer.face_model
            faces = []
            for tf in result.faces:
                vertices = model.dense_vertices(tf.face.params, tf.face.roi)
                faces.append(dataclasses.replace(tf, face=dataclasses.replace(tf.face, vertices=vertices)))
            result = dataclasses.replace(result, faces=faces)
        result.timings_ms["reconstruct"] = (time.perf_counter() - t) * 1000
        s = self.stats
        s.frames_out += 1
        s.face_frames += len(result.faces)
        s.max_faces = max(s.max_faces, len(result.faces))
        return result
