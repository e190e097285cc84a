"""The app's data model: what is open, what is shown, how it plays, and the recent pose history.

Owns every piece of view state: the source, the frame shown, the overlay options,
3D view and focus, playing, speed, loop, mirror, streaming, recording, the last live
readout and its latency, the blinks counted, whether the engine is ready. Knows nothing of Qt (napari's
layering): the main window feeds it from the capture worker's signals, and widgets
(GL view, plots, status bar, the actions' checked and enabled states) observe it
through plain-Python ``Event`` objects. Every method runs on the GUI thread.
Also owns ``face_label``, the one place a face's name on screen is made.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

import numpy as np

from engine.choices import Stage
from engine.config import EyesConfig
from engine.vmc import LiveFrame, VmcTarget
from tracker_app.blink_counter import BlinkCounter
from tracker_app.display_frame import DisplayFrame
from tracker_app.settings import OverlayOptions

_V = TypeVar("_V")


class Event(Generic[_V]):
    """A list of callbacks called in connection order with the emitted value."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[_V], Any]] = []

    def connect(self, callback: Callable[[_V], Any]) -> Callable[[_V], Any]:
        self._callbacks.append(callback)
        return callback

    def emit(self, value: _V) -> None:
        for callback in list(self._callbacks):
            callback(value)


def face_label(person_id: int) -> str:
    """How a face is named on screen (menus, the readout, the status bar): its person number,
    which it keeps through occlusions, cuts and returns (``TrackedFace.person_id``)."""
    return f"Face #{person_id}"


@dataclass(frozen=True)
class SourceInfo:
    """What the worker opened."""

    spec: str  # what the user chose: a path, or a camera index as text
    description: str
    fps: float
    frame_size: tuple[int, int]  # (width, height)
    is_live: bool
    frame_count: int | None  # files: the header's count (can be wrong) until the true one is known
    frame_count_exact: bool = False  # frame_count is the true count (counted, or the end was reached)

    @property
    def path(self) -> Path | None:
        return None if self.is_live else Path(self.spec)


class Plot(Enum):
    """The stacked plots of the plots dock, top to bottom."""

    ANGLES = "angle"  # degrees
    EYES = "openness"  # 0 closed, 1 the person's neutral opening
    TIMING = "engine"  # milliseconds


@dataclass(frozen=True)
class Series:
    """One curve of the plots dock: what it plots of a frame (NaN: nothing on that frame)."""

    name: str
    plot: Plot
    colour: tuple[int, int, int]
    value: Callable[[DisplayFrame], float]


def _pose(frame: DisplayFrame, axis: int) -> float:
    face = frame.primary_face()
    return face.pose.as_tuple()[axis] if face is not None else math.nan


def _openness(frame: DisplayFrame, side: str) -> float:
    """The followed face's openness of one eye (the subject's right or left); NaN when not measured."""
    face = frame.primary_face()
    if face is None or face.eyes is None:
        return math.nan
    eye = face.eyes.right if side == "right" else face.eyes.left
    return float(eye.openness) if eye.valid else math.nan


# The plots dock's curves, and the columns of PoseHistory: a new curve is one row here.
# Angle hues match the pose axes drawn in the view (x red = pitch axis, y green = yaw axis,
# z blue = roll axis); the eyes are the subject's (the right eye is on the image's left).
SERIES: tuple[Series, ...] = (
    Series("yaw", Plot.ANGLES, (60, 200, 60), lambda f: _pose(f, 0)),
    Series("pitch", Plot.ANGLES, (230, 70, 70), lambda f: _pose(f, 1)),
    Series("roll", Plot.ANGLES, (80, 140, 255), lambda f: _pose(f, 2)),
    Series("right eye", Plot.EYES, (255, 170, 60), lambda f: _openness(f, "right")),
    Series("left eye", Plot.EYES, (90, 200, 230), lambda f: _openness(f, "left")),
    Series("frame_ms", Plot.TIMING, (230, 200, 80), lambda f: engine_ms(f.result.timings_ms)),
)


class PoseHistory:
    """The values of ``SERIES`` per frame (yaw, pitch, roll, engine time), for the plots.

    Files (``by_frame``): one row per frame index, kept for the whole file, so a seek
    back shows what was already computed (a frame computed again replaces its row);
    ``arrays`` gives the window around the current frame. Live sources: the last
    ``seconds`` in arrival order."""

    FIELDS = ("t",) + tuple(s.name for s in SERIES)
    # Files: share of the window shown after the current frame (frames computed before a seek back).
    AHEAD = 0.25

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.by_frame = False
        self.fps = 0.0
        self._live: deque[tuple[float, ...]] = deque()
        self._frames: dict[int, tuple[float, ...]] = {}
        self.current: int | None = None  # files: the frame index the window is around

    def __len__(self) -> int:
        return len(self._frames) if self.by_frame else len(self._live)

    def start(self, source: SourceInfo | None) -> None:
        """Forget everything; key the rows by frame index for a file."""
        self._live.clear()
        self._frames.clear()
        self.current = None
        self.by_frame = source is not None and not source.is_live and source.fps > 0
        self.fps = source.fps if source is not None else 0.0

    def clear(self) -> None:
        self._live.clear()
        self._frames.clear()
        self.current = None

    def append(self, frame: DisplayFrame) -> None:
        row = frame_row(frame)
        if self.by_frame:
            self._frames[frame.result.index] = row
            self.current = frame.result.index
            return
        t = row[0]
        if self._live and t < self._live[-1][0]:  # a live clock going back: a new time line
            self._live.clear()
        self._live.append(row)
        while self._live and self._live[0][0] < t - self.seconds:
            self._live.popleft()

    def row(self, index: int) -> tuple[float, ...] | None:
        """Files: the row of frame ``index``, if it was computed."""
        return self._frames.get(index)

    def window(self) -> tuple[float, float]:
        """The x range of ``arrays`` (seconds relative to the current frame)."""
        if self.by_frame:
            return -self.seconds * (1 - self.AHEAD), self.seconds * self.AHEAD
        return -self.seconds, 0.0

    def arrays(self) -> dict[str, np.ndarray]:
        """Columns as float arrays; ``t`` is seconds relative to the current frame (files) or the
        newest sample (live), 0 at the cursor. Frames not computed are NaN (gaps in the curves)."""
        if self.by_frame:
            if self.current is None:
                rows = np.zeros((0, len(self.FIELDS)))
            else:
                lo, hi = self.window()
                first = max(0, self.current + math.floor(lo * self.fps))
                last = self.current + math.ceil(hi * self.fps)
                blank = (math.nan,) * len(self.FIELDS)
                rows = np.array([self._frames.get(i, blank) for i in range(first, last + 1)], np.float64)
                rows[:, 0] = (np.arange(first, last + 1) - self.current) / self.fps
            data = rows.reshape(-1, len(self.FIELDS))
            return {name: data[:, i] for i, name in enumerate(self.FIELDS)}
        data = np.array(self._live, dtype=np.float64).reshape(-1, len(self.FIELDS))
        cols = {name: data[:, i] for i, name in enumerate(self.FIELDS)}
        if len(data):
            cols["t"] = cols["t"] - cols["t"][-1]
        return cols


def frame_row(frame: DisplayFrame) -> tuple[float, ...]:
    """(timestamp, then each of ``SERIES``) of a frame: NaN angles without a face."""
    return (float(frame.result.timestamp),) + tuple(float(s.value(frame)) for s in SERIES)


def engine_ms(timings_ms: dict[Stage, float]) -> float:
    """Engine time of one frame: every stage but decoding (which belongs to the source)."""
    return float(sum(v for k, v in timings_ms.items() if k != "decode"))


class RateMeter:
    """Events per second over a sliding window of arrival times."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()

    def rate(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def reset(self) -> None:
        self._times.clear()


@dataclass(frozen=True)
class PlayState:
    """How the source plays and what goes out: the state menus and toolbar buttons show."""

    engine_ready: bool = False
    playing: bool = False
    speed: float = 1.0  # files: times the file's frame rate
    loop: bool = False  # files: start again at the end
    mirror: bool = False  # the view (and the streamed motion) like a mirror
    streaming: VmcTarget | None = None  # the VMC receiver streamed to
    recording: Path | None = None  # the session folder being written


class ViewerModel:
    """State shared by the widgets; change it only through its methods so observers hear of it."""

    def __init__(self, overlay: OverlayOptions, history_seconds: float, eyes: EyesConfig) -> None:
        self.overlay = overlay
        self.view_3d = False
        self.source: SourceInfo | None = None
        self.frame: DisplayFrame | None = None
        self.state = PlayState()
        self.focus_person: int | None = None  # 3D view: the person centred on (None: frame every face)
        self.frames_shown = 0
        self.live: LiveFrame | None = None  # the followed face of the last frame (pose vs neutral, weights)
        self.followed: int | None = None  # person id of the followed face, the last one seen
        self.blinks = BlinkCounter(eyes)  # every frame shown, with the engine's eyes config
        self.latency_ms = 0.0  # source grab -> on screen, of the last frame
        self.history = PoseHistory(history_seconds)
        self.display_rate = RateMeter()
        # events, each with the value it carries
        self.frame_changed: Event[DisplayFrame | None] = Event()
        self.overlay_changed: Event[OverlayOptions] = Event()
        self.view_mode_changed: Event[bool] = Event()  # view_3d
        self.source_changed: Event[SourceInfo | None] = Event()
        self.state_changed: Event[PlayState] = Event()
        self.playing_changed: Event[bool] = Event()
        self.recording_changed: Event[Path | None] = Event()
        self.focus_changed: Event[int | None] = Event()  # person id
        self.live_changed: Event[LiveFrame | None] = Event()

    # -- state read by the widgets --------------------------------------------------------

    @property
    def playing(self) -> bool:
        return self.state.playing

    @property
    def recording(self) -> Path | None:
        return self.state.recording

    @property
    def is_file(self) -> bool:
        """A file (video, image, folder) is open: seeking, stepping back, loop and speed apply."""
        return self.source is not None and not self.source.is_live

    # -- changes ------------------------------------------------------------------------------

    def set_frame(self, frame: DisplayFrame, now: float) -> None:
        self.frame = frame
        self.frames_shown += 1
        self.latency_ms = (now - frame.pulled_at) * 1000
        self.history.append(frame)
        self.blinks.add(frame.result)
        self.display_rate.tick(now)
        self.frame_changed.emit(frame)

    def set_live(self, live: LiveFrame | None) -> None:
        self.live = live
        if live is not None:
            self.followed = live.person_id
        self.live_changed.emit(live)

    def update_state(self, **changes: Any) -> None:
        """Change fields of ``state`` (``PlayState``); observers hear of a real change only."""
        new = replace(self.state, **changes)
        if new == self.state:
            return
        old, self.state = self.state, new
        if old.playing != new.playing:
            if not new.playing:
                self.display_rate.reset()  # a rate measured before a pause says nothing about now
            self.playing_changed.emit(new.playing)
        if old.recording != new.recording:
            self.recording_changed.emit(new.recording)
        self.state_changed.emit(new)

    def set_source(self, source: SourceInfo | None) -> None:
        self.source = source
        self.frame = None
        self.frames_shown = 0
        self.focus_person = None
        if source is None:
            self.live = None
        self.followed = None
        self.history.start(source)
        self.blinks.reset()
        self.display_rate.reset()
        self.source_changed.emit(source)
        self.frame_changed.emit(None)
        self.state_changed.emit(self.state)  # what is enabled depends on the source

    def update_frame_count(self, count: int, exact: bool = True) -> None:
        """A file's length: the true one (counted, or the end was reached; headers can be wrong),
        or with ``exact=False`` a better estimate (a frame past the header's count was shown)."""
        source = self.source
        if source is None or source.is_live or (source.frame_count_exact and not exact):
            return
        if (source.frame_count, source.frame_count_exact) != (count, exact):
            self.source = replace(source, frame_count=count, frame_count_exact=exact)
            self.source_changed.emit(self.source)

    def set_overlay(self, overlay: OverlayOptions) -> None:
        if overlay != self.overlay:
            self.overlay = overlay
            self.overlay_changed.emit(overlay)

    def update_overlay(self, **changes: Any) -> None:
        self.set_overlay(replace(self.overlay, **changes))

    def set_view_3d(self, on: bool) -> None:
        if on != self.view_3d:
            self.view_3d = on
            self.view_mode_changed.emit(on)
            self.state_changed.emit(self.state)

    def set_focus(self, person_id: int | None) -> None:
        """3D view: centre on this track (None: frame all faces)."""
        if person_id != self.focus_person:
            self.focus_person = person_id
            self.focus_changed.emit(person_id)

    def set_playing(self, playing: bool) -> None:
        self.update_state(playing=playing)


def readout_text(model: ViewerModel, live: LiveFrame | None) -> str:
    """The view's readout: the followed face's pose relative to neutral, and the latency."""
    if model.source is None:
        return ""
    latency = f"latency {model.latency_ms:4.0f} ms"
    if live is None:
        return f"no face\n{latency}"
    m = live.motion
    return (f"{face_label(live.person_id).lower()}  yaw {m.yaw:+6.1f}°  pitch {m.pitch:+6.1f}°  "
            f"roll {m.roll:+6.1f}°\n{latency}")


def blinks_text(model: ViewerModel) -> str:
    """The status bar's blink counter: the followed face's blinks in the frames shown."""
    person = model.followed
    if person is None:
        return ""
    return f"{face_label(person)}: {model.blinks.blinks(person)} blinks"


def frame_counter_text(index: int, total: int | None, exact: bool) -> str:
    """``"30 / 55"`` (frame 30, 0-based like the exports, of 55), or ``"30 / ~158"`` while the total
    is only the header's claim."""
    if not total:
        return f"{index}"
    return f"{index} / {total}" if exact else f"{index} / ~{total}"
