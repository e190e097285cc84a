"""The one answer to "how many CPUs may this process use"."""
from __future__ import annotations

import os


def usable_cpu_count() -> int:
    """CPUs this process may run on (its affinity mask on Linux, else all of them); at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
