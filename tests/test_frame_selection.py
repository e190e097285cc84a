"""FrameSelection: lazy frame lists ('0,10,100-200:25', 'all') for --frames / --meshes."""
from __future__ import annotations

import resource

import pytest

from engine.frame_selection import FrameSelection, FrameSelectionError


def test_items_ranges_and_steps() -> None:
    sel = FrameSelection.parse("0,10,100-200:25")
    assert [i for i in range(300) if i in sel] == [0, 10, 100, 125, 150, 175, 200]
    assert sel.text() == "0,10,100-200:25"
    assert FrameSelection.parse(sel.text()) == sel
    assert -1 not in sel and "5" not in sel


def test_all_and_none() -> None:
    assert all(i in FrameSelection.parse("all") for i in (0, 1, 10**12))
    assert FrameSelection.parse(" ALL ").text() == "all"
    none = FrameSelection.none()
    assert not none and 0 not in none and none.text() == ""
    assert FrameSelection.of({3, 1}).text() == "1,3"


def test_a_huge_range_is_not_materialised() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sel = FrameSelection.parse("0-99999999999")
    assert 99999999999 in sel and 100000000000 not in sel and 123456789 in sel
    # The old parser built a set of every index (18 GB); this one holds three integers.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 10_000  # KiB


@pytest.mark.parametrize("text", ["", "a", "5-2", "-3", "0-10:0", "1,,x"])
def test_bad_lists_are_one_line_errors(text: str) -> None:
    with pytest.raises(FrameSelectionError) as e:
        FrameSelection.parse(text)
    assert "\n" not in str(e.value)
