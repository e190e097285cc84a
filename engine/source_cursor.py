"""Where a playback is in its source: the open source, its packets, how many were read, and
going to a frame (an exact seek where the source can; otherwise reopening it and dropping frames).

``engine.playback.Playback`` owns one; the cursor knows nothing of tracking, so a move is only
a new position (the playback makes it a cut in the tracking)."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from engine.frames import FramePacket
from engine.video_source import SeekError, SourceError, VideoSource


class MoveFailed(Exception):
    """Going to a frame failed: ``title`` and ``message`` are for the user. ``source_lost``: the
    source was closed to go back and could not be reopened (nothing is open any more)."""

    def __init__(self, title: str, message: str, source_lost: bool = False) -> None:
        super().__init__(f"{title}: {message}")
        self.title, self.message, self.source_lost = title, message, source_lost


class SourceCursor:
    """The open source and the position of its next packet (``read``: packets taken so far), and
    when each packet not yet shown was read (the latency a view shows).

    The position outlives ``close``: what was read stays known after the source is gone."""

    def __init__(self) -> None:
        self.source: VideoSource | None = None
        self._reopen: Callable[[], VideoSource] | None = None  # a fresh source, for rewinds without seek
        self._packets: Iterator[FramePacket] | None = None
        self.read = 0  # packets taken from the source
        self.at_end = False  # the source ended (set by the owner once the end is dealt with)
        self._read_at: dict[int, float] = {}  # packet index -> time.monotonic() it was read

    @property
    def is_open(self) -> bool:
        return self._packets is not None

    def open(self, source: VideoSource, reopen: Callable[[], VideoSource]) -> None:
        """Take ``source`` from its start; ``reopen`` returns a fresh copy, for going back without seek."""
        self.source, self._reopen = source, reopen
        self._packets = iter(source)
        self.read = 0
        self.at_end = False

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
        self.source = self._packets = None

    def next_packet(self) -> FramePacket | None:
        """The next packet, counted in ``read`` (None: the source has no more)."""
        assert self._packets is not None
        try:
            packet = next(self._packets)
        except StopIteration:
            return None
        self.read += 1
        self._read_at[packet.index] = time.monotonic()
        return packet

    def read_time(self, index: int) -> float:
        """When packet ``index`` was read (now, when not known); forgotten once asked."""
        return self._read_at.pop(index, time.monotonic())

    def forget_read_times(self) -> None:
        """The packets in flight will not be shown (the tracking that had them restarted)."""
        self._read_at.clear()

    def seconds(self) -> float:
        """Where the next packet is, in seconds of the file (packets read / fps)."""
        return self.read / self.source.fps if self.source is not None else 0.0

    def move_to(self, index: int, should_stop: Callable[[], bool],
                frame_count_known: Callable[[int], None]) -> None:
        """Files: make frame ``index`` the next packet (clamped to the last frame, whose true
        number goes to ``frame_count_known`` when the header promised more). Raises MoveFailed.

        ``should_stop`` ends the decoding of a source without seek early (the window is closing)."""
        assert self.source is not None
        if self.source.seekable:
            self._seek(index, frame_count_known)
        else:
            self._decode_to(index, should_stop)
        self.forget_read_times()  # a move is a cut: the packets in flight are not shown

    def _seek(self, index: int, frame_count_known: Callable[[int], None]) -> None:
        """Files: exact random access."""
        source = self.source
        assert source is not None
        try:
            try:
                source.seek(index)
            except SeekError as e:  # past the end (the header promised more)
                frame_count_known(e.frame_count)
                index = e.frame_count - 1
                source.seek(index)
        except (SourceError, ValueError) as e:
            raise MoveFailed("Cannot seek", str(e)) from e
        self._packets = iter(source)
        self.read = index
        self.at_end = False

    def _decode_to(self, index: int, should_stop: Callable[[], bool]) -> None:
        """Image folders, factories: reopen when going back, then decode and drop."""
        source = self.source
        assert source is not None
        if index < self.read or self.at_end:
            source.close()
            try:
                assert self._reopen is not None
                self.source = source = self._reopen()
            except (OSError, ValueError) as e:
                raise MoveFailed("Cannot reopen video", str(e), source_lost=True) from e
            self._packets = iter(source)
            self.read = 0
            self.at_end = False
        packets = self._packets
        assert packets is not None
        while self.read < index and not should_stop():
            try:
                next(packets)
            except StopIteration:
                break
            self.read += 1
