"""``brief(value)``: the start of ``repr(value)``, at a cost bounded by its length.

Error messages quote the value they refuse. ``repr`` builds the whole text first, so a
value from a hostile file (a "billion laughs" list of lists sharing one another, 10,000
levels of nesting, an integer of a million digits) costs gigabytes, minutes or a
``RecursionError`` before ``[:40]`` cuts it. ``brief`` writes the same text piece by piece,
walking containers lazily without recursion, and stops once it has ``limit`` characters.
Values it does not know are named by their type, so no foreign ``__repr__`` ever runs.
"""
from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import numpy as np

# Integers with more bits than this are named, not written (3.3 bits per decimal digit).
_MAX_INT_BITS = 256
_PLAIN_SCALARS = (bool, float, complex, type(None), datetime.date, datetime.time, datetime.timedelta)


class _Piece(str):
    """Literal text inside a container's repr (brackets, separators), as opposed to a value."""


def brief(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters ("..." at the end when cut); the work done
    is proportional to ``limit``, whatever the size, nesting or sharing inside ``value``."""
    limit = max(limit, 4)
    out: list[str] = []
    size = 0
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack and size <= limit:
        try:
            item = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        if isinstance(item, _Piece):
            text: str = item
        elif isinstance(item, (list, tuple, dict, set, frozenset)):
            text, inner = _container(item)
            stack.append(inner)
        else:
            text = _scalar(item, limit)
        out.append(text)
        size += len(text)
    text = "".join(out)
    return text if len(text) <= limit and not stack else text[:limit - 3] + "..."


def _container(item: Any) -> tuple[str, Iterator[Any]]:
    """The opening text of a container's repr and a lazy iterator over the rest."""
    if isinstance(item, dict):
        return "{", _items(item)
    if isinstance(item, list):
        return "[", _elements(item, "]")
    if isinstance(item, tuple):
        return "(", _elements(item, ",)" if len(item) == 1 else ")")
    if not item:
        return f"{type(item).__name__}()", iter(())
    opening = "{" if type(item) is set else f"{type(item).__name__}({{"
    return opening, _elements(item, "}" if type(item) is set else "})")


def _elements(items: Any, close: str) -> Iterator[Any]:
    for i, element in enumerate(items):
        if i:
            yield _Piece(", ")
        yield element
    yield _Piece(close)


def _items(mapping: dict[Any, Any]) -> Iterator[Any]:
    for i, (key, element) in enumerate(mapping.items()):
        if i:
            yield _Piece(", ")
        yield key
        yield _Piece(": ")
        yield element
    yield _Piece("}")


def _scalar(item: Any, limit: int) -> str:
    if isinstance(item, (str, bytes, bytearray)):
        return repr(item[:limit + 1])
    if isinstance(item, int) and not isinstance(item, bool):
        return repr(item) if item.bit_length() <= _MAX_INT_BITS else f"<{item.bit_length()}-bit integer>"
    if isinstance(item, _PLAIN_SCALARS):
        return repr(item)
    if isinstance(item, np.ndarray):
        return f"<array {item.dtype} {item.shape}>"
    if isinstance(item, np.generic) and not isinstance(item, np.object_):
        return repr(item)
    return f"<{type(item).__name__}>"
