"""OBJ / PLY writers: re-read by tiny parsers, axes, winding, atomic replacement."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from engine import mesh_export
from engine.mesh_export import sample_vertex_colors, write_obj, write_ply


def grid_mesh(nx: int = 6, ny: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An image-space height field (x right, y down, z up towards the camera) and its uv."""
    xs, ys = np.meshgrid(np.arange(nx, dtype=np.float32), np.arange(ny, dtype=np.float32))
    z = 3.0 - 0.1 * ((xs - nx / 2) ** 2 + (ys - ny / 2) ** 2)  # a bump towards the camera
    verts = np.stack([10 * xs + 100, 10 * ys + 50, z], axis=-1).reshape(-1, 3)
    tris = []
    for j in range(ny - 1):
        for i in range(nx - 1):
            a = j * nx + i
            tris += [[a, a + 1, a + nx], [a + 1, a + nx + 1, a + nx]]
    uv = np.stack([xs / (nx - 1), 1 - ys / (ny - 1)], axis=-1).reshape(-1, 2)
    return verts, np.asarray(tris, np.int32), uv.astype(np.float32)


def read_obj(path: Path) -> dict:
    """Minimal OBJ reader: v (with optional colour), vt, f (v or v/vt), mtllib."""
    v, col, vt, f, mtl = [], [], [], [], None
    for line in path.read_text().splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] == "v":
            v.append([float(p) for p in parts[1:4]])
            if len(parts) == 7:
                col.append([float(p) for p in parts[4:7]])
        elif parts[0] == "vt":
            vt.append([float(p) for p in parts[1:3]])
        elif parts[0] == "f":
            f.append([[int(i) for i in p.split("/")] for p in parts[1:]])
        elif parts[0] == "mtllib":
            mtl = parts[1]
    faces = np.asarray(f, np.int64)
    return {"v": np.asarray(v), "colors": np.asarray(col), "vt": np.asarray(vt),
            "f": faces[..., 0] - 1, "ft": faces[..., 1] - 1 if faces.shape[-1] > 1 else None, "mtllib": mtl}


def read_ply(path: Path) -> dict:
    """Minimal binary little-endian PLY reader for the layout write_ply produces."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    assert header[0] == "ply" and header[1] == "format binary_little_endian 1.0"
    n_v = n_f = 0
    props: list[tuple[str, str]] = []
    for line in header:
        p = line.split()
        if p[:2] == ["element", "vertex"]:
            n_v = int(p[2])
        elif p[:2] == ["element", "face"]:
            n_f = int(p[2])
        elif p[0] == "property" and p[1] != "list":
            props.append((p[2], {"float": "<f4", "uchar": "u1"}[p[1]]))
    vert = np.frombuffer(data, dtype=props, count=n_v, offset=end)
    face = np.frombuffer(data, dtype=[("count", "u1"), ("idx", "<i4", (3,))], count=n_f,
                         offset=end + vert.nbytes)
    assert end + vert.nbytes + face.nbytes == len(data), "trailing or missing bytes"
    return {"vertex": vert, "face": face}


def test_obj_round_trip_with_texture(tmp_path: Path) -> None:
    verts, tris, uv = grid_mesh()
    tex = np.zeros((16, 16, 3), np.uint8)
    tex[..., 2] = 200  # red in BGR
    path = write_obj(tmp_path / "mesh.obj", verts, tris, uv=uv, texture_bgr=tex, center=False)
    obj = read_obj(path)
    assert obj["v"].shape == (len(verts), 3) and obj["f"].shape == (len(tris), 3)
    assert obj["vt"].shape == (len(verts), 2)
    np.testing.assert_array_equal(obj["f"], obj["ft"])
    np.testing.assert_allclose(obj["vt"], uv, atol=1e-6)
    # y is flipped to y-up; x and z are kept.
    np.testing.assert_allclose(obj["v"], verts * [1, -1, 1], atol=1e-3)
    # Relative material and texture names next to the OBJ, and they load back.
    assert obj["mtllib"] == "mesh.mtl"
    mtl = (tmp_path / "mesh.mtl").read_text()
    assert "map_Kd mesh.png" in mtl
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "mesh.png")), tex)
    # Counter-clockwise seen from +z after the flip: projected areas positive.
    v = obj["v"]
    a, b, c = v[obj["f"][:, 0]], v[obj["f"][:, 1]], v[obj["f"][:, 2]]
    cross_z = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    assert (cross_z > 0).all()
    # Same triangles as the input (possibly with two corners swapped).
    np.testing.assert_array_equal(np.sort(obj["f"], axis=1), np.sort(tris, axis=1))


def test_obj_vertex_colors_and_centering(tmp_path: Path) -> None:
    verts, tris, _ = grid_mesh()
    bgr = np.zeros((len(verts), 3), np.uint8)
    bgr[:, 0] = 255  # blue
    bgr[0] = (0, 128, 255)  # orange
    obj = read_obj(write_obj(tmp_path / "c.obj", verts, tris, vertex_colors=bgr))
    assert obj["colors"].shape == (len(verts), 3)
    np.testing.assert_allclose(obj["colors"][1], [0, 0, 1], atol=1e-4)  # stored as RGB
    np.testing.assert_allclose(obj["colors"][0], [1, 128 / 255, 0], atol=1e-4)
    lo, hi = obj["v"].min(axis=0), obj["v"].max(axis=0)
    np.testing.assert_allclose((lo + hi) / 2, 0, atol=1e-3)  # centred on the origin
    assert obj["mtllib"] is None and obj["vt"].size == 0
    assert not list(tmp_path.glob("*.mtl")) and not list(tmp_path.glob("*.png"))


def test_ply_round_trip(tmp_path: Path) -> None:
    verts, tris, _ = grid_mesh()
    rng = np.random.default_rng(1)
    bgr = rng.integers(0, 256, (len(verts), 3), dtype=np.uint8)
    ply = read_ply(write_ply(tmp_path / "m.ply", verts, tris, vertex_colors=bgr, center=False))
    vert, face = ply["vertex"], ply["face"]
    assert len(vert) == len(verts) and len(face) == len(tris)
    assert (face["count"] == 3).all()
    np.testing.assert_allclose(np.stack([vert["x"], vert["y"], vert["z"]], 1), verts * [1, -1, 1], atol=1e-5)
    np.testing.assert_array_equal(np.stack([vert["red"], vert["green"], vert["blue"]], 1), bgr[:, ::-1])
    np.testing.assert_array_equal(np.sort(face["idx"], axis=1), np.sort(tris, axis=1))
    # Without colours the vertex record is just xyz.
    plain = read_ply(write_ply(tmp_path / "p.ply", verts, tris))
    assert plain["vertex"].dtype.names == ("x", "y", "z")


def test_real_face_mesh_exports(tmp_path: Path, weights_dir: Path) -> None:
    with np.load(weights_dir / "face_model.npz") as m:
        u, tri, uv = m["u"].reshape(-1, 3), m["tri"], m["uv"]
    verts = (u * [1, -1, 1] / 500 + [300, 300, 0]).astype(np.float32)  # image space: flip y
    obj = read_obj(write_obj(tmp_path / "face.obj", verts, tri, uv=uv))
    ply = read_ply(write_ply(tmp_path / "face.ply", verts, tri))
    assert obj["v"].shape == (38365, 3) and obj["f"].shape == (76073, 3)
    assert len(ply["vertex"]) == 38365 and len(ply["face"]) == 76073
    # Upright in the y-up file: the chin (lowest uv v) is at the bottom.
    chin, brow = np.argmin(uv[:, 1]), np.argmax(uv[:, 1])
    assert obj["v"][chin, 1] < obj["v"][brow, 1]


def test_failed_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    verts, tris, _ = grid_mesh()
    target = tmp_path / "keep.obj"
    target.write_text("old content\n")

    real_lines = mesh_export._lines
    calls = {"n": 0}

    def failing_lines(*args, **kwargs):  # formats the vertices, then "crashes"
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real_lines(*args, **kwargs)

    monkeypatch.setattr(mesh_export, "_lines", failing_lines)
    with pytest.raises(RuntimeError, match="disk full"):
        write_obj(target, verts, tris)
    assert target.read_text() == "old content\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.obj"]  # no temp file left
    calls["n"] = 0
    with pytest.raises(RuntimeError):
        write_obj(tmp_path / "new.obj", verts, tris)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.obj"]


def test_ply_failure_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after every byte went to the temp file, just before the rename."""
    verts, tris, _ = grid_mesh()
    target = tmp_path / "x.ply"
    write_ply(target, verts, tris)
    before = target.read_bytes()

    def boom(fd: int) -> None:
        raise OSError("I/O error")

    monkeypatch.setattr(mesh_export.os, "fsync", boom)
    with pytest.raises(OSError, match="I/O error"):
        write_ply(target, verts, tris, vertex_colors=np.zeros((len(verts), 3), np.uint8))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.ply"]


def test_input_validation(tmp_path: Path) -> None:
    verts, tris, uv = grid_mesh()
    with pytest.raises(ValueError):
        write_obj(tmp_path / "a.obj", verts, tris + 1000)
    with pytest.raises(ValueError):
        write_obj(tmp_path / "a.obj", verts, tris, texture_bgr=np.zeros((4, 4, 3), np.uint8))  # no uv
    with pytest.raises(ValueError):
        write_ply(tmp_path / "a.ply", verts, tris, vertex_colors=np.zeros((3, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_sample_vertex_colors_bilinear() -> None:
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[:, 2:] = (0, 0, 200)
    pts = np.array([[0, 0, 0], [1.5, 1, 0], [3, 3, 0], [100, -5, 0], [np.nan, 1, 0]], np.float32)
    cols = sample_vertex_colors(frame, pts)
    assert cols.dtype == np.uint8 and cols.shape == (5, 3)
    assert cols[0].tolist() == [0, 0, 0]
    assert cols[1].tolist() == [0, 0, 100]  # halfway between columns 1 and 2
    assert cols[2].tolist() == [0, 0, 200]
    assert cols[3].tolist() == [0, 0, 200]  # clamped to the edge
    assert cols[4].tolist() == [0, 0, 0]  # NaN -> black
