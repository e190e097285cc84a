"""Image files cost what their budget allows: headers are read before decoding.

The bombs are written here, byte by byte (a PNG is a signature and CRC-checked chunks),
so nothing large ever exists on disk or in the test's memory."""
from __future__ import annotations

import csv
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.config import REPO_ROOT, InputConfig
from engine.image_input import ImageError, read_image
from engine.video_source import open_source


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, bit_depth: int, colour_type: int, row: bytes, rows: int | None = None) -> bytes:
    """A PNG of ``rows`` (default: all) identical scanlines ``row`` (filter byte 0 prepended)."""
    compressor = zlib.compressobj(9)
    line = b"\x00" + row
    idat = b"".join(compressor.compress(line) for _ in range(height if rows is None else rows))
    idat += compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@pytest.fixture
def bomb(tmp_path: Path) -> Path:
    """A 9000x9000 greyscale PNG header (81 M pixels, 243 MB as BGR) with one row of data: over a
    budget of 50 M pixels, under Pillow's own limit, so the budget is what refuses it."""
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(9000, 9000, 8, 0, bytes(9000), rows=1))
    assert path.stat().st_size < 1000
    return path


BUDGET = 50_000_000


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "budget.yaml"
    path.write_text(f"input:\n  max_image_pixels: {BUDGET}\n")
    return path


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def test_a_bomb_header_is_refused_before_decoding(bomb: Path, tmp_path: Path) -> None:
    with pytest.raises(ImageError) as info:
        read_image(str(bomb), max_pixels=BUDGET)
    assert str(info.value) == f"{bomb}: 9000x9000 pixels is over the budget of {BUDGET} (input.max_image_pixels)"
    big = tmp_path / "big.png"  # the 60000x60000 header of the issue: beyond Pillow's own limit
    big.write_bytes(_png(60000, 60000, 8, 0, bytes(60000), rows=1))
    with pytest.raises(ImageError) as info:
        read_image(str(big))
    assert str(info.value) == (f"{big}: its header declares more than 178956970 pixels, over the budget of "
                               f"{InputConfig.max_image_pixels} (input.max_image_pixels)")


def test_the_budget_is_the_configured_one(media_dir: Path) -> None:
    emma = str(media_dir / "emma.jpg")  # 3913 x 1901
    assert read_image(emma, max_pixels=3913 * 1901).shape == (1901, 3913, 3)
    with pytest.raises(ImageError, match="3913x1901 pixels is over the budget of 7438612"):
        read_image(emma, max_pixels=3913 * 1901 - 1)


def test_a_header_beyond_pillows_own_limit_is_one_line_too(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_png(2**31 - 1, 2**31 - 1, 8, 0, b"", rows=0))
    with pytest.raises(ImageError, match="huge.png: its header declares more than 178956970 pixels, over"):
        read_image(str(path))


def test_a_16_bit_rgba_image_is_decoded_straight_to_8_bit_bgr(tmp_path: Path) -> None:
    """8192x8192 16-bit RGBA: 512 MB at full depth (the old path peaked at 2.7 GB); the decoded
    working copy is 8-bit BGR (201 MB) from the start. Peak RSS measured in a fresh process."""
    path = tmp_path / "deep.png"
    path.write_bytes(_png(8192, 8192, 16, 6, bytes.fromhex("1234 5678 9abc ffff") * 8192))
    assert path.stat().st_size < 1_000_000
    probe = (
        "import json, resource, sys\n"
        "import numpy, cv2, PIL.Image\n"
        "from engine.image_input import read_image\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "image = read_image(sys.argv[1])\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'shape': image.shape, 'dtype': str(image.dtype), 'corners': "
        "[image[0, 0].tolist(), image[-1, -1].tolist()], 'grown_mb': (after - before) // 1024}))\n")
    run = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, env=_env(),
                         check=True)
    got = json.loads(run.stdout)
    assert got["shape"] == [8192, 8192, 3] and got["dtype"] == "uint8"
    assert got["corners"] == [[0x9A, 0x56, 0x12]] * 2  # B, G, R high bytes; alpha dropped
    assert got["grown_mb"] < 450, f"peak RSS grew by {got['grown_mb']} MB reading an 8192^2 16-bit RGBA PNG"


def test_detect_reports_a_bomb_in_one_line_and_goes_on(bomb: Path, media_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "tracker_app", "--config", str(_config(tmp_path)), "detect",
                          str(bomb), str(media_dir / "emma.jpg"), "--out", str(out)],
                         capture_output=True, text=True, env=_env(), timeout=300)
    assert run.returncode == 1  # one input failed
    assert run.stderr.strip() == (f"tracker-app: error: {bomb}: 9000x9000 pixels is over the budget of "
                                  f"{BUDGET} (input.max_image_pixels)")
    assert run.stdout.count("emma.jpg: face") == 3
    assert (out / "emma_overlay.jpg").is_file() and not (out / "bomb_overlay.jpg").exists()


def test_track_over_an_image_folder_skips_a_bomb(bomb: Path, media_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    cap = cv2.VideoCapture(str(media_dir / "obama.mp4"))
    for i in range(6):
        ok, frame = cap.read()
        assert ok
        cv2.imwrite(str(folder / f"frame{i * 2}.png"), frame)
    bomb.rename(folder / "frame5.png")  # between frame4 and frame6
    with open_source(folder, max_image_pixels=BUDGET) as source:
        packets = list(source)
    assert len(packets) == 6 and source.error is None
    assert source.warning == (f"{folder}: skipped 1 unreadable image(s), first {folder / 'frame5.png'}: "
                              f"9000x9000 pixels is over the budget of {BUDGET} (input.max_image_pixels)")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "tracker_app", "--config", str(_config(tmp_path)), "track",
                          str(folder), "--out", str(out)],
                         capture_output=True, text=True, env=_env(), timeout=300)
    assert run.returncode == 0, run.stderr
    with open(out / "faces.csv", newline="") as f:
        frames = {int(row["frame"]) for row in csv.DictReader(f)}
    assert frames == set(range(6))  # every readable image tracked


def test_the_folder_budget_comes_from_the_config(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"f{i}.png"), np.full((40 + i, 50, 3), 80, np.uint8))
    with open_source(folder, max_image_pixels=41 * 50) as source:
        shapes = [p.image.shape for p in source]
    assert shapes == [(40, 50, 3), (41, 50, 3)] and "f2.png: 50x42 pixels is over the budget of 2050" in source.warning
