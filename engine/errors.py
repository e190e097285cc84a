"""The project's one exception base class.

Every error the program reports to the user in one line derives from
:class:`TrackerError`, and also from the built-in type callers already catch
(``ValueError`` for bad input, ``OSError`` for files and devices). The command line
turns these, and real I/O errors, into ``tracker-app: error: ...``; anything else is
a programming error and keeps its traceback.
"""
from __future__ import annotations


MESSAGE_MAX_CHARS = 200  # a message quoted inside another stays readable


def one_line(e: BaseException) -> str:
    """``e``'s message as one line for a report: its last non-empty line (where OpenCV and
    FFmpeg put the actual complaint), whitespace collapsed, at most ``MESSAGE_MAX_CHARS``."""
    lines = [" ".join(line.split()) for line in str(e).splitlines()]
    text = next((line for line in reversed(lines) if line), "") or type(e).__name__
    return text if len(text) <= MESSAGE_MAX_CHARS else text[:MESSAGE_MAX_CHARS - 3] + "..."


class TrackerError(Exception):
    """An expected failure with a one-line message for the user."""


class UsageError(TrackerError, ValueError):
    """A command-line option or argument that cannot be used as given."""


class AssetSetupError(TrackerError, OSError):
    """Converting the upstream data into the asset folder failed."""
