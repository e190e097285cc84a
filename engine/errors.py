"""The project's one exception base class.

Every error the program reports to the user in one line derives from
:class:`TrackerError`, and also from the built-in type callers already catch
(``ValueError`` for bad input, ``OSError`` for files and devices). The command line
turns these, and real I/O errors, into ``tracker-app: error: ...``; anything else is
a programming error and keeps its traceback.
"""
from __future__ import annotations


class TrackerError(Exception):
    """An expected failure with a one-line message for the user."""


class UsageError(TrackerError, ValueError):
    """A command-line option or argument that cannot be used as given."""


class AssetSetupError(TrackerError, OSError):
    """Converting the upstream data into the asset folder failed."""
