"""engine.source_cursor on its own, on real media: where a playback is in its source (no models)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.source_cursor import SourceCursor
from engine.video_source import open_source


@pytest.fixture
def obama(media_dir: Path) -> Path:
    return media_dir / "obama.mp4"


def _cursor(spec: Path) -> SourceCursor:
    cursor = SourceCursor()
    cursor.open(open_source(spec), lambda: open_source(spec))
    return cursor


def test_a_move_past_the_end_lands_on_the_last_frame_and_tells_the_true_count(obama) -> None:
    cursor = _cursor(obama)
    assert cursor.source is not None and cursor.source.seekable
    counts: list[int] = []
    cursor.move_to(10_000, lambda: False, counts.append)  # the header promises more than the file has
    assert counts == [55] and cursor.read == 54
    assert cursor.seconds() == pytest.approx(54 / cursor.source.fps)
    packet = cursor.next_packet()
    assert packet is not None and packet.index == 54 and cursor.read == 55
    assert cursor.next_packet() is None and cursor.read == 55
    cursor.move_to(3, lambda: False, counts.append)
    packet = cursor.next_packet()
    assert packet is not None and packet.index == 3 and counts == [55]


def test_read_times_are_kept_until_shown_and_forgotten_by_a_move(obama) -> None:
    cursor = _cursor(obama)
    before = time.monotonic()
    first, second = cursor.next_packet(), cursor.next_packet()
    assert first is not None and second is not None
    after = time.monotonic()
    assert before <= cursor.read_time(first.index) <= after  # when it was read, not when asked
    cursor.move_to(0, lambda: False, lambda count: None)
    moved = time.monotonic()
    assert cursor.read_time(second.index) >= moved  # in flight at the cut: never shown, forgotten


def test_close_keeps_the_position(obama) -> None:
    cursor = _cursor(obama)
    for _ in range(3):
        cursor.next_packet()
    source = cursor.source
    cursor.close()
    assert source is not None and source.closed and cursor.source is None and not cursor.is_open
    assert cursor.read == 3
