"""What a path names, said plainly when it is not a file that can be read.

"no such file" for a folder, a FIFO or /dev/zero misleads; and opening a FIFO blocks until
someone writes to it, reading /dev/zero never ends. Images and config files are looked at with
``unusable_path_problem`` before they are opened, and so are the command line's video paths.
"""
from __future__ import annotations

import os
import stat


def unusable_path_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be read as a file ("no such file", "is a folder", "is a FIFO"...), or None.

    A FIFO or a device would block or never end (/dev/zero); naming what the path is, rather
    than "no such file", tells the user what they typed."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a file"
    return "is not a regular file"
