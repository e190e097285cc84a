"""SessionRecorder: table, run.json, overlay video, PNG frames, meshes, write errors."""
from __future__ import annotations

import csv
import errno
import json
import os

import cv2
import numpy as np
import pytest

from engine.analyzer import FaceAnalyzer
from engine.pipeline import TrackingPipeline
from engine.recorder import RUN_NAME, TABLE_NAME, VIDEO_NAME, SessionRecorder, table_columns
from engine.video_source import open_source

N_FRAMES = 12


@pytest.fixture(scope="module")
def results(weights_dir, media_dir):
    analyzer = FaceAnalyzer.from_config(threads=2)
    pipeline = TrackingPipeline(analyzer, dense=False, smoother="lookahead")
    out = []
    with open_source(media_dir / "obama.mp4") as source:
        for packet in source:
            out += pipeline.process(packet)
            if packet.index + 1 >= N_FRAMES:
                break
    out += pipeline.flush()
    return analyzer, out


def read_table(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_every_export(tmp_path, results) -> None:
    analyzer, res = results
    h, w = res[0].image.shape[:2]
    with SessionRecorder(tmp_path, 25.0, (w, h), table=True, video=True, frames={2}, meshes={3},
                         face_model=analyzer.face_model, run_info={"source": "obama.mp4"}) as rec:
        for r in res:
            rec.write(r)
            # the table is readable while the run goes on
            header, rows = read_table(tmp_path / TABLE_NAME)
            assert len(rows) == r.index + 1
        rec.close(summary={"frames": len(res)})
    header, rows = read_table(tmp_path / TABLE_NAME)
    assert header == table_columns() and len(header) == 11 + 68 * 3 + 62
    assert len(rows) == N_FRAMES and all(len(row) == len(header) for row in rows)
    assert [int(row[0]) for row in rows] == list(range(N_FRAMES))
    first = res[0].faces[0].face
    lm = np.array(rows[0][11:11 + 204], float).reshape(68, 3)
    np.testing.assert_allclose(lm, first.landmarks, atol=2e-3)
    np.testing.assert_allclose(np.array(rows[0][-62:], float), first.params, rtol=1e-5, atol=1e-5)
    assert float(rows[0][8]) == pytest.approx(first.pose.yaw, abs=1e-3)
    run = json.loads((tmp_path / RUN_NAME).read_text())
    assert run["complete"] and run["summary"]["frames"] == N_FRAMES and run["source"] == "obama.mp4"
    assert run["rows_written"] == N_FRAMES and run["track_ids"] == [1]
    cap = cv2.VideoCapture(str(tmp_path / VIDEO_NAME))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == N_FRAMES
    png = cv2.imread(str(tmp_path / "frames" / "frame_000002.png"))
    assert png.shape == (h, w, 3)
    assert np.abs(png.astype(int) - res[2].image.astype(int)).sum() > 0  # the overlay is drawn
    ply = (tmp_path / "meshes" / "frame_000003_id1.ply").read_bytes()
    assert b"element vertex 38365" in ply[:400] and b"property uchar red" in ply[:400]
    obj = (tmp_path / "meshes" / "frame_000003_id1.obj").read_text()
    assert obj.count("\nv ") == 38365 and len(obj.split("\nv ")[1].split()) == 6  # xyz + colour
    assert not list(tmp_path.rglob("*.partial")) and not list(tmp_path.rglob("*.tmp"))


class _FailingFile:
    """Wraps the table file: after `ok` writes, the next write lands half, then fails like a full disk."""

    def __init__(self, f, ok: int) -> None:
        self.f, self.ok = f, ok

    def write(self, text):
        if self.ok == 0:
            self.f.write(text[: len(text) // 2])
            self.f.flush()
            raise OSError(errno.ENOSPC, "No space left on device")
        self.ok -= 1
        return self.f.write(text)

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_full_disk_gives_one_line_and_a_readable_table(tmp_path, results) -> None:
    analyzer, res = results
    rec = SessionRecorder(tmp_path, 25.0, (1280, 720), table=True)
    rec._table = _FailingFile(rec._table, ok=3)
    for r in res[:3]:
        rec.write(r)
    with pytest.raises(OSError) as info:
        rec.write(res[3])
    assert "No space left" in str(info.value) and "\n" not in str(info.value)
    header, rows = read_table(tmp_path / TABLE_NAME)
    assert len(rows) == 3 and all(len(row) == len(header) for row in rows)  # half row cut away
    rec.close()


def test_unwritable_places_raise_oserror(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot create"):
        SessionRecorder(blocker / "out", 25.0, (64, 48))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / TABLE_NAME).symlink_to("/dev/full")
    rec = SessionRecorder(tmp_path / "d", 25.0, (64, 48), table=False)  # no table: /dev/full untouched
    rec.close()
    assert (tmp_path / "d" / TABLE_NAME).is_symlink() and os.readlink(tmp_path / "d" / TABLE_NAME) == "/dev/full"
    assert [p.name for p in rec.paths] == [RUN_NAME] and rec.rows_written == 0
    assert json.loads((tmp_path / "d" / RUN_NAME).read_text())["exports"]["table"] is None
    with pytest.raises(OSError) as info:
        SessionRecorder(tmp_path / "d", 25.0, (64, 48), table=True)
    assert "\n" not in str(info.value)


def test_render_modes_and_textured_meshes(tmp_path, results) -> None:
    analyzer, res = results
    h, w = res[0].image.shape[:2]
    plain_dir, render_dir = tmp_path / "plain", tmp_path / "render"
    for folder, kwargs in ((plain_dir, {}), (render_dir, {"render": ("mesh", "depth", "pncc"),
                                                           "mesh_texture": True})):
        with SessionRecorder(folder, 25.0, (w, h), table=False, video=True, frames={4}, meshes={4},
                             mesh_formats=("obj",), face_model=analyzer.face_model, **kwargs) as rec:
            for r in res:
                rec.write(r)
    for mode in ("depth", "pncc"):
        cap = cv2.VideoCapture(str(render_dir / f"{mode}.avi"))
        count = 0
        while cap.read()[0]:
            count += 1
        assert count == N_FRAMES, mode
        still = cv2.imread(str(render_dir / "frames" / f"frame_000004_{mode}.png"))
        x1, y1, x2, y2 = res[4].faces[0].face.box.astype(int)
        assert still[y1:y2, x1:x2].mean() > 40 and still[:20, :20].max() == 0, mode
    # the mesh is shaded under the overlay: the face region differs from the plain overlay
    mesh_png = cv2.imread(str(render_dir / "frames" / "frame_000004.png")).astype(int)
    plain_png = cv2.imread(str(plain_dir / "frames" / "frame_000004.png")).astype(int)
    x1, y1, x2, y2 = res[4].faces[0].face.box.astype(int)
    assert np.abs(mesh_png[y1:y2, x1:x2] - plain_png[y1:y2, x1:x2]).mean() > 8
    assert np.abs(mesh_png[:20, :20] - plain_png[:20, :20]).max() == 0
    obj = next((render_dir / "meshes").glob("*.obj"))
    assert "mtllib" in obj.read_text()[:500] and obj.with_suffix(".png").is_file()
    assert "mtllib" not in next((plain_dir / "meshes").glob("*.obj")).read_text()[:500]
