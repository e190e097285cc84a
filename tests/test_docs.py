"""The README and docs/: every relative link resolves, to a file and to a heading.

A user reads the README first and follows its links into docs/; a page moved or a
heading renamed must fail here, not leave a dead link. The README also stays short.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_BYTES = 25_000  # issue 22: a README for users, about 20 KB
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(h) for h in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8")))}


def local_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_local_link_resolves_to_a_file_and_a_heading(page: Path) -> None:
    links = local_links(page)
    broken = []
    for target in links:
        path_part, _, fragment = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no file {destination}")
        elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            broken.append(f"{target}: no heading #{fragment} in {destination.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_readme_links_into_every_docs_page_and_stays_short() -> None:
    readme = REPO / "README.md"
    linked = {(REPO / t.partition("#")[0]).resolve() for t in local_links(readme) if t.startswith("docs/")}
    assert set(PAGES[1:]) <= linked, f"docs pages the README never links: {set(PAGES[1:]) - linked}"
    assert readme.stat().st_size <= README_MAX_BYTES


def test_the_anchor_rule_matches_githubs() -> None:
    # Guards the checker itself: these are GitHub's anchors for the README's own headings.
    assert anchor("Live: avatars over VMC") == "live-avatars-over-vmc"
    assert anchor("Batch: whole datasets in one resumable command") == "batch-whole-datasets-in-one-resumable-command"
    assert anchor("`run.json` and the table") == "runjson-and-the-table"
