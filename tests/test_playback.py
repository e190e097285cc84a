"""The app's playback core (engine.playback) driven directly: no Qt, no display, real models and media."""
from __future__ import annotations

import csv
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.config import EngineConfig
from engine.playback import Playback, PlaybackOptions, ShownFrame
from engine.session import ExportOptions
from engine.video_source import ImageFolderSource, VideoSource, open_source
from tests.support.video_fixtures import iter_video_frames, write_clip


@dataclass
class Events:
    """A PlaybackListener that writes down what it is told."""

    frames: list[int] = field(default_factory=list)
    faces: list[int] = field(default_factory=list)
    playing: list[bool] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    closed: int = 0
    recordings: list[Path | None] = field(default_factory=list)

    def frame(self, shown: ShownFrame) -> None:
        result, pulled_at = shown.result, shown.pulled_at
        assert pulled_at <= time.monotonic()
        self.frames.append(result.index)
        self.faces.append(len(result.faces))

    def playing_changed(self, playing: bool) -> None:
        self.playing.append(playing)

    def failed(self, title: str, message: str) -> None:
        self.failures.append((title, message))

    def notice(self, message: str) -> None:
        self.notices.append(message)

    def no_faces(self, message: str) -> None:
        self.no_face.append(message)

    def end_of_stream(self, frames_read: int) -> None:
        self.ends.append(frames_read)

    def frame_count_known(self, frames: int) -> None:
        self.counts.append(frames)

    def source_closed(self) -> None:
        self.closed += 1

    def recording_changed(self, folder: Path | None) -> None:
        self.recordings.append(folder)


@pytest.fixture
def obama(media_dir: Path) -> Path:
    return media_dir / "obama.mp4"


def _playback(analyzer, smoother: str = "lookahead", no_face_frames: int = 3) -> tuple[Playback, Events]:
    events = Events()
    options = PlaybackOptions(config=EngineConfig.load(), file_smoother=smoother, no_face_frames=no_face_frames)
    return Playback(analyzer, options, events), events


def _open(playback: Playback, spec: str | Path) -> VideoSource:
    source = open_source(spec)
    playback.open(source, lambda: open_source(spec))
    return source


def _play_to_end(playback: Playback, limit: int = 10_000) -> None:
    """What the capture thread's timer does, without the waits between frames."""
    for _ in range(limit):
        if not playback.playing:
            return
        playback.advance()
    raise AssertionError("still playing")


def test_a_file_plays_every_frame_once_in_order_and_ends(live_analyzer, obama) -> None:
    playback, events = _playback(live_analyzer)
    _open(playback, obama)
    assert playback.playing and events.playing == [True]
    assert playback.due_in() == 0.0  # the first frame is due at once
    # A file is paced at its frame rate over speed: after one frame, the next is due a
    # period later, counted from when the clock (re)started.
    period = 1.0 / playback.source.fps
    playback.set_speed(0.01)  # a 4 s period: longer than any frame takes, even on a busy machine
    clock = time.monotonic()
    playback.advance()
    expected = period / 0.01 - (time.monotonic() - clock)
    assert expected > 0 and playback.due_in() == pytest.approx(expected, abs=0.01)
    playback.set_speed(1.0)
    assert playback.due_in() == 0.0  # the frames to come are paced from now
    _play_to_end(playback)
    assert events.frames == list(range(55))  # the look-ahead smoother's last frames included
    assert min(events.faces) == 1
    assert events.playing == [True, False] and events.ends == [55] and playback.at_end
    assert events.failures == [] and events.no_face == []
    # Play after the end starts the file again.
    playback.play()
    assert playback.playing and playback.read == 0


def test_seek_and_step_land_on_exact_frames_even_at_the_end(live_analyzer, obama) -> None:
    playback, events = _playback(live_analyzer)
    _open(playback, obama)
    playback.pause()
    playback.seek(30)
    assert events.frames == [30]  # shown at once, paused
    playback.step()
    assert events.frames == [30, 31]
    # Near the end, the look-ahead smoother releases the frames after the one sought at
    # the final flush: they wait for Step.
    playback.seek(53)
    assert events.frames[-1] == 53 and list(r.index for r in playback.held) == [54]
    playback.step()
    assert events.frames[-1] == 54 and not playback.held
    # Past the end of the file: clamped to the last frame.
    playback.seek(10_000)
    assert events.frames[-1] == 54 and events.counts == [55]  # the header promised 158
    assert not playback.playing


def test_play_after_a_seek_near_the_end_shows_the_frames_read_ahead_then_stops(live_analyzer, obama) -> None:
    playback, events = _playback(live_analyzer)
    _open(playback, obama)
    playback.pause()
    playback.seek(51)
    ahead = [r.index for r in playback.held]
    assert events.frames == [51] and ahead == list(range(52, 55))
    playback.play()
    assert events.frames == list(range(51, 55)) and not playback.held and not playback.playing
    assert events.ends == [55]  # said once, when the seek reached the end


def test_loop_starts_the_file_again_and_speed_keeps_every_frame(live_analyzer, obama) -> None:
    playback, events = _playback(live_analyzer, smoother="realtime")
    _open(playback, obama)
    playback.loop = True
    for _ in range(55 + 10):
        playback.advance()
    assert playback.playing and events.ends == [55]
    assert events.frames == list(range(55)) + list(range(9))  # the realtime smoother has no delay


def _image_folder(folder: Path, media_dir: Path, blank_from: int | None = None) -> Path:
    folder.mkdir()
    cap = cv2.VideoCapture(str(media_dir / "obama.mp4"))
    for i in range(6):
        ok, image = cap.read()
        assert ok
        if blank_from is not None and i >= blank_from:
            image = np.full_like(image, 90)
        cv2.imwrite(str(folder / f"frame_{i:02d}.png"), image)
    cap.release()
    return folder


def test_a_folder_without_seek_goes_back_by_reopening(live_analyzer, media_dir, tmp_path) -> None:
    folder = _image_folder(tmp_path / "frames", media_dir)
    playback, events = _playback(live_analyzer, smoother="realtime")
    opened: list[ImageFolderSource] = []

    def reopen() -> ImageFolderSource:
        opened.append(ImageFolderSource(folder))
        return opened[-1]

    playback.open(reopen(), reopen)
    assert not playback.source.seekable
    for _ in range(4):
        playback.advance()
    playback.seek(1)  # back: a new source, decoded up to frame 1
    assert len(opened) == 2 and opened[0].closed and playback.source is opened[1]
    assert events.frames == [0, 1, 2, 3, 1]
    playback.seek(4)  # forward: the same source, frames dropped up to 4
    assert len(opened) == 2 and events.frames[-1] == 4


def test_a_source_without_any_face_is_said_at_its_end(live_analyzer, media_dir, tmp_path) -> None:
    folder = _image_folder(tmp_path / "frames", media_dir, blank_from=0)
    playback, events = _playback(live_analyzer, smoother="realtime", no_face_frames=50)
    playback.open(ImageFolderSource(folder), lambda: ImageFolderSource(folder))
    _play_to_end(playback)
    assert events.faces == [0] * 6 and events.ends == [6]
    assert events.no_face == [f"No face was found in 6 frames of {folder}."]


def test_a_folder_gone_when_going_back_is_said_and_closed(live_analyzer, media_dir, tmp_path) -> None:
    folder = _image_folder(tmp_path / "frames", media_dir)
    playback, events = _playback(live_analyzer, smoother="realtime")
    playback.open(ImageFolderSource(folder), lambda: ImageFolderSource(folder))
    playback.advance()
    shutil.rmtree(folder)
    playback.seek(0)  # back: the folder must be read again
    assert [title for title, _ in events.failures] == ["Cannot reopen video"]
    assert "no such folder" in events.failures[0][1]
    assert playback.source is None and events.closed == 1 and events.playing == [True, False]


def test_no_face_is_said_once(live_analyzer, media_dir, tmp_path) -> None:
    folder = _image_folder(tmp_path / "frames", media_dir, blank_from=2)
    playback, events = _playback(live_analyzer, smoother="realtime")
    playback.open(ImageFolderSource(folder), lambda: ImageFolderSource(folder))
    _play_to_end(playback)
    assert events.faces == [1, 1, 0, 0, 0, 0]
    assert len(events.no_face) == 1 and "last 3 frames" in events.no_face[0]


def test_a_recording_writes_the_session_files_and_run_json_tells_how_it_ended(live_analyzer, obama,
                                                                              tmp_path) -> None:
    playback, events = _playback(live_analyzer)
    _open(playback, obama)
    for _ in range(5):
        playback.advance()
    complete, stopped = tmp_path / "complete", tmp_path / "stopped"
    playback.start_recording(complete, ExportOptions(), from_start=True)
    assert events.recordings == [complete]
    _play_to_end(playback)
    # The recording ended; tracking goes on in a session that writes no files.
    assert events.recordings == [complete, None] and playback.recording_dir is None
    assert playback.session is not None and playback.session.out_dir is None
    run = json.loads((complete / "run.json").read_text())
    assert run["complete"] and not run["interrupted"] and run["error"] is None
    with open(complete / "faces.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["frame"]) for r in rows] == list(range(55))
    # Stopped before the end (a seek ends a recording too): kept, marked interrupted.
    playback.play()
    playback.start_recording(stopped, ExportOptions(), from_start=False)
    for _ in range(10):
        playback.advance()
    playback.seek(40)
    run = json.loads((stopped / "run.json").read_text())
    assert not run["complete"] and run["interrupted"]
    with open(stopped / "faces.csv") as f:
        assert len(list(csv.DictReader(f))) == 10  # the frames the smoother held were written too


def test_closing_the_source_mid_recording_finishes_the_recording(live_analyzer, obama, tmp_path) -> None:
    """Whoever closes the source (the window, a lost camera), the recording's files are
    flushed and its run.json is final and says the run was cut off."""
    playback, events = _playback(live_analyzer)
    _open(playback, obama)
    out = tmp_path / "rec"
    playback.start_recording(out, ExportOptions(), from_start=True)
    for _ in range(12):
        playback.advance()
    playback.close()
    assert events.recordings == [out, None] and playback.recording_dir is None and events.closed == 1
    run = json.loads((out / "run.json").read_text())
    assert run["finished"] and run["interrupted"] and not run["complete"]
    with open(out / "faces.csv") as f:
        frames = [int(r["frame"]) for r in csv.DictReader(f)]
    assert frames == list(range(12)) == list(range(run["summary"]["frames"]))  # the smoother's too


def test_a_file_cut_short_plays_what_it_has_and_says_so_once(live_analyzer, obama, tmp_path) -> None:
    whole, cut = tmp_path / "whole.avi", tmp_path / "cut.avi"
    write_clip(whole, list(iter_video_frames(obama)))
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    playback, events = _playback(live_analyzer, smoother="realtime")
    _open(playback, cut)
    _play_to_end(playback)
    read = events.ends[0]
    assert 10 < read < 55 and events.frames == list(range(read))
    assert events.failures == []
    assert len(events.notices) == 1 and f"{read} frames read, the header announces 55" in events.notices[0]
