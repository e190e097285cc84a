"""Which frames an export applies to: ``'0,10,100-200:25'``, ``'all'`` or nothing.

    sel = FrameSelection.parse("0,10,100-200:25")
    125 in sel            # True
    FrameSelection.parse("0-99999999999")   # three integers, not a set of 1e11 numbers

Membership is tested against the parsed ranges, so a huge range costs nothing
(a list of every index once reached 18 GB).
"""
from __future__ import annotations

from dataclasses import dataclass


class FrameSelectionError(ValueError):
    """A frame list that cannot be parsed (one-line message)."""


@dataclass(frozen=True)
class FrameRange:
    """``first``, ``first + step``, ... up to ``last`` inclusive (0-based frame numbers)."""

    first: int
    last: int
    step: int = 1

    def __contains__(self, index: object) -> bool:
        return (isinstance(index, int) and self.first <= index <= self.last
                and (index - self.first) % self.step == 0)

    def text(self) -> str:
        if self.first == self.last:
            return str(self.first)
        return f"{self.first}-{self.last}" + (f":{self.step}" if self.step != 1 else "")


@dataclass(frozen=True)
class FrameSelection:
    """A lazy set of frame numbers: every frame (``all``), or a union of ranges."""

    ranges: tuple[FrameRange, ...] = ()
    everything: bool = False

    @classmethod
    def none(cls) -> "FrameSelection":
        return cls()

    @classmethod
    def all(cls) -> "FrameSelection":
        return cls(everything=True)

    @classmethod
    def of(cls, frames: "FrameSelection | str | int | list[int] | tuple[int, ...] | set[int] | None"
           ) -> "FrameSelection":
        """From a selection, a frame-list text, one frame, an iterable of frames, or None (no frames)."""
        if frames is None:
            return cls.none()
        if isinstance(frames, FrameSelection):
            return frames
        if isinstance(frames, str):
            return cls.parse(frames)
        if isinstance(frames, int):
            frames = [frames]
        values = sorted({int(f) for f in frames})
        if values and values[0] < 0:
            raise FrameSelectionError(f"frame numbers start at 0, got {values[0]}")
        return cls(tuple(FrameRange(f, f) for f in values))

    @classmethod
    def parse(cls, text: str) -> "FrameSelection":
        """``'all'``, or comma-separated ``N``, ``A-B`` and ``A-B:STEP`` items (inclusive, 0-based)."""
        text = text.strip()
        if text.lower() == "all":
            return cls.all()
        ranges: list[FrameRange] = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            span, _, step = part.partition(":")
            first, dash, last = span.partition("-")
            try:
                first_i = int(first)
                last_i = int(last) if dash else first_i
                step_i = int(step) if step else 1
            except ValueError:
                raise FrameSelectionError(
                    f"bad frame list item '{part}' (use all, 5, 10-20 or 0-100:10)") from None
            if first_i < 0 or last_i < first_i or step_i < 1:
                raise FrameSelectionError(f"bad frame range '{part}' (0-based, first <= last, step >= 1)")
            ranges.append(FrameRange(first_i, last_i, step_i))
        if not ranges:
            raise FrameSelectionError(f"empty frame list '{text}' (use all, 5, 10-20 or 0-100:10)")
        return cls(tuple(ranges))

    def __contains__(self, index: object) -> bool:
        if not isinstance(index, int) or index < 0:
            return False
        return self.everything or any(index in r for r in self.ranges)

    def __bool__(self) -> bool:
        return self.everything or bool(self.ranges)

    def beyond(self, frames: int) -> "FrameSelection":
        """The frames of the selection at or past ``frames`` (a source holding ``frames`` frames
        has none of them); ``all`` means the frames there are, so nothing is beyond."""
        if self.everything:
            return FrameSelection.none()
        past = []
        for r in self.ranges:
            first = r.first if r.first >= frames else r.first + -(-(frames - r.first) // r.step) * r.step
            if first <= r.last:
                past.append(FrameRange(first, r.last, r.step))
        return FrameSelection(tuple(past))

    def count_below(self, frames: int) -> int:
        """How many frames of the selection a source of ``frames`` frames holds (overlapping
        ranges may count a frame twice: an estimate's upper side)."""
        if self.everything:
            return max(frames, 0)
        total = 0
        for r in self.ranges:
            last = min(r.last, frames - 1)
            if last >= r.first:
                total += (last - r.first) // r.step + 1
        return total

    def text(self) -> str:
        """The selection as a frame list that ``parse`` reads back ('' for none)."""
        return "all" if self.everything else ",".join(r.text() for r in self.ranges)
