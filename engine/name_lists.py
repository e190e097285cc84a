"""Comma-separated option lists ('mesh,depth', 'glb,pc2', 'obj,ply'): one parser for all."""
from __future__ import annotations

from collections.abc import Iterable

from engine.errors import UsageError


def parse_names(text: str | None, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    """'a, B,a' -> ('a', 'b'): lower-cased, duplicates dropped, order kept; a one-line
    UsageError naming the first name not in ``allowed``."""
    names = tuple(dict.fromkeys(part.strip().lower() for part in (text or "").split(",") if part.strip()))
    check_names(names, allowed, what)
    return names


def check_names(names: Iterable[str], allowed: tuple[str, ...], what: str) -> None:
    """UsageError naming the first of ``names`` that is not in ``allowed``."""
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise UsageError(f"unknown {what} '{unknown[0]}' (choose from {', '.join(allowed)})")
