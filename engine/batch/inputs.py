"""What a batch runs on: the INPUT arguments expanded into one ``BatchInput`` each.

An argument is a video file, an image folder, a text file listing inputs (one a line,
lines starting with ``#`` are comments, relative lines are relative to the list's folder) or a glob
(``clips/*.mp4``). Paths are made absolute, because a worker on another machine of a
Ray cluster reads the same shared path. A path that does not exist stays an input:
it fails in its task and lands in the index with its error, like any bad file.
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import UsageError

LIST_SUFFIXES = (".txt", ".list", ".lst")
GLOB_CHARACTERS = frozenset("*?[")
# Output folder names: the input's stem cut to this length, then a hash of its full path.
NAME_STEM_CHARS = 48
NAME_HASH_CHARS = 8


class BatchInputError(UsageError):
    """An INPUT argument cannot be expanded (an unreadable list file, a glob matching nothing):
    a usage error, so the command line says it in one line."""


@dataclass(frozen=True)
class BatchInput:
    """One input of a batch and the name of its output folder under the batch's DIR."""

    source: str  # absolute path of a video file or image folder
    name: str  # folder name, the same for the same path in every run

    @classmethod
    def for_path(cls, path: str) -> BatchInput:
        source = os.path.abspath(path)
        return cls(source=source, name=output_name(source))


def output_name(source: str) -> str:
    """``obama-1a2b3c4d``: readable, and unique because the hash covers the whole path."""
    stem = Path(source).stem if not os.path.isdir(source) else Path(source).name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:NAME_STEM_CHARS] or "input"
    digest = hashlib.sha1(source.encode("utf-8", "surrogateescape")).hexdigest()[:NAME_HASH_CHARS]
    return f"{stem}-{digest}"


def expand_inputs(arguments: Sequence[str]) -> list[BatchInput]:
    """Every input the arguments name, in order, each path once."""
    inputs: list[BatchInput] = []
    seen: set[str] = set()
    for path in _expand_all(arguments, depth=0):
        item = BatchInput.for_path(path)
        if item.source not in seen:
            seen.add(item.source)
            inputs.append(item)
    return inputs


def _expand_all(arguments: Sequence[str], depth: int) -> list[str]:
    paths: list[str] = []
    for argument in arguments:
        paths.extend(_expand_one(argument, depth))
    return paths


def _expand_one(argument: str, depth: int) -> list[str]:
    if not os.path.exists(argument) and GLOB_CHARACTERS & set(argument):
        matches = sorted(glob.glob(argument, recursive=True))
        if not matches:
            raise BatchInputError(f"{argument}: the pattern matches nothing")
        return matches
    if Path(argument).suffix.lower() in LIST_SUFFIXES:
        if depth > 0:
            raise BatchInputError(f"{argument}: a list file may not name other list files")
        return _expand_all(_read_list(Path(argument)), depth + 1)
    return [argument]


def _read_list(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise BatchInputError(f"cannot read the input list {path}: {reason}") from None
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            entries.append(line if os.path.isabs(line) else str(path.parent / line))
    return entries
