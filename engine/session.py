"""The one session runner: source -> tracking pipeline -> exports and other sinks.

    from engine.session import ExportOptions, SessionOptions, run_session
    from engine.frame_selection import FrameSelection

    options = SessionOptions(dense=True, exports=ExportOptions(video=True, meshes=FrameSelection.parse("0-10")))
    with open_source("clip.mp4") as source:
        summary = run_session(source, analyzer, options, Path("out"))
    print(summary.frames, summary.complete, summary.error)

``run_session`` is the loop of ``tracker-app track``, the benchmarks and batch runs;
the app drives a ``Session`` frame by frame (``feed`` / ``finish``). Both write the
same files and the same ``run.json`` (engine.run_record).

Failure rules: a source error or a failed write (full disk, removed folder) ends
the run with ``summary.error`` set and ``complete`` false; every frame processed
until then, including the frames the smoother still held, goes to the sinks that
still work. Programming errors propagate, after every file has been closed.
"""
from __future__ import annotations

import dataclasses
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from engine.errors import UsageError, one_line
from engine.animation_export import ANIMATION_FORMATS
from engine.config import EngineConfig
from engine.eye_stats import EyeStats
from engine.frame_selection import FrameSelection
from engine.frames import FramePacket, FrameResult
from engine.interrupts import deferred_interrupts
from engine.mesh_export import MESH_FORMATS, MESH_SPACES
from engine.choices import EXPORT_STAGE, RENDER_MODES, SMOOTHERS, STAGES
from engine.name_lists import check_names
from engine.out_lock import OutDirLock, lock_out_dir
from engine.pipeline import TrackingPipeline
from engine.run_record import RunRecord, prepare_out_dir
from engine.stage_times import StageTimes

if TYPE_CHECKING:
    from engine.analyzer import FaceAnalyzer
    from engine.face_model import FaceModel
    from engine.video_source import SourceEnding, VideoSource



class ResultSink(Protocol):
    """Consumes results in frame order: exporters, the VMC sender, ..."""

    def write(self, result: FrameResult) -> None: ...

    def close(self) -> None: ...


class FileExporter(ResultSink, Protocol):
    """A sink that writes files into the session's folder."""

    @property
    def paths(self) -> list[Path]: ...


@dataclass(frozen=True)
class ExportOptions:
    """What a session writes into its output folder."""

    table: bool = True  # faces.csv + faces.npz (table v3)
    video: bool = False  # overlay.avi
    render: tuple[str, ...] = ()  # "mesh" (shaded under the overlay), "depth", "pncc"
    frames: FrameSelection = FrameSelection.none()  # PNG frames
    meshes: FrameSelection = FrameSelection.none()  # per-frame mesh files
    mesh_formats: tuple[str, ...] = ("obj", "ply")
    mesh_space: str = "image"  # "image" | "head"
    mesh_texture: bool = False
    animation: tuple[str, ...] = ()  # "glb", "pc2" -> out/animation/track_<id>.{glb,pc2}, track_<id>_base.obj
    overwrite: bool = False  # else refuse a folder holding an earlier run

    @property
    def reads_pixels(self) -> bool:
        """Whether an export draws on or samples the frames (the table only needs their size)."""
        return bool(self.video or self.frames or self.meshes or self.animation)

    def __post_init__(self) -> None:
        if self.mesh_space not in MESH_SPACES:
            raise UsageError(f"unknown mesh space '{self.mesh_space}' (choose {', '.join(MESH_SPACES)})")
        if not self.mesh_formats or any(f not in MESH_FORMATS for f in self.mesh_formats):
            raise UsageError(f"mesh formats must be obj and/or ply, got '{','.join(self.mesh_formats)}'")
        check_names(self.render, RENDER_MODES, "render mode")
        for fmt in self.animation:
            if fmt not in ANIMATION_FORMATS:
                raise UsageError(f"unknown animation format '{fmt}' (choose from {', '.join(ANIMATION_FORMATS)})")

    def to_dict(self) -> dict[str, object]:
        """run.json form (frame selections as frame lists)."""
        d = dataclasses.asdict(self)
        d["frames"], d["meshes"] = self.frames.text(), self.meshes.text()
        return d


@dataclass(frozen=True)
class SessionOptions:
    dense: bool = False
    smoother: str = "lookahead"  # "lookahead" | "realtime" | "off"
    max_frames: int | None = None
    exports: ExportOptions = ExportOptions()
    # Tracker and smoother settings; None: the analyzer's own config. (The app changes
    # tracker options without reloading the models.)
    config: EngineConfig | None = None
    # run_session on a file: decode, track and export on overlapping threads (the same
    # results and files as one thread). None: the config's runtime.pipelined.
    pipelined: bool | None = None
    # Whether results keep the frame's pixels (FrameResult.image). None: only when an export
    # reads them (ExportOptions.reads_pixels); sinks and on_result callbacks that draw on
    # frames need True. Without them a table-only run holds no frame past its tracking.
    keep_pixels: bool | None = None
    # Faces embedded for re-identification on a thread of their own (the app: its frame
    # loop never waits), instead of at once (files: results independent of timing). Whoever
    # makes such a session closes its pipeline (``TrackingPipeline.close``) when done with it.
    background_embedding: bool = False

    @property
    def results_keep_pixels(self) -> bool:
        return self.exports.reads_pixels if self.keep_pixels is None else self.keep_pixels

    def runs_pipelined(self, config: EngineConfig) -> bool:
        """Whether ``run_session`` runs a file on overlapping threads (``pipelined``, or the config's)."""
        return config.runtime.pipelined if self.pipelined is None else self.pipelined

    def decoder_threads(self, config: EngineConfig) -> int | None:
        """FFmpeg threads to open a file with for this run (None: FFmpeg's choice)."""
        if not self.runs_pipelined(config):
            return None
        return config.runtime.pipelined_decoder_threads or None

    def __post_init__(self) -> None:
        if self.smoother not in SMOOTHERS:
            raise UsageError(f"unknown smoother '{self.smoother}' (choose {', '.join(SMOOTHERS)})")
        if self.max_frames is not None and self.max_frames < 1:
            raise UsageError("max_frames must be at least 1")


@dataclass(frozen=True)
class SourceDescription:
    """What run.json says about the source; taken from a VideoSource or given by hand."""

    description: str
    fps: float
    frame_size: tuple[int, int]  # (width, height)
    is_live: bool = False
    frame_count: int | None = None  # the container's claim, when there is one
    frame_count_exact: bool = False  # counted (image folders, or a video read to its end), not claimed

    @classmethod
    def of(cls, source: "VideoSource") -> "SourceDescription":
        """From an engine.video_source.VideoSource (its declared frame count: an estimate until counted)."""
        count = source.frame_count
        w, h = source.frame_size
        return cls(description=str(source.description), fps=float(source.fps), frame_size=(int(w), int(h)),
                   is_live=bool(source.is_live), frame_count=count, frame_count_exact=source.frame_count_exact)


@dataclass
class SessionSummary:
    """run.json "summary", identical for every front end."""

    frames_read: int = 0  # packets fed
    frames: int = 0  # results released (= frames_read once finished)
    frames_with_faces: int = 0
    rows: int = 0  # faces over all frames
    tracks: int = 0  # tracks in the outputs (confirmed)
    people: int = 0  # distinct person IDs in the outputs
    max_faces_in_a_frame: int = 0
    detector_calls: int = 0
    face_checks: int = 0
    scene_cuts: int = 0
    cut_frames: list[int] = field(default_factory=list)  # frame numbers that start a new shot
    tracks_dropped: int = 0  # tentative tracks that failed before confirmation: in no output
    tracks_hidden: int = 0  # times a face was not seen and its track coasted (no rows meanwhile)
    tracks_recovered: int = 0  # coasting tracks seen again, same track ID
    tracks_lost: int = 0  # tracks ended (coasted too long, or a scene cut)
    tracks_merged: int = 0  # second tracks on one face, merged into the older track
    lost_reasons: dict[str, int] = field(default_factory=dict)
    embeddings: int = 0  # faces embedded for re-identification
    embedding_ms: float = 0.0  # model time spent embedding
    reidentified: int = 0  # tracks given the ID of a person seen before
    started_at_frame: int | None = None  # frame number of the first packet fed (= the table's first row)
    last_frame: int | None = None  # frame number of the last result exported
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    interrupted: bool = False
    error: str | None = None
    warning: str | None = None
    complete: bool = False  # read to the end, no error
    ms_per_frame_median: dict[str, float] = field(default_factory=dict)
    ms_per_frame_mean: dict[str, float] = field(default_factory=dict)
    # Blinks per minute, mean blink duration and PERCLOS per track and per person (engine.eye_stats).
    eyes: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class Session:
    """Frame-by-frame core: ``feed`` packets, then ``finish`` once.

    ``out_dir=None`` writes no files (the sinks still get every result). ``pipeline``: go on
    with the tracking of an earlier session (the app's, when a recording stops) instead of
    starting it afresh."""

    def __init__(self, analyzer: "FaceAnalyzer", options: SessionOptions, out_dir: Path | None,
                 source: SourceDescription, sinks: Sequence[ResultSink] = (),
                 pipeline: TrackingPipeline | None = None) -> None:
        self.options = options
        self.source = source
        self.out_dir = Path(out_dir) if out_dir is not None else None
        config = options.config or analyzer.config
        self.pipeline = pipeline or TrackingPipeline(analyzer, config, dense=options.dense,
                                                     smoother=options.smoother, fps=source.fps,
                                                     keep_pixels=options.results_keep_pixels,
                                                     background_embedding=options.background_embedding)
        self.summary = SessionSummary()
        self.error: str | None = None  # first failed write; the run should end
        self._track_ids: set[int] = set()
        self._person_ids: set[int] = set()
        self._eye_stats = EyeStats(config.eyes, source.fps)
        self._stage_ms = StageTimes(STAGES + (EXPORT_STAGE,))  # constant memory: runs can last hours
        self._t0, self._cpu0 = time.perf_counter(), time.process_time()
        self._finished = False
        self._flushed = False
        self._record: RunRecord | None = None
        self._exporters: list[FileExporter] = []
        self._lock: OutDirLock | None = None  # held from here to the end of finish
        if self.out_dir is not None:
            _check_mesh_space(self.out_dir, options, analyzer.face_model, source)  # before anything is written
            self._lock = lock_out_dir(self.out_dir)
            try:
                prepare_out_dir(self.out_dir, options.exports.overwrite)
                self._record = RunRecord(self.out_dir, self._description(config))
                self._record.start()
                self._exporters = _make_exporters(self.out_dir, options.exports, analyzer.face_model, source,
                                                  lambda pid: self.pipeline.tracker.people.resolve(pid))
            except BaseException:
                self._lock.release()
                raise
        self._sinks: list[ResultSink] = [*self._exporters, *sinks]

    def _description(self, config: EngineConfig) -> dict[str, object]:
        s, o = self.source, self.options
        from engine.table import table_schema

        return {"source": {"description": s.description, "fps": s.fps, "frame_size": list(s.frame_size),
                           "live": s.is_live, "frame_count": s.frame_count},
                "options": {"dense": o.dense, "smoother": o.smoother, "smoother_delay_frames": self.delay_frames,
                            "max_frames": o.max_frames, "exports": o.exports.to_dict()},
                "config": {"tracker": dataclasses.asdict(config.tracker),
                           "smoother": dataclasses.asdict(config.smoother)},
                "table": table_schema() if o.exports.table else None}

    @property
    def delay_frames(self) -> int:
        return self.pipeline.delay_frames

    @property
    def paths(self) -> list[Path]:
        """Files written so far by the exporters (run.json aside)."""
        return [p for e in self._exporters for p in e.paths]

    def feed(self, packet: FramePacket) -> list[FrameResult]:
        """Track one frame; the results released (oldest first), already exported and sent.

        A failed write does not raise: ``error`` is set, that sink is dropped, and the
        caller should end the run (``finish``)."""
        with deferred_interrupts():  # a frame the smoother released reaches the files
            results = self.track(packet)
            self.export(results)
        return results

    def track(self, packet: FramePacket) -> list[FrameResult]:
        """``feed`` without the exports: the released results, for ``export`` (pipelined runs
        call the two on different threads, ``export`` in frame order)."""
        if self._finished:
            raise ValueError("session is finished")
        s = self.summary
        if s.started_at_frame is None:
            s.started_at_frame = packet.index
        s.frames_read += 1
        return self.pipeline.process(packet)

    def export(self, results: list[FrameResult]) -> None:
        """Write ``results`` (from ``track`` or ``track_flush``, oldest first) to the files and sinks."""
        self._emit(results)

    def track_flush(self) -> list[FrameResult]:
        """``flush`` without the exports (once): the frames the smoother still holds."""
        if self._flushed or self._finished:
            return []
        self._flushed = True
        return self.pipeline.flush()

    def discard_held(self) -> None:
        """Drop the frames the smoother holds, unexported: the files end at the last frame
        exported (a pipelined stage crashed with results still queued)."""
        self._flushed = True

    def _emit(self, results: list[FrameResult]) -> None:
        for r in results:
            # A second Ctrl-C waits for the frame to be in every file and counted.
            with deferred_interrupts():
                self._emit_one(r)

    def _emit_one(self, r: FrameResult) -> None:
        s = self.summary
        t = time.perf_counter()
        for sink in list(self._sinks):
            try:
                sink.write(r)
            except OSError as e:
                self._fail(str(e))
                self._sinks.remove(sink)
                self._close_quietly(sink)
        r.timings_ms[EXPORT_STAGE] = (time.perf_counter() - t) * 1000
        self._stage_ms.add(r.timings_ms)
        s.frames += 1
        s.last_frame = r.index
        s.rows += len(r.faces)
        s.frames_with_faces += bool(r.faces)
        self._track_ids.update(tf.track_id for tf in r.faces)
        self._person_ids.update(tf.person_id for tf in r.faces)
        self._eye_stats.add(r)

    def _fail(self, message: str) -> None:
        if self.error is None:  # the first failure is the one to report
            self.error = message

    @staticmethod
    def _close_quietly(sink: ResultSink) -> None:
        try:
            sink.close()
        except OSError:
            pass

    def flush(self) -> list[FrameResult]:
        """End of stream: the frames the smoother still holds, exported and sent (once)."""
        with deferred_interrupts():
            results = self.track_flush()
            self._emit(results)
        return results

    def finish(self, *, interrupted: bool = False, error: str | None = None,
               warning: str | None = None, ending: SourceEnding | None = None) -> SessionSummary:
        """Flush the smoother, export the rest, close every sink, write the final run.json
        (with ``ending``: how reading the source ended). A second Ctrl-C meanwhile waits
        for the final run.json."""
        if self._finished:
            return self.summary
        with deferred_interrupts():
            self._finish(interrupted, error, warning, ending)
        return self.summary

    def _finish(self, interrupted: bool, error: str | None, warning: str | None,
                ending: SourceEnding | None) -> None:
        if error is not None:
            self._fail(error)
        try:
            self.flush()
        finally:
            self._finished = True
            for sink in self._sinks:
                try:
                    sink.close()
                except OSError as e:
                    self._fail(str(e))
            self._sinks = []
            self.summary.warning = warning
            self._complete_summary(interrupted)
            if self._record is not None:
                try:
                    self._record.finish(self.summary.to_dict(), self._files(),
                                        source=ending.to_dict() if ending is not None else None)
                except OSError as e:
                    self._fail(str(e))
                    self.summary.error = self.error
                    self.summary.complete = False
            if self._lock is not None:
                self._lock.release()

    def _files(self) -> list[str]:
        """Written files, relative to the output folder."""
        assert self.out_dir is not None
        out: list[str] = []
        for p in self.paths:
            try:
                out.append(str(p.relative_to(self.out_dir)))
            except ValueError:
                out.append(str(p))
        return out

    def _complete_summary(self, interrupted: bool) -> None:
        s = self.summary
        stats = self.pipeline.stats
        s.tracks = len(self._track_ids)
        # The final word on who is who: a track recognised later as someone seen before
        # carried a provisional ID in its first rows (people.csv lists both).
        resolve = self.pipeline.tracker.people.resolve
        s.people = len({resolve(pid) for pid in self._person_ids})
        s.max_faces_in_a_frame = stats.max_faces
        s.detector_calls = stats.detector_calls
        s.face_checks = stats.verify_calls
        s.scene_cuts = stats.scene_cuts
        s.cut_frames = list(stats.cut_frames)
        s.tracks_dropped = stats.tracks_dropped
        s.tracks_hidden = stats.tracks_hidden
        s.tracks_recovered = stats.tracks_recovered
        s.tracks_lost = stats.tracks_lost
        s.tracks_merged = stats.tracks_merged
        s.lost_reasons = dict(stats.lost_reasons)
        s.embeddings = stats.embeddings
        s.embedding_ms = round(stats.embedding_ms, 1)
        s.reidentified = stats.reidentified
        s.seconds = round(time.perf_counter() - self._t0, 3)
        s.cpu_seconds = round(time.process_time() - self._cpu0, 3)
        s.interrupted = bool(interrupted)
        s.error = self.error
        s.complete = not interrupted and self.error is None
        s.ms_per_frame_median = {k: round(v, 3) for k, v in self._stage_ms.medians().items()}
        s.ms_per_frame_mean = {k: round(v, 3) for k, v in self._stage_ms.means().items()}
        s.eyes = self._eye_stats.summary(resolve)


def run_session(source: "VideoSource", analyzer: "FaceAnalyzer", options: SessionOptions,
                out_dir: Path | None, *, sinks: Sequence[ResultSink] = (),
                stop: Callable[[], bool] = lambda: False,
                on_result: Callable[[FrameResult], None] | None = None) -> SessionSummary:
    """Run ``source`` to its end (or ``max_frames``, or until ``stop()`` is true) through one Session.

    Ctrl-C (KeyboardInterrupt) ends the run as interrupted, with everything kept.
    Files run pipelined when ``options.pipelined`` (or, when None, the config's
    runtime.pipelined) is true: see ``PipelinedRun``; live sources always run on this thread (their
    reader keeps only the newest frame, which a queue in front of the tracker would undo)."""
    config = options.config or analyzer.config
    pipelined = options.runs_pipelined(config)
    session: Session | None = None
    try:
        with deferred_interrupts():  # a Ctrl-C while the session starts is raised once it exists
            session = Session(analyzer, options, out_dir, SourceDescription.of(source), sinks)
    except KeyboardInterrupt:
        if session is None:
            raise
        return _end_interrupted(session, source, None)
    runner: PipelinedRun | None = None
    reader: SourceReader | None = None
    try:
        if pipelined and not source.is_live:
            runner = PipelinedRun(session, source, config.runtime.pipeline_queue_frames, stop, on_result)
            return runner.run()
        reader = SourceReader(source, session.source.description)
        return _run_serial(session, reader, source, stop, on_result)
    except KeyboardInterrupt:
        # The command line's second Ctrl-C raises wherever the main thread is: between two
        # deferred sections (after the loop, before the flush, while finish's arguments are
        # gathered) it skipped the run's end, leaving run.json unfinished. The run ends here.
        if runner is not None:
            with deferred_interrupts():
                return runner.end_interrupted()
        return _end_interrupted(session, source, reader.error if reader is not None else None)


def _end_interrupted(session: Session, source: "VideoSource", read_error: str | None) -> SessionSummary:
    """End a run that a KeyboardInterrupt left between two deferred sections: flush, close, final run.json."""
    with deferred_interrupts():  # one more Ctrl-C waits for the final run.json
        return session.finish(interrupted=True, error=read_error or source.error, warning=source.warning,
                              ending=source.ending())


def _run_serial(session: Session, reader: "SourceReader", source: "VideoSource", stop: Callable[[], bool],
                on_result: Callable[[FrameResult], None] | None) -> SessionSummary:
    """The one-thread loop of ``run_session``."""
    options = session.options
    interrupted = False
    try:
        while (packet := reader.next()) is not None:
            for result in session.feed(packet):
                if on_result is not None:
                    on_result(result)
            if session.error is not None:
                break
            if options.max_frames is not None and session.summary.frames_read >= options.max_frames:
                break
            if stop():
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    except BaseException as e:
        session.finish(error=f"{type(e).__name__}: {e}")
        raise
    error = reader.error or source.error
    try:
        for result in session.flush():  # the frames the smoother still holds
            if on_result is not None:
                on_result(result)
    except KeyboardInterrupt:
        interrupted = True
    except BaseException as e:
        session.finish(error=f"{type(e).__name__}: {e}")
        raise
    return session.finish(interrupted=interrupted, error=error, warning=source.warning,
                          ending=source.ending())


def _check_mesh_space(out_dir: Path, options: SessionOptions, face_model: "FaceModel",
                      source: SourceDescription) -> None:
    from engine.mesh_export import check_mesh_space

    exports, count = options.exports, source.frame_count
    if count is not None and options.max_frames is not None:
        count = min(count, options.max_frames)
    check_mesh_space(out_dir, face_model, exports.mesh_formats, exports.mesh_texture, exports.meshes, count,
                     counted=source.frame_count_exact)


def _make_exporters(out_dir: Path, exports: ExportOptions, face_model: "FaceModel",
                    source: SourceDescription, resolve_person: Callable[[int], int]) -> list[FileExporter]:
    """The sinks that write ``exports`` into ``out_dir``; closes what it opened if one fails."""
    from engine.animation_export import AnimationExporter
    from engine.mesh_export import MeshExporter, MeshWriter
    from engine.people_table import PeopleWriter
    from engine.recorder import OverlayExporter
    from engine.table import TableWriter

    made: list[FileExporter] = []
    try:
        if exports.table:
            made.append(TableWriter(out_dir, face_model))
            made.append(PeopleWriter(out_dir, resolve_person))
        if exports.video or exports.frames:
            made.append(OverlayExporter(out_dir, face_model, source.fps, source.frame_size, video=exports.video,
                                        frames=exports.frames, render=exports.render))
        if exports.meshes:
            writer = MeshWriter(face_model, exports.mesh_formats, exports.mesh_space, exports.mesh_texture)
            made.append(MeshExporter(out_dir, writer, exports.meshes))
        if exports.animation:
            made.append(AnimationExporter(out_dir, face_model, exports.animation, source.fps,
                                          texture=exports.mesh_texture))
    except BaseException:
        for sink in made:
            Session._close_quietly(sink)
        raise
    return made


class SourceReader:
    """The one read step of a run, serial or pipelined: ``next()`` gives the source's next
    packet, or None at its end or at its first failure. A failing source (a decoder error, an
    unreadable file) is an input error: reading stops and ``error`` says so in one line.
    KeyboardInterrupt and MemoryError are not the source's fault and pass through."""

    def __init__(self, source: "VideoSource", description: str) -> None:
        self.description = description
        self.error: str | None = None
        self.read = 0
        self._packets = iter(source)

    def next(self) -> FramePacket | None:
        try:
            packet = next(self._packets)
        except StopIteration:
            return None
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as e:
            self.error = f"{self.description}: reading stopped after {self.read} frames ({one_line(e)})"
            return None
        self.read += 1
        return packet


# -- pipelined runs -------------------------------------------------------------------------

_END = object()  # a stage's last item
_POLL_S = 0.05  # how often a blocked stage looks whether the run is over


class PipelinedRun:
    """One Session run as three overlapping stages: decode -> track -> export.

    The source is read on a thread of its own and the exports (drawing, rendering,
    JPEG encoding, rows) on another, each handing frames on through a bounded queue,
    while this thread tracks: OpenCV, onnxruntime and the render_c kernels release
    the GIL, so on two cores a run costs about its slowest stage rather than the sum.
    The tracker and the smoother stay on one thread (each frame's crop comes from the
    previous frame's landmarks) and the exports see the results in frame order, so
    every file is the same as a one-thread run writes.

    Guarantees, as in the one-thread loop: every packet tracked is exported, in order;
    ``stop()`` or Ctrl-C ends the run after the frame being tracked (packets decoded
    but not tracked yet are dropped and not counted), with the smoother's frames
    flushed; a source error ends it the same way, with ``summary.error``. A crash of
    the tracker (a programming error) flushes what was tracked and then propagates;
    a crash of an export stops the exports where they are (the files end at the last
    frame exported, run.json says so) and propagates.
    """

    def __init__(self, session: Session, source: "VideoSource", queue_frames: int,
                 stop: Callable[[], bool], on_result: Callable[[FrameResult], None] | None) -> None:
        self.session = session
        self.source = source
        self.stop = stop
        self.on_result = on_result
        depth = max(1, int(queue_frames))
        self._packets: queue.Queue[object] = queue.Queue(depth)
        self._results: queue.Queue[object] = queue.Queue(depth)
        self._halt = threading.Event()  # decoding must end (stop, error, enough frames)
        self._source_error: str | None = None
        self._crash: BaseException | None = None  # first programming error of any stage
        self._export_crashed = threading.Event()
        self._decoder = threading.Thread(target=self._decode, name="session-decode", daemon=True)
        self._exporter = threading.Thread(target=self._export, name="session-export", daemon=True)

    def run(self) -> SessionSummary:
        session, options = self.session, self.session.options
        interrupted = False
        self._decoder.start()
        self._exporter.start()
        try:
            try:
                while session.error is None and not self._export_crashed.is_set():
                    packet = self._get(self._packets)
                    if packet is _END:
                        break
                    assert isinstance(packet, FramePacket)
                    with deferred_interrupts():  # what the smoother released reaches the exporter
                        self._put(self._results, session.track(packet))
                    if options.max_frames is not None and session.summary.frames_read >= options.max_frames:
                        break
                    if self.stop():
                        interrupted = True
                        break
            except KeyboardInterrupt:
                interrupted = True
            except BaseException as e:  # the tracker: flush what it released, then propagate
                self._crash = self._crash or e
            self._halt.set()
            interrupted = self._join(self._decoder) or interrupted
            if self._export_crashed.is_set():
                session.discard_held()
            else:
                try:
                    with deferred_interrupts():
                        self._put(self._results, session.track_flush())
                except KeyboardInterrupt:
                    interrupted = True
                except BaseException as e:
                    self._crash = self._crash or e
        finally:
            self._halt.set()
            self._end_exports()
            interrupted = self._join(self._exporter) or interrupted
        error = self._source_error or self.source.error
        crash = self._crash
        if crash is not None:
            session.discard_held()
            session.finish(error=f"{type(crash).__name__}: {crash}")
            raise crash
        return session.finish(interrupted=interrupted, error=error,
                              warning=self.source.warning, ending=self.source.ending())

    def end_interrupted(self) -> SessionSummary:
        """End the run after a KeyboardInterrupt that escaped ``run``'s own handling (waiting
        for the exporter, say; ``run_session`` calls it in a deferred section): stop the stages
        in order, then flush and finish (once)."""
        self._halt.set()
        self._join(self._decoder)
        self._end_exports()
        self._join(self._exporter)  # every result handed over is exported before the flush below
        crash = self._crash
        if crash is not None or self._export_crashed.is_set():
            self.session.discard_held()
        error = f"{type(crash).__name__}: {crash}" if crash is not None else self._source_error
        summary = _end_interrupted(self.session, self.source, error)
        if crash is not None:
            raise crash
        return summary

    def _end_exports(self) -> None:
        """Tell the exporter that no more results come (it drains the queue, even after a crash)."""
        if self._exporter.is_alive():
            self._results.put(_END)

    @staticmethod
    def _join(thread: threading.Thread) -> bool:
        """Wait for a stage that was told to end (it does within a frame); True when Ctrl-C
        came meanwhile: the run is then interrupted, but its files are still closed in order."""
        interrupted = False
        while thread.is_alive():
            try:
                thread.join()
            except KeyboardInterrupt:
                interrupted = True
        return interrupted

    # -- stages (threads) ---------------------------------------------------------------------

    def _decode(self) -> None:
        reader = SourceReader(self.source, self.session.source.description)
        try:
            while (packet := reader.next()) is not None:
                if not self._put(self._packets, packet, until=self._halt) or self._halt.is_set():
                    return
        except (KeyboardInterrupt, MemoryError) as e:
            self._crash = self._crash or e
        self._source_error = reader.error
        self._put(self._packets, _END, until=self._halt)

    def _export(self) -> None:
        while True:
            item = self._results.get()
            if item is _END:
                return
            if self._export_crashed.is_set():
                continue  # drain, so the tracker never blocks on a dead stage
            try:
                assert isinstance(item, list)
                self.session.export(item)
                if self.on_result is not None:
                    for result in item:
                        self.on_result(result)
            except BaseException as e:
                self._crash = self._crash or e
                self._export_crashed.set()

    # -- queues that give up when the run is over -----------------------------------------------

    def _put(self, q: "queue.Queue[object]", item: object, until: threading.Event | None = None) -> bool:
        """Put ``item``; False when ``until`` was set first (or the exports died, for results)."""
        until = until or self._export_crashed
        while True:
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                if until.is_set():
                    return False

    def _get(self, q: "queue.Queue[object]") -> object:
        while True:
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                if self._export_crashed.is_set() or not self._decoder.is_alive() and q.empty():
                    return _END
