"""Still images people have, and images built to hurt (issue 21): EXIF orientation, one reading
path with the pixel budget for `detect` and `track`, truncated files, paths that are not files,
same-stem inputs, and a disk too small for --meshes. Run on the real command line; one line on
stderr, no traceback, bounded peak memory."""
from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from engine.image_input import EXIF_ORIENTATION, ImageError, read_image, upright
from tests.support.hostile import can_make_small_disks, report_runs, run_cli, small_disk  # noqa: F401 (report_runs: a fixture)

DETECT_RSS_LIMIT_MB = 300
# A refused image costs its header: 35-95 MB measured (the models may be loaded already).
REFUSED_RSS_LIMIT_MB = 150


def _faces(stdout: str) -> list[dict[str, float]]:
    """The faces `detect` printed: box and angles, left to right."""
    faces = []
    for line in stdout.splitlines():
        if ": face " not in line:
            continue
        fields = dict(part.split("=", 1) for part in line.split(": face ")[1].split()[1:])
        box = [float(v) for v in fields["box"].strip("()").split(",")]
        faces.append({"box": box, **{k: float(fields[k]) for k in ("yaw", "pitch", "roll")}})
    return faces


def _sideways(media_dir: Path, path: Path, orientation: int = 6) -> None:
    """emma.jpg stored as a phone stores a photo taken sideways: pixels turned, a tag to undo it."""
    with Image.open(media_dir / "emma.jpg") as im:
        turn = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = orientation
        im.transpose(turn[orientation]).save(path, quality=95, exif=exif)


def test_exif_orientation_is_honoured_by_detect(media_dir: Path, tmp_path: Path) -> None:
    photo = tmp_path / "emma_phone.jpg"
    _sideways(media_dir, photo)
    upright_run = run_cli("detect", media_dir / "emma.jpg", "--out", tmp_path / "a", "--json")
    sideways_run = run_cli("detect", photo, "--out", tmp_path / "b", "--json")
    assert sideways_run.returncode == 0 and sideways_run.stderr == "", sideways_run
    expected, got = _faces(upright_run.stdout), _faces(sideways_run.stdout)
    assert len(got) == 3  # was 1 face of 3, at 91 degrees of roll
    for want, face in zip(expected, got):
        assert np.allclose(face["box"], want["box"], atol=8)  # coordinates are in the upright image
        assert abs(face["roll"] - want["roll"]) < 2.0 and abs(face["yaw"] - want["yaw"]) < 2.0
    doc = json.loads((tmp_path / "b" / "emma_phone.json").read_text())
    assert (doc["width"], doc["height"]) == (3913, 1901)


def test_exif_orientation_is_honoured_by_track(media_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    _sideways(media_dir, folder / "a.jpg", 6)
    _sideways(media_dir, folder / "b.jpg", 8)
    for source in (folder / "a.jpg", folder):  # one image, and an image folder
        out = tmp_path / f"out_{source.name}"
        run = run_cli("track", source, "--out", out, "--no-progress")
        assert run.returncode == 0 and run.stderr == "", run
        meta = json.loads((out / "run.json").read_text())
        assert meta["source"]["frame_size"] == [3913, 1901]
        rows = (out / "faces.csv").read_text().splitlines()[1:]
        assert len(rows) == 3 * (1 if source.is_file() else 2)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_matches_pillow(orientation: int, tmp_path: Path) -> None:
    pixels = np.random.default_rng(orientation).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    path = tmp_path / "o.png"
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    Image.fromarray(pixels).save(path, exif=exif)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im))
    assert np.array_equal(upright(pixels, orientation), expected)
    assert np.array_equal(read_image(str(path))[:, :, ::-1], expected)


def _jpeg_bomb(path: Path, side: int) -> None:
    """A tiny JPEG whose frame header claims side x side pixels."""
    ok, encoded = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
    data = bytearray(encoded.tobytes())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, side, side)
    path.write_bytes(bytes(data))


def test_track_on_an_image_keeps_the_pixel_budget(tmp_path: Path) -> None:
    bomb = tmp_path / "big.jpg"
    _jpeg_bomb(bomb, 12000)  # 144 MP: 1.1 GB decoded by track before, refused by detect
    for command in (("track", bomb, "--out", tmp_path / "t", "--no-progress"),
                    ("detect", bomb, "--out", tmp_path / "d")):
        run = run_cli(*command)
        assert run.returncode == 1, run
        line = run.error_line()
        assert line.endswith(f"{bomb}: 12000x12000 pixels is over the budget of 100000000 (input.max_image_pixels)")
        assert run.peak_rss_mb < REFUSED_RSS_LIMIT_MB, f"{run.peak_rss_mb:.0f} MB"


def test_a_truncated_png_is_one_line_without_libpng(media_dir: Path, tmp_path: Path) -> None:
    ok, png = cv2.imencode(".png", cv2.imread(str(media_dir / "JianzhuGuo.jpg")))
    cut = tmp_path / "cut.png"
    cut.write_bytes(png.tobytes()[: png.size // 2])
    run = run_cli("detect", cut, "--out", tmp_path / "o")
    assert run.returncode == 1
    assert run.error_line() == f"tracker-app: error: {cut}: not a readable image (unknown format, damaged or truncated)"


def test_paths_that_are_not_files_are_named(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.jpg"
    folder.mkdir()
    for path, what in ((folder, "is a folder, not a file"), (fifo, "is a FIFO (named pipe), not a file"),
                       (Path("/dev/zero"), "is a device, not a file"), (tmp_path / "gone.jpg", "no such file")):
        with pytest.raises(ImageError, match=f"^{re.escape(str(path))}: {re.escape(what)}$"):
            read_image(str(path))
    for source, line in ((fifo, f"{fifo}: is a FIFO (named pipe), not a file"),
                         (Path("/dev/zero"), "/dev/zero: is a device, not a file"),
                         ("-1", "-1: not a camera (cameras are 0, 1, ...) and no file of that name")):
        run = run_cli("track", source, "--out", tmp_path / "o", "--no-progress", timeout=60)
        assert run.returncode == 1 and run.error_line() == f"tracker-app: error: {line}"
        assert run.peak_rss_mb < REFUSED_RSS_LIMIT_MB


def test_out_that_is_a_file(tmp_path: Path, media_dir: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("mine")
    for command in ("detect", "track"):
        run = run_cli(command, media_dir / "JianzhuGuo.jpg", "--out", taken)
        assert run.returncode == 1 and run.error_line() == f"tracker-app: error: --out {taken}: is a file, not a folder"
    assert taken.read_text() == "mine"


def test_inputs_with_one_stem_keep_their_own_outputs(media_dir: Path, tmp_path: Path) -> None:
    image = cv2.imread(str(media_dir / "JianzhuGuo.jpg"))
    two = cv2.imread(str(media_dir / "trump_hillary.jpg"))
    inputs = []
    for ext in ("png", "webp", "bmp"):
        inputs.append(tmp_path / f"emma.{ext}")
        cv2.imwrite(str(inputs[-1]), two if ext == "webp" else image)
    other = tmp_path / "sub"
    other.mkdir()
    inputs.append(other / "emma.png")  # same name, another folder
    cv2.imwrite(str(inputs[-1]), image)
    out = tmp_path / "out"
    run = run_cli("detect", *inputs, "--out", out, "--json")
    assert run.returncode == 0 and run.stderr == "", run
    stems = ["emma_png", "emma_webp", "emma_bmp", "emma_png_2"]
    for path, stem in zip(inputs, stems):
        assert f"{path}: outputs named {stem}_* (another input is also called emma)" in run.stdout
        doc = json.loads((out / f"{stem}.json").read_text())  # each input's own result, not another's
        assert doc["image"] == str(path) and len(doc["faces"]) == (2 if stem == "emma_webp" else 1)
        assert (out / f"{stem}_overlay.jpg").is_file()
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".json") == sorted(f"{s}.json" for s in stems)


# -- disk space for --meshes ---------------------------------------------------------------------


@pytest.fixture
def small(tmp_path: Path):
    if not can_make_small_disks(tmp_path):
        pytest.fail("needs `unshare --map-root-user --mount` (user namespaces) to give the child a small disk")
    return lambda mb: small_disk(tmp_path / "disk", mb)


def test_meshes_that_cannot_fit_are_refused_before_the_run(small, tmp_path: Path, media_dir: Path) -> None:
    out = tmp_path / "disk" / "out"
    run = run_cli("track", media_dir / "obama.mp4", "--out", out, "--meshes", "all", "--no-progress",
                  prefix=small(150))
    assert run.returncode == 1, run
    line = run.error_line()
    assert re.fullmatch(r"tracker-app: error: not enough disk space for --meshes all \(158 frames by the file's header "
                        r"x 5\.0 MB per face, at least one face each\): about 7\d\d\.\d MB needed, "
                        r"1\d\d\.\d MB free on "
                        + re.escape(str(tmp_path / "disk")) + r" \(keeping 67\.1 MB spare\)", line), line
    assert not out.exists()  # refused before anything was written
    assert run.peak_rss_mb < DETECT_RSS_LIMIT_MB


def test_a_disk_that_fills_during_the_run_stops_it_in_one_line(small, tmp_path: Path, media_dir: Path) -> None:
    """Ten frames of three faces: the estimate (one face each) fits, the meshes do not."""
    frames = tmp_path / "frames"
    frames.mkdir()
    emma = cv2.resize(cv2.imread(str(media_dir / "emma.jpg")), (1280, 622))
    for i in range(10):
        cv2.imwrite(str(frames / f"f{i:02d}.jpg"), emma)
    out = tmp_path / "disk" / "out"
    run = run_cli("track", frames, "--out", out, "--meshes", "all", "--no-progress", prefix=small(150))
    assert run.returncode == 1, run
    line = run.error_line()
    assert line.startswith("tracker-app: error: not enough disk space for the meshes of frame ") and \
        line.endswith("(the frames before it were processed and kept)"), line
    assert run.peak_rss_mb < DETECT_RSS_LIMIT_MB


def test_a_file_larger_than_any_image_in_budget_is_not_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as f:  # 900 MB, sparse: it costs no disk
        f.truncate(900_000_000)
    run = run_cli("detect", huge, "--out", tmp_path / "o")
    assert run.returncode == 1
    assert run.error_line() == (f"tracker-app: error: {huge}: 900,000,000 bytes is more than any image within the "
                                "budget of 100000000 pixels (input.max_image_pixels)")
    assert run.peak_rss_mb < REFUSED_RSS_LIMIT_MB, f"{run.peak_rss_mb:.0f} MB"
