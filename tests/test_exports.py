"""The session's exports: table v2 (csv + npz), run.json, overlay video, PNG frames, meshes."""
from __future__ import annotations

import csv
import errno
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.analyzer import FaceAnalyzer
from engine.frame_selection import FrameSelection
from engine.image_space import export_vertices
from engine.run_record import RUN_FORMAT, RUN_NAME, EarlierRunError
from engine.session import ExportOptions, SessionOptions, run_session
from engine.table import CSV_NAME, NPZ_NAME, TABLE_FORMAT, TableWriter, read_npz, table_columns
from engine.recorder import VIDEO_NAME
from engine.video_source import open_source
from tests.support.video_fixtures import blank_gap_clip, iter_video_frames

N_FRAMES = 12


@pytest.fixture(scope="module")
def analyzer(weights_dir) -> FaceAnalyzer:
    return FaceAnalyzer.from_config(threads=2)


def read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def column(header: list[str], rows: list[list[str]], name: str) -> list[str]:
    k = header.index(name)
    return [r[k] for r in rows]


def floats(header: list[str], row: list[str], names: list[str]) -> np.ndarray:
    return np.array([float(row[header.index(n)]) for n in names])


def track(analyzer, source_path, out, *, smoother="lookahead", max_frames=None, **exports):
    options = SessionOptions(smoother=smoother, max_frames=max_frames, exports=ExportOptions(**exports))
    with open_source(source_path) as source:
        return run_session(source, analyzer, options, out)


def test_every_export(tmp_path, analyzer, media_dir) -> None:
    out = tmp_path / "out"
    summary = track(analyzer, media_dir / "obama.mp4", out, max_frames=N_FRAMES, video=True,
                    frames=FrameSelection.of([2]), meshes=FrameSelection.of([3]))
    assert summary.complete and summary.frames == N_FRAMES and summary.error is None
    header, rows = read_table(out / CSV_NAME)
    assert header == table_columns() and len(header) == 18 + 12 + 50 + 68 * 3 + 2 * 5
    assert len(rows) == N_FRAMES and all(len(row) == len(header) for row in rows)
    assert [int(r) for r in column(header, rows, "frame")] == list(range(N_FRAMES))
    assert set(column(header, rows, "success")) == {"1"} and set(column(header, rows, "track_id")) == {"1"}
    assert set(column(header, rows, "person_id")) == {"1"}
    assert (out / "people.csv").read_text().splitlines() == [
        "track_id,person_id,first_frame,last_frame,rows,person_ids_in_table", f"1,1,0,{N_FRAMES - 1},{N_FRAMES},1"]
    times = [float(t) for t in column(header, rows, "time")]
    assert times == pytest.approx([i / 25.0 for i in range(N_FRAMES)], abs=1e-6)
    run = json.loads((out / RUN_NAME).read_text())
    assert run["format"] == RUN_FORMAT and run["table"]["format"] == TABLE_FORMAT
    assert run["table"]["columns"] == header and run["finished"]
    assert run["complete"] and run["summary"]["frames"] == N_FRAMES and run["summary"]["started_at_frame"] == 0
    assert run["source"]["frame_size"] == [1280, 720] and "faces.npz" in run["files"]
    shapes = [image.shape for image in iter_video_frames(out / VIDEO_NAME)]
    assert shapes == [(720, 1280, 3)] * N_FRAMES
    png = cv2.imread(str(out / "frames" / "frame_000002.png"))
    assert png.shape == (720, 1280, 3)
    ply = (out / "meshes" / "frame_000003_id1.ply").read_bytes()
    assert b"element vertex 38365" in ply[:400] and b"property uchar red" in ply[:400]
    obj = (out / "meshes" / "frame_000003_id1.obj").read_text()
    assert obj.count("\nv ") == 38365 and len(obj.split("\nv ")[1].split()) == 6  # xyz + colour
    assert not list(out.rglob("*.partial"))


def test_table_rebuilds_the_landmarks_and_npz_equals_csv(tmp_path, analyzer, media_dir, weights_dir) -> None:
    out = tmp_path / "out"
    track(analyzer, media_dir / "obama_pingpong.mp4", out, max_frames=40)
    header, rows = read_table(out / CSV_NAME)
    with np.load(weights_dir / "face_model.npz") as model:
        mean = model["u_base"].astype(np.float64).reshape(-1)
        basis = np.concatenate([model["w_shp_base"], model["w_exp_base"]], axis=1).astype(np.float64)
    cam_cols = [f"cam{r}{c}" for r in range(3) for c in range(4)]
    coef_cols = [f"id{k}" for k in range(40)] + [f"exp{k}" for k in range(10)]
    lm_cols = [f"lm{k}_{a}" for k in range(68) for a in "xyz"]
    worst = 0.0
    for row in rows:
        camera = floats(header, row, cam_cols).reshape(3, 4)
        shape = (mean + basis @ floats(header, row, coef_cols)).reshape(-1, 3)
        rebuilt = shape @ camera[:, :3].T + camera[:, 3]
        worst = max(worst, float(np.abs(rebuilt - floats(header, row, lm_cols).reshape(68, 3)).max()))
    assert worst < 0.01
    # One depth frame for every frame: z is the camera's own (no per-face shift to a minimum of 0).
    z = np.array([floats(header, row, lm_cols).reshape(68, 3)[:, 2] for row in rows])
    # The model origin (the head's centre) is at depth 0 on every frame.
    assert np.ptp(z.min(axis=1)) > 1 and set(column(header, rows, "cam23")) == {"0"}

    npz = read_npz(out / NPZ_NAME)
    assert str(npz["format"]) == TABLE_FORMAT and len(npz["frame"]) == len(rows)
    np.testing.assert_array_equal(npz["frame"], [int(v) for v in column(header, rows, "frame")])
    np.testing.assert_array_equal(npz["track_id"], [int(v) for v in column(header, rows, "track_id")])
    np.testing.assert_allclose(npz["camera"].reshape(-1, 12), [floats(header, r, cam_cols) for r in rows],
                               rtol=1e-8, atol=1e-6)
    np.testing.assert_allclose(npz["landmarks"].reshape(-1, 204), [floats(header, r, lm_cols) for r in rows],
                               atol=5e-5)
    np.testing.assert_allclose(npz["angles"], [floats(header, r, ["yaw", "pitch", "roll"]) for r in rows],
                               atol=5e-5)
    np.testing.assert_allclose(npz["confidence"], [float(v) for v in column(header, rows, "confidence")],
                               atol=5e-5)


def test_blank_frames_get_a_row_each(tmp_path, analyzer, media_dir) -> None:
    clip = blank_gap_clip(tmp_path, media_dir)
    out = tmp_path / "out"
    summary = track(analyzer, clip.path, out, smoother="off")
    header, rows = read_table(out / CSV_NAME)
    assert [int(r) for r in column(header, rows, "frame")] == list(range(clip.n_frames))
    success = [int(v) for v in column(header, rows, "success")]
    assert [i for i, s in enumerate(success) if not s] == sorted(clip.blank)
    for row, ok in zip(rows, success):
        assert (row[header.index("track_id")] == "") == (not ok)
        assert (row[header.index("person_id")] == "") == (not ok)
        assert all(v == "" for v in row[5:]) == (not ok)  # everything but frame, time, track_id, person_id, success
    npz = read_npz(out / NPZ_NAME)
    np.testing.assert_array_equal(npz["success"], np.array(success, bool))
    assert (npz["person_id"][~npz["success"]] == -1).all()
    assert (npz["track_id"][~npz["success"]] == -1).all() and np.isnan(npz["landmarks"][~npz["success"]]).all()
    assert summary.frames == summary.frames_read == clip.n_frames
    assert summary.frames_with_faces == clip.n_frames - len(clip.blank)


def test_mesh_spaces(tmp_path, analyzer, media_dir) -> None:
    image_dir, head_dir = tmp_path / "image", tmp_path / "head"
    for folder, space in ((image_dir, "image"), (head_dir, "head")):
        track(analyzer, media_dir / "obama.mp4", folder, max_frames=6, meshes=FrameSelection.parse("all"),
              mesh_formats=("obj",), mesh_space=space)
        assert len(list((folder / "meshes").glob("*.obj"))) == 6
    header, rows = read_table(image_dir / CSV_NAME)
    model = analyzer.face_model

    def vertices(path: Path) -> np.ndarray:
        return np.array([line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")],
                        float)

    for k in (0, 5):
        # image space: the table's landmarks (y stored up), no recentring
        v = vertices(image_dir / "meshes" / f"frame_{k:06d}_id1.obj")
        lm = floats(header, rows[k], [f"lm{j}_{a}" for j in range(68) for a in "xyz"]).reshape(68, 3)
        np.testing.assert_allclose(v[model.keypoints], lm * [1, -1, 1], atol=0.05)
        # head space: metres, y up, the face looking down +z, pose removed
        h = vertices(head_dir / "meshes" / f"frame_{k:06d}_id1.obj")
        width = np.ptp(h[:, 0])
        assert 0.1 < width < 0.25
        nose, chin, brow, ear = (h[model.keypoints[i]] for i in (30, 8, 19, 0))
        assert brow[1] > chin[1] and nose[2] > ear[2] + 0.05
    head0 = vertices(head_dir / "meshes" / "frame_000000_id1.obj")
    head5 = vertices(head_dir / "meshes" / "frame_000005_id1.obj")
    assert np.abs(head0 - head5).max() < 0.01  # the head moved in the image, not in head space


def test_a_folder_with_an_earlier_run_is_refused_unless_overwrite(tmp_path, analyzer, media_dir) -> None:
    out = tmp_path / "out"
    track(analyzer, media_dir / "obama.mp4", out, max_frames=3, video=True, meshes=FrameSelection.of([1]))
    (out / "notes.txt").write_text("mine")
    with pytest.raises(EarlierRunError) as e:
        track(analyzer, media_dir / "obama.mp4", out, max_frames=2)
    assert "--overwrite" in str(e.value) and "\n" not in str(e.value)
    assert (out / VIDEO_NAME).is_file()  # nothing touched
    track(analyzer, media_dir / "obama.mp4", out, max_frames=2, overwrite=True)
    assert not (out / VIDEO_NAME).exists() and not (out / "meshes").exists()  # no stale files left
    assert (out / "notes.txt").read_text() == "mine"  # only the run's own files go
    assert len(read_table(out / CSV_NAME)[1]) == 2


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


def test_full_disk_gives_one_line_and_a_readable_table(tmp_path, analyzer, media_dir) -> None:
    with open_source(media_dir / "obama.mp4") as source:
        packets = [p for _, p in zip(range(4), source)]
    from engine.frames import FrameResult

    table = TableWriter(tmp_path, analyzer.face_model)
    table._csv = _FailingFile(table._csv, ok=3)
    results = [FrameResult(p.index, p.timestamp, p.image, faces=[]) for p in packets]
    for r in results[:3]:
        table.write(r)
    with pytest.raises(OSError) as info:
        table.write(results[3])
    assert "No space left" in str(info.value) and CSV_NAME in str(info.value) and "\n" not in str(info.value)
    header, rows = read_table(tmp_path / CSV_NAME)
    assert len(rows) == 3 and all(len(row) == len(header) for row in rows)  # half row cut away


def test_unwritable_places_raise_oserror(tmp_path, analyzer, media_dir) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot prepare .*: Not a directory"):
        track(analyzer, media_dir / "obama.mp4", blocker / "out", max_frames=1)


def test_render_modes_and_textured_meshes(tmp_path, analyzer, media_dir) -> None:
    plain_dir, render_dir = tmp_path / "plain", tmp_path / "render"
    for folder, kwargs in ((plain_dir, {}), (render_dir, {"render": ("mesh", "depth", "pncc"),
                                                           "mesh_texture": True})):
        track(analyzer, media_dir / "obama.mp4", folder, max_frames=N_FRAMES, table=False, video=True,
              frames=FrameSelection.of([4]), meshes=FrameSelection.of([4]), mesh_formats=("obj",), **kwargs)
    header, rows = read_table(plain_dir / CSV_NAME) if (plain_dir / CSV_NAME).exists() else (None, None)
    assert header is None  # table=False
    for mode in ("depth", "pncc"):
        cap = cv2.VideoCapture(str(render_dir / f"{mode}.avi"))
        count = 0
        while cap.read()[0]:
            count += 1
        assert count == N_FRAMES, mode
        still = cv2.imread(str(render_dir / "frames" / f"frame_000004_{mode}.png"))
        assert still[250:450, 500:750].mean() > 40 and still[:20, :20].max() == 0, mode
    # the mesh is shaded under the overlay: the face region differs from the plain overlay
    mesh_png = cv2.imread(str(render_dir / "frames" / "frame_000004.png")).astype(int)
    plain_png = cv2.imread(str(plain_dir / "frames" / "frame_000004.png")).astype(int)
    assert np.abs(mesh_png[250:450, 500:750] - plain_png[250:450, 500:750]).mean() > 8
    assert np.abs(mesh_png[:20, :20] - plain_png[:20, :20]).max() == 0
    obj = next((render_dir / "meshes").glob("*.obj"))
    assert "mtllib" in obj.read_text()[:500] and obj.with_suffix(".png").is_file()
    assert "mtllib" not in next((plain_dir / "meshes").glob("*.obj")).read_text()[:500]


def test_image_space_vertices_share_the_table_depth(analyzer, media_dir) -> None:
    from engine.image_space import export_landmarks

    with open_source(media_dir / "obama.mp4") as source:
        image = next(iter(source)).image
    face = analyzer.analyze(image)[0]
    vertices = export_vertices(analyzer.face_model, face)
    np.testing.assert_allclose(vertices[analyzer.face_model.keypoints], export_landmarks(analyzer.face_model, face),
                               atol=0.02)
