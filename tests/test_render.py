"""The C rasteriser (render_c._raster through engine.render) against the NumPy
reference (tests/support/raster_reference.py), robustness, and the Emma texture round trip."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support import raster_reference as ref
from engine.mesh_export import write_obj
from engine.render import Light, MeshRenderer
from render_c import _raster
from tests.test_mesh_export import read_obj

# Set to a folder to keep the images the tests render (e.g. RENDER_TEST_OUTPUT=/tmp).
OUTPUT_DIR = os.environ.get("RENDER_TEST_OUTPUT")


def save_debug(name: str, image: np.ndarray) -> None:
    if OUTPUT_DIR:
        cv2.imwrite(str(Path(OUTPUT_DIR) / name), image)


@pytest.fixture(scope="module")
def face_model(weights_dir: Path) -> dict[str, np.ndarray]:
    with np.load(weights_dir / "face_model.npz", allow_pickle=False) as m:
        return {k: m[k] for k in ("u", "tri", "uv", "ncc", "keypoints")}


@pytest.fixture(scope="module")
def renderer(face_model: dict[str, np.ndarray]) -> MeshRenderer:
    return MeshRenderer(face_model["tri"], uv=face_model["uv"], ncc=face_model["ncc"])


def place_face(u: np.ndarray, cx: float, cy: float, width: float, yaw_deg: float = 0.0) -> np.ndarray:
    """Mean shape (model space: y up, z towards the viewer) as an image-space mesh:
    turned by yaw, scaled to `width` px, y flipped, z shifted to a minimum of 0."""
    p = u.reshape(-1, 3).astype(np.float64)
    p = p - p.mean(axis=0)
    a = np.radians(yaw_deg)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    p = p @ rot.T
    s = width / (p[:, 0].max() - p[:, 0].min())
    v = np.empty_like(p)
    v[:, 0] = cx + s * p[:, 0]
    v[:, 1] = cy - s * p[:, 1]
    v[:, 2] = s * (p[:, 2] - p[:, 2].min())
    return v.astype(np.float32)


def random_mesh(rng: np.random.Generator, n: int, m: int, h: int, w: int, snap: bool, ties: bool
                ) -> tuple[np.ndarray, np.ndarray]:
    v = np.zeros((n, 3), np.float32)
    v[:, 0] = rng.uniform(-8, w + 8, n)
    v[:, 1] = rng.uniform(-8, h + 8, n)
    v[:, 2] = rng.uniform(0, 40, n)
    if snap:  # many pixel centres exactly on edges and vertices
        v[:, :2] = np.round(v[:, :2] * 2) / 2
    if ties:  # many equal depths: the tie rule decides
        v[:, 2] = np.round(v[:, 2] / 20) * 20
    return v, rng.integers(0, n, (m, 3)).astype(np.int32)


def c_buffers(r: MeshRenderer, shape: tuple[int, int], verts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gb = r.rasterize(shape, verts)
    bary = np.zeros(shape + (2,), np.float32)
    bary[gb.window] = gb.bary
    return gb.full("depth", -np.inf), gb.full("tri_id", -1), bary


# ----------------------------------------------------------- agreement with the reference
@pytest.mark.parametrize("seed", range(8))
def test_random_meshes_match_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = 40 + seed, 56 - seed
    verts, tris = random_mesh(rng, 80, 300, h, w, snap=seed % 2 == 1, ties=seed % 4 < 2)
    depth, tri_id, bary = c_buffers(MeshRenderer(tris), (h, w), verts)
    want_depth, want_id, want_bary = ref.rasterize(verts, tris, (h, w))
    np.testing.assert_array_equal(tri_id, want_id)  # the same triangle wins every pixel
    np.testing.assert_array_equal(depth, want_depth)
    np.testing.assert_array_equal(bary, want_bary)
    assert (tri_id >= 0).mean() > 0.3


def test_several_faces_share_one_zbuffer() -> None:
    rng = np.random.default_rng(7)
    verts, tris = random_mesh(rng, 50, 120, 32, 32, snap=True, ties=True)
    faces = np.stack([verts, verts + [3, 2, 0], verts + [0, 0, 5]])
    _, tri_id, _ = c_buffers(MeshRenderer(tris), (32, 32), faces)
    _, want_id, _ = ref.rasterize(faces, tris, (32, 32))
    np.testing.assert_array_equal(tri_id, want_id)
    # Face 2 is face 0 moved nearer: it hides face 0 everywhere; face 1 is shifted.
    assert set(np.unique(want_id[want_id >= 0] // len(tris))) == {1, 2}


def test_face_mesh_matches_reference(renderer: MeshRenderer, face_model: dict) -> None:
    """Real face, turned so it occludes itself, plus a second face overlapping it."""
    shape = (180, 240)
    a = place_face(face_model["u"], 100, 95, 120, yaw_deg=35)
    b = place_face(face_model["u"], 150, 90, 110, yaw_deg=-20)
    b[:, 2] += 10
    faces = np.stack([a, b])
    depth, tri_id, bary = c_buffers(renderer, shape, faces)
    want_depth, want_id, want_bary = ref.rasterize(faces, face_model["tri"], shape)
    np.testing.assert_array_equal(tri_id, want_id)
    np.testing.assert_array_equal(depth, want_depth)
    np.testing.assert_array_equal(bary, want_bary)
    face = want_id // renderer.n_tris
    assert (face == 0).sum() > 3000 and (face == 1).sum() > 3000


@pytest.mark.parametrize("yaw", [0, 45, 70, 85])
def test_turned_face_matches_reference(renderer: MeshRenderer, face_model: dict, yaw: int) -> None:
    """One real face turned about the vertical axis: the further it turns, the more
    pixels go to triangles facing away from the viewer (the mesh is open, so they
    are not always hidden). Any culling or reordering of back-facing triangles
    must leave every pixel as the reference draws it, ties included."""
    shape = (200, 200)
    verts = place_face(face_model["u"], 100, 100, 150, yaw_deg=yaw)
    depth, tri_id, bary = c_buffers(renderer, shape, verts)
    want_depth, want_id, want_bary = ref.rasterize(verts, face_model["tri"], shape)
    np.testing.assert_array_equal(tri_id, want_id)
    np.testing.assert_array_equal(depth, want_depth)
    np.testing.assert_array_equal(bary, want_bary)
    # Winding of each winner in image space: the sign of its 2-D cross product.
    t = face_model["tri"][want_id[want_id >= 0]]
    a, b, c = (verts[t[:, k], :2].astype(np.float64) for k in range(3))
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    minority = min((cross > 0).sum(), (cross < 0).sum())
    if yaw >= 45:
        assert minority > 0  # back-facing triangles win pixels: the case under test


def test_shaded_depth_pncc_match_reference(renderer: MeshRenderer, face_model: dict) -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    faces = [place_face(face_model["u"], 90, 80, 110, yaw_deg=25), place_face(face_model["u"], 130, 75, 90)]
    tri = face_model["tri"]
    light = Light()
    for color in [(0.8, 0.84, 0.9), rng.random((len(faces[0]), 3)).astype(np.float32)]:
        got = renderer.shaded(frame, faces, alpha=0.7, color=color, light=light)
        want = ref.shaded(frame, np.stack(faces), tri, color, light, 0.7)
        assert np.abs(got.astype(int) - want).max() <= 1  # shading within 1/255
    assert (np.abs(got.astype(int) - frame) > 3).any(axis=2).mean() > 0.2  # really drew something
    np.testing.assert_array_equal(renderer.depth(frame.shape, faces, background=-1),
                                  ref.depth(np.stack(faces), tri, frame.shape[:2], background=-1))
    assert np.abs(renderer.pncc(frame.shape, faces).astype(int)
                  - ref.pncc(np.stack(faces), tri, face_model["ncc"], frame.shape[:2])).max() <= 1


def test_uv_texture_matches_reference(renderer: MeshRenderer, face_model: dict) -> None:
    rng = np.random.default_rng(5)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8), (5, 5), 0)
    verts = place_face(face_model["u"], 80, 85, 120, yaw_deg=40)  # one cheek hidden
    tex, mask = renderer.uv_texture_and_mask(frame, verts, size=64, depth_eps=1.5, fill=False, min_facing=0.3)
    want_tex, want_mask = ref.uv_texture(frame, verts, face_model["tri"], face_model["uv"], 64, 1.5, 0.3)
    np.testing.assert_array_equal(mask, want_mask)
    assert np.abs(tex.astype(int) - want_tex).max() <= 1
    # The turned-away cheek is not visible, most of the rest is.
    chart = renderer._uv_gbuffer(64).covered
    assert 0.4 < (mask > 0).sum() / chart.sum() < 0.95
    filled = renderer.uv_texture(frame, verts, size=64, depth_eps=1.5)
    np.testing.assert_array_equal(filled[mask > 0], tex[mask > 0])  # the fill keeps seen texels
    assert (filled.sum(axis=2) > 0).mean() > 0.99  # and covers the rest


# ------------------------------------------------------------------------ rules
def test_top_left_rule_draws_shared_edges_once() -> None:
    """A fan of triangles around a centre, vertices on pixel centres and half pixels
    (every edge orientation): each pixel inside is owned by exactly one triangle."""
    angles = np.linspace(0, 2 * np.pi, 17)[:-1]
    ring = np.stack([20 + 12 * np.cos(angles), 20 + 12 * np.sin(angles)], 1)
    ring = np.round(ring * 2) / 2
    verts = np.vstack([[20, 20], ring])
    verts = np.hstack([verts, np.zeros((len(verts), 1))]).astype(np.float32)
    tris = np.array([[0, 1 + i, 1 + (i + 1) % 16] for i in range(16)], np.int32)
    tris[::2] = tris[::2, [0, 2, 1]]  # both windings
    count = np.zeros((40, 40), int)
    for t in tris:
        _, tri_id, _ = c_buffers(MeshRenderer(t[None]), (40, 40), verts)
        count += tri_id >= 0
    assert count.max() == 1  # no pixel drawn twice
    _, all_id, _ = c_buffers(MeshRenderer(tris), (40, 40), verts)
    np.testing.assert_array_equal(count, all_id >= 0)  # and no gap between triangles
    assert count.sum() > 300


def test_pixel_centre_sampling() -> None:
    """Pixel (px, py) is centred on the integer point: a triangle covering only the
    square [2, 4] x [2, 4] with the top-left rule takes the centres x, y in {2, 3}."""
    verts = np.array([[2, 2, 1], [4, 2, 1], [4, 4, 1], [2, 4, 1]], np.float32)
    tris = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
    _, tri_id, _ = c_buffers(MeshRenderer(tris), (8, 8), verts)
    assert sorted(zip(*np.nonzero(tri_id >= 0))) == [(2, 2), (2, 3), (3, 2), (3, 3)]


def test_nearest_wins_and_ties_keep_the_first() -> None:
    square = np.array([[1, 1, 0], [9, 1, 0], [9, 9, 0], [1, 9, 0]], np.float32)
    tris = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
    r = MeshRenderer(tris)
    near = square + [0, 0, 5]
    _, ids, _ = c_buffers(r, (12, 12), [square, near, near])
    assert set(np.unique(ids[ids >= 0] // 2)) == {1}  # nearer face; the equal third loses the tie
    depth = r.depth((12, 12), [square, near])
    assert depth[5, 5] == 5 and depth[0, 0] == 0


# ------------------------------------------------------------------- robustness
@pytest.mark.parametrize("case", ["offscreen", "partly", "nan", "inf", "huge", "degenerate", "guard"])
def test_broken_meshes_leave_other_pixels_untouched(renderer: MeshRenderer, face_model: dict, case: str) -> None:
    rng = np.random.default_rng(11)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    v = place_face(face_model["u"], 80, 60, 90)
    if case == "offscreen":
        v[:, 0] += 5000
    elif case == "partly":
        v[:, :2] -= 70  # centre near the top-left corner
    elif case == "nan":
        v[rng.random(len(v)) < 0.05] = np.nan
    elif case == "inf":
        v[rng.random(len(v)) < 0.02, 0] = np.inf
        v[rng.random(len(v)) < 0.02, 2] = -np.inf
    elif case == "huge":
        v[rng.random(len(v)) < 0.02] = 1e30
    elif case == "degenerate":
        v[:, 1] = 60.0  # every triangle has zero area
    elif case == "guard":
        v[:5000, 0] = _raster.MAX_COORD * 2  # beyond the guard band: skipped
    out = renderer.shaded(frame, v, alpha=1.0)
    _, want_id, _ = ref.rasterize(v, face_model["tri"], frame.shape[:2])
    covered = want_id >= 0
    np.testing.assert_array_equal(out[~covered], frame[~covered])
    _, got_id, _ = c_buffers(renderer, frame.shape[:2], v)
    np.testing.assert_array_equal(got_id, want_id)
    if case in ("offscreen", "degenerate"):
        assert not covered.any()
    if case in ("partly", "nan", "huge", "guard"):
        assert covered.sum() > 500
    renderer.depth(frame.shape, v)
    renderer.pncc(frame.shape, v)
    renderer.uv_texture(frame, v, size=32)


def test_tiny_and_empty_frames(renderer: MeshRenderer, face_model: dict) -> None:
    v = place_face(face_model["u"], 0, 0, 50)
    for shape in [(1, 1, 3), (0, 0, 3), (1, 5, 3), (0, 7, 3)]:
        frame = np.full(shape, 7, np.uint8)
        assert renderer.shaded(frame, v).shape == shape
        assert renderer.depth(shape, v).shape == shape[:2]
        assert renderer.pncc(shape, v).shape == shape
    one = renderer.shaded(np.zeros((1, 1, 3), np.uint8), v, alpha=1.0)
    assert one.any()  # the face covers pixel (0, 0)
    assert renderer.shaded(np.zeros((4, 4, 3), np.uint8), []).sum() == 0  # no faces
    empty = renderer.rasterize((3, 5), [], whole_frame=True)
    assert (empty.tri_id == -1).all() and (empty.depth == -np.inf).all() and empty.tri_id.shape == (3, 5)
    assert (renderer.depth((3, 5), []) == 0).all() and renderer.pncc((3, 5), []).sum() == 0


def test_binding_rejects_bad_arrays(face_model: dict) -> None:
    tri = face_model["tri"]
    r = MeshRenderer(tri)
    v = place_face(face_model["u"], 50, 50, 60)
    with pytest.raises(ValueError, match="out of range"):
        r.shaded(np.zeros((10, 10, 3), np.uint8), v[:1000])  # indices beyond 1000 vertices
    with pytest.raises(ValueError):
        MeshRenderer(tri - 1)  # a negative index
    with pytest.raises(ValueError):
        MeshRenderer(tri[:, :2])
    topo = _raster.Topology(tri)
    d = np.empty((4, 4), np.float32)
    ids = np.empty((4, 4), np.int32)
    bary = np.empty((4, 4, 2), np.float32)
    with pytest.raises(ValueError):  # float64 vertices
        _raster.rasterize(topo, v[None].astype(np.float64), d, ids, bary, 0, 0)
    with pytest.raises(ValueError):  # not C-contiguous
        _raster.rasterize(topo, np.asfortranarray(v)[None], d, ids, bary, 0, 0)
    with pytest.raises(ValueError):  # buffers of different sizes
        _raster.rasterize(topo, v[None], d, ids[:2], bary, 0, 0)
    with pytest.raises(ValueError):  # int64 ids
        _raster.rasterize(topo, v[None], d, ids.astype(np.int64), bary, 0, 0)
    with pytest.raises(ValueError):  # window outside the frame
        _raster.blend_colors(topo, d, ids, bary, 8, 8, np.zeros((1, len(v), 3), np.float32), 0.5,
                             np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError):
        r.shaded(np.zeros((10, 10), np.uint8), v)  # not BGR
    with pytest.raises(ValueError):
        r.shaded(np.zeros((10, 10, 3), np.uint8)[:, ::2], v, inplace=True)  # cannot write in place


def test_c_calls_release_the_gil(renderer: MeshRenderer, face_model: dict) -> None:
    """A Python thread keeps running while one long C call rasterises."""
    faces = np.stack([place_face(face_model["u"], 640, 360, 600)] * 24)
    topo = _raster.Topology(face_model["tri"])
    d = np.empty((720, 1280), np.float32)
    ids = np.empty((720, 1280), np.int32)
    bary = np.empty((720, 1280, 2), np.float32)
    ticks = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        time.sleep(0.02)
        before = ticks[0]
        _raster.rasterize(topo, faces, d, ids, bary, 0, 0)  # one C call, tens of ms
        during = ticks[0] - before
    finally:
        stop.set()
        t.join()
    assert during > 0


# ------------------------------------------------------------------ Emma texture
def cheek_vertices(face_model: dict) -> np.ndarray:
    """Vertices on both cheeks: near the centroid of jaw, nose-wing and eye-corner landmarks."""
    u = face_model["u"].reshape(-1, 3)
    kp = face_model["keypoints"].astype(np.int64)
    if kp.max() >= len(u):  # flat xyz-interleaved indices
        kp = kp[::3] // 3 if len(kp) == 204 else kp // 3
    width = u[:, 0].max() - u[:, 0].min()
    picks = []
    for group in ([2, 3, 31, 40], [13, 14, 35, 47]):
        centre = u[kp[group]].mean(axis=0)
        picks.append(np.flatnonzero(np.linalg.norm(u[:, :2] - centre[:2], axis=1) < 0.08 * width))
    return np.concatenate(picks)


def frontalise(v: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Rotates y-up vertices onto the mean shape's orientation (Kabsch, rotation only)."""
    a = v - v.mean(axis=0)
    b = mean - mean.mean(axis=0)
    uu, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(uu @ vt))
    rot = uu @ np.diag([1, 1, d]) @ vt
    return a @ rot


def test_emma_textured_obj_rerendered_from_the_front(renderer: MeshRenderer, face_model: dict,
                                                      media_dir: Path, tmp_path: Path) -> None:
    from engine.analyzer import FaceAnalyzer

    image = cv2.imread(str(media_dir / "emma.jpg"))
    faces = FaceAnalyzer.from_config().analyze(image, dense=True)
    assert len(faces) == 3
    cheeks = cheek_vertices(face_model)
    mean = face_model["u"].reshape(-1, 3)
    panels = []
    for i, face in enumerate(faces):
        tex, mask = renderer.uv_texture_and_mask(image, face.vertices, size=256)
        # The texture is not blank and the visible cheek texels look like skin.
        assert (mask > 0).mean() > 0.2
        uv = face_model["uv"][cheeks]
        cols = np.clip((uv[:, 0] * 256).astype(int), 0, 255)
        rows = np.clip(((1 - uv[:, 1]) * 256).astype(int), 0, 255)
        seen = mask[rows, cols] > 0
        assert seen.mean() > 0.3, f"face {i}: cheeks hardly visible"
        b, g, r = tex[rows[seen], cols[seen]].astype(float).mean(axis=0)
        assert r > g > b and 60 < (b + g + r) / 3 < 235, f"face {i}: cheek colour BGR {(b, g, r)}"

        # Write the textured OBJ, read it back and render it from the front.
        obj_path = write_obj(tmp_path / f"emma_{i}.obj", face.vertices, face_model["tri"],
                             uv=face_model["uv"], texture_bgr=tex)
        obj = read_obj(obj_path)
        texture = cv2.imread(str(tmp_path / f"emma_{i}.png"))
        assert texture is not None and texture.shape == (256, 256, 3)
        front = frontalise(obj["v"], mean)  # y up, facing +z
        scale = 200 / (front[:, 0].max() - front[:, 0].min())
        img_v = np.stack([128 + scale * front[:, 0], 140 - scale * front[:, 1],
                          scale * (front[:, 2] - front[:, 2].min())], 1).astype(np.float32)
        uv_file = np.zeros((len(img_v), 2), np.float32)
        uv_file[obj["f"].ravel()] = obj["vt"][obj["ft"].ravel()]
        view = MeshRenderer(obj["f"].astype(np.int32), uv=uv_file).textured((280, 256), img_v, texture)
        panels.append(view)
        px = np.round(img_v[cheeks, :2]).astype(int)
        b, g, r = view[px[:, 1], px[:, 0]].astype(float).mean(axis=0)
        assert r > g > b and 60 < (b + g + r) / 3 < 235, f"face {i}: rendered cheek BGR {(b, g, r)}"
    save_debug("emma_frontal.png", np.hstack(panels))
