"""Animated exports (glb, pc2, base OBJ) of obama.mp4 loaded by Blender itself and checked by the Khronos validator.

What the files must reproduce (engine/animation_export.py):

* glb, object (local) space at frame k: the head-space mesh of the track's mean identity
  with frame k's expression, ``(u + W_shp a_mean + W_exp b_k) * 1e-6`` m;
* glb, world space: that mesh under the frame's node transform, which is
  ``engine.head_space.head_transform`` of the frame's image camera; it matches the
  image-space mesh mapped to scene space up to the camera's shear;
* pc2 on the base OBJ (Mesh Cache modifier, default axes): the exact head-space mesh of
  frame k, its own identity and expression, ``(u + W_shp a_k + W_exp b_k) * 1e-6`` m.

The expected meshes are computed here in float64 from face_model.npz, independently of
the dense kernel the exporter uses. Blender is Z up: Blender (x, y, z) = glTF (x, -z, y).
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine.analyzer import FaceAnalyzer
from engine.animation_export import LID_TARGETS, AnimationExporter, read_pc2
from engine.eyelids import lid_closure, lid_offsets
from engine.frames import FrameResult
from engine.head_space import (
    METRES_PER_MODEL_UNIT,
    head_transform,
    image_to_scene,
    metres_per_pixel,
)
from engine.pipeline import TrackingPipeline
from engine.video_source import open_source

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent
PROBE = TESTS / "blender_probe.py"
VALIDATOR = TESTS / "gltf_validator"
# glTF (x, y, z) -> Blender (x, -z, y), as both of Blender's importers convert.
GLTF_TO_BLENDER = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
TOLERANCE = 1e-4  # of the face width


@dataclasses.dataclass
class Run:
    out: Path
    results: list[FrameResult]  # every frame, images shared (only their size is used here)
    fps: float
    arrays: dict[str, np.ndarray]
    analyzer: FaceAnalyzer

    def track_frames(self, track_id: int) -> dict[int, np.ndarray]:
        """frame -> 62 parameters of the track."""
        return {r.index: tf.face.params for r in self.results for tf in r.faces if tf.person_id == track_id}

    def head_mesh(self, identity: np.ndarray, expression: np.ndarray) -> np.ndarray:
        a = self.arrays
        shape = a["u"].astype(np.float64) + a["w_shp"] @ identity.astype(np.float64) \
            + a["w_exp"] @ expression.astype(np.float64)
        return shape.reshape(-1, 3) * METRES_PER_MODEL_UNIT


def run_blender(*args: str) -> None:
    blender = shutil.which("blender")
    if blender is None:
        pytest.fail("blender not found: run `bash scripts/setup.sh --test` (installs Debian's blender)")
    # A Blender built on the system Python finds that Python's library by searching PATH
    # for python3.x; the (pyenv/venv) interpreter running pytest is first there, so put
    # Blender's own folder first.
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(blender).resolve().parent), os.environ["PATH"]]))
    proc = subprocess.run([blender, "-b", "--factory-startup", "--python", str(PROBE), "--", *args],
                          capture_output=True, text=True, timeout=300, env=env, check=False)
    if proc.returncode != 0 or "Traceback" in proc.stdout + proc.stderr:
        pytest.fail(f"blender failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def export(out: Path, results: list[FrameResult], analyzer: FaceAnalyzer, fps: float) -> AnimationExporter:
    exporter = AnimationExporter(out, analyzer.face_model, ("glb", "pc2"), fps)
    for result in results:
        exporter.write(result)
    exporter.close()
    return exporter


@pytest.fixture(scope="module")
def run(tmp_path_factory, media_dir, weights_dir) -> Run:
    analyzer = FaceAnalyzer.from_config()
    pipeline = TrackingPipeline(analyzer, dense=False, smoother="lookahead")
    results: list[FrameResult] = []
    with open_source(media_dir / "obama.mp4") as source:
        fps = source.fps
        for packet in source:
            results.extend(pipeline.process(packet))
        results.extend(pipeline.flush())
    image = results[0].image
    results = [dataclasses.replace(r, image=image) for r in results]
    out = tmp_path_factory.mktemp("animation")
    export(out, results, analyzer, fps)
    with np.load(weights_dir / "face_model.npz") as npz:
        arrays = {k: npz[k] for k in ("u", "w_shp", "w_exp")}
    return Run(out, results, fps, arrays, analyzer)


def test_files_per_track(run: Run) -> None:
    tracks = sorted({tf.person_id for r in run.results for tf in r.faces})
    assert len(run.results) == 55 and tracks == [1]
    names = sorted(p.name for p in (run.out / "animation").iterdir())
    assert names == ["person_1.glb", "person_1.pc2", "person_1_base.obj"]


def probe_frames(frames: list[int]) -> list[int]:
    return [frames[0], frames[len(frames) // 2], frames[-1]]


def test_glb_in_blender(run: Run, tmp_path, report_figure) -> None:
    params = run.track_frames(1)
    frames = sorted(params)
    probe = probe_frames(frames)
    result = tmp_path / "glb.npz"
    run_blender("glb", str(run.out / "animation" / "person_1.glb"), "--fps", str(round(run.fps)),
                "--frames", ",".join(map(str, probe)), "--out", str(result))
    got = np.load(result)
    assert int(got["vertices"]) == 38365
    names = [str(n) for n in got["shape_keys"]]
    assert names == ["Basis"] + [f"exp{k}{s}" for k in range(10) for s in "+-"] + list(LID_TARGETS)
    assert float(got["slider_max"]) == 1.0  # the importer widens a slider when a weight leaves 0..1
    for which in ("object", "weights"):  # node TRS action and shape-key action
        start, end = got[f"{which}_range"]
        assert abs(start - frames[0]) < 1e-3 and abs(end - frames[-1]) < 1e-3
        assert int(got[f"{which}_keys"]) == len(frames)

    identity = np.mean([p[12:52].astype(np.float64) for p in params.values()], axis=0)
    height, width = run.results[0].image.shape[:2]
    model = run.analyzer.face_model
    first = frames[0]
    mpp = metres_per_pixel(model.image_camera(params[first], run.results[first].faces[0].face.roi))
    worst_local = worst_world = worst_shear = worst_glb_world = 0.0
    lids = lid_offsets(run.head_mesh(identity, np.zeros(10)), model.keypoints)
    for i, frame in enumerate(probe):
        face = next(tf.face for tf in run.results[frame].faces if tf.person_id == 1)
        closure = lid_closure(face.eyes)
        expected = run.head_mesh(identity, face.params[52:]) + closure[0] * lids[0] + closure[1] * lids[1]
        face_width = float(np.ptp(expected[:, 0]))
        local = got["local"][i] @ GLTF_TO_BLENDER  # Blender -> glTF axes (the matrix is orthonormal)
        worst_local = max(worst_local, float(np.abs(local - expected).max()) / face_width)
        # The object's world matrix is the node transform the exporter derived from the camera.
        pose = head_transform(model.image_camera(face.params, face.roi), (width, height), mpp).matrix()
        world = got["world"][i]
        node = np.eye(4)
        node[:3, :3] = GLTF_TO_BLENDER.T @ world[:3, :3] @ GLTF_TO_BLENDER
        node[:3, 3] = GLTF_TO_BLENDER.T @ world[:3, 3]
        worst_world = max(worst_world, float(np.abs(node - pose).max()))
        # ... which puts the frame's own head mesh where the image-space mesh is (x, y: image
        # depth has no origin), up to the camera's shear.
        image_mesh = image_to_scene(model.dense_vertices(face.params, face.roi), (width, height), mpp)
        own = run.head_mesh(face.params[12:52], face.params[52:]) @ node[:3, :3].T + node[:3, 3]
        worst_shear = max(worst_shear, float(np.abs(own[:, :2] - image_mesh[:, :2]).max()) / face_width)
        placed = expected @ node[:3, :3].T + node[:3, 3]  # the glb's world mesh: mean identity
        worst_glb_world = max(worst_glb_world, float(np.abs(placed[:, :2] - image_mesh[:, :2]).max()) / face_width)
    report_figure(f"glb vs head mesh {worst_local:.1e} of the face width; node vs pose {worst_world:.1e}; "
                  f"node-placed head vs image mesh (x, y) {worst_shear:.1e}, with the mean identity "
                  f"{worst_glb_world:.1e} of the face width")
    assert worst_local < TOLERANCE
    assert worst_world < 1e-5
    assert worst_shear < 1e-2


def test_pc2_on_base_obj_in_blender(run: Run, tmp_path, report_figure) -> None:
    params = run.track_frames(1)
    frames = sorted(params)
    probe = probe_frames(frames)
    folder = run.out / "animation"
    result = tmp_path / "pc2.npz"
    run_blender("pc2", str(folder / "person_1_base.obj"), str(folder / "person_1.pc2"), "--fps",
                str(round(run.fps)), "--frames", ",".join(map(str, probe)), "--first", str(frames[0]),
                "--out", str(result))
    got = np.load(result)
    assert int(got["vertices"]) == 38365
    worst = 0.0
    # The closed lids: the first frame's identity, every frame's measured eyes (engine.eyelids).
    lids = lid_offsets(run.head_mesh(params[frames[0]][12:52], np.zeros(10)), run.analyzer.face_model.keypoints)
    for i, frame in enumerate(probe):
        closure = lid_closure(next(tf.face for tf in run.results[frame].faces if tf.track_id == 1).eyes)
        expected = run.head_mesh(params[frame][12:52], params[frame][52:]) + closure[0] * lids[0] + closure[1] * lids[1]
        local = got["local"][i] @ GLTF_TO_BLENDER
        worst = max(worst, float(np.abs(local - expected).max()) / float(np.ptp(expected[:, 0])))
    moved = float(np.abs(got["local"][0] - got["local"][-1]).max())
    report_figure(f"pc2 via Mesh Cache vs exact head mesh {worst:.1e} of the face width; "
                  f"first vs last probed frame differ by {moved * 1000:.2f} mm")
    assert worst < TOLERANCE
    assert moved > 1e-3  # the cache animates (the mouth moves by millimetres), not the base mesh


def test_blink_shape_keys_rise_on_the_labelled_blinks(run: Run, tmp_path, report_figure) -> None:
    """Blender's own animation of the eyeBlink shape keys, on hand-labelled frames of obama.mp4
    (tests/data/obama_eye_labels.csv): closed 2, 38, 39; clearly open 10, 20, 30."""
    closed, open_ = [2, 38, 39], [10, 20, 30]
    result = tmp_path / "glb.npz"
    run_blender("glb", str(run.out / "animation" / "person_1.glb"), "--fps", str(round(run.fps)),
                "--frames", ",".join(map(str, closed + open_)), "--out", str(result))
    got = np.load(result)
    names = [str(n) for n in got["shape_keys"]]
    blink = got["key_values"][:, [names.index(n) for n in LID_TARGETS]]
    report_figure(f"Blender eyeBlink shape keys: closed frames {blink[:3].min():.2f}..{blink[:3].max():.2f}, "
                  f"open frames {blink[3:].min():.2f}..{blink[3:].max():.2f}")
    assert blink[:3].min() > 0.7 and blink[3:].max() < 0.35
    # The lids do close: frame 38's upper-lid landmark vertices reach the lower lid in Blender's mesh.
    model = run.analyzer.face_model
    local = got["local"][1] @ GLTF_TO_BLENDER
    lm = local[model.keypoints]
    gap_closed = min(lm[37, 1] - lm[41, 1], lm[43, 1] - lm[47, 1])
    lm_open = (got["local"][3] @ GLTF_TO_BLENDER)[model.keypoints]
    gap_open = min(lm_open[37, 1] - lm_open[41, 1], lm_open[43, 1] - lm_open[47, 1])
    assert gap_open > 0.004 and gap_closed < 0.25 * gap_open


def test_gltf_validator_reports_no_errors(run: Run) -> None:
    node = shutil.which("node")
    if node is None or not (VALIDATOR / "node_modules" / "gltf-validator").is_dir():
        pytest.fail("gltf-validator not installed: run `bash scripts/setup.sh --test`")
    glbs = sorted((run.out / "animation").glob("*.glb"))
    proc = subprocess.run([node, str(VALIDATOR / "validate.js"), *map(str, glbs)], capture_output=True,
                          text=True, timeout=120, check=False)
    reports = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["errors"] for r in reports] == [0] * len(glbs), proc.stdout + proc.stderr
    assert proc.returncode == 0


def test_frames_without_the_track_hold_its_last_frame(run: Run, tmp_path) -> None:
    """The face 'lost' on frames 20-24 (same track ID after): both files keep one entry a frame,
    the missing ones repeating frame 19, and the mean identity leaves them out."""
    import pygltflib

    gap = range(20, 25)
    results = [dataclasses.replace(r, faces=[]) if r.index in gap else r for r in run.results]
    export(tmp_path, results, run.analyzer, run.fps)
    start, rate, samples = read_pc2(tmp_path / "animation" / "person_1.pc2")
    assert (start, rate, len(samples)) == (0.0, 1.0, 55)
    for frame in gap:
        assert np.array_equal(samples[frame], samples[19])
    assert not np.array_equal(samples[25], samples[19])
    _, _, full = read_pc2(run.out / "animation" / "person_1.pc2")
    assert np.array_equal(samples[25], full[25]) and np.array_equal(samples[19], full[19])

    gltf = pygltflib.GLTF2().load(str(tmp_path / "animation" / "person_1.glb"))
    blob = gltf.binary_blob()
    sampler = gltf.animations[0].samplers[0]
    times = accessor_array(gltf, blob, sampler.input)
    weights = accessor_array(gltf, blob, sampler.output).reshape(len(times), 22)
    assert np.allclose(times, np.arange(55) / run.fps)
    assert weights.min() >= 0 and weights.max() <= 1
    for frame in gap:
        assert np.array_equal(weights[frame], weights[19])
    kept = [p[12:52].astype(np.float64) for i, p in run.track_frames(1).items() if i not in gap]
    assert np.allclose(gltf.extras["mean_identity"], np.mean(kept, axis=0), atol=1e-5)


def test_results_out_of_order_are_refused(run: Run, tmp_path) -> None:
    exporter = AnimationExporter(tmp_path, run.analyzer.face_model, ("glb",), run.fps)
    exporter.write(run.results[3])
    with pytest.raises(ValueError, match="must come in order"):
        exporter.write(run.results[2])
    exporter.close()
    assert [p.name for p in exporter.paths] == ["person_1.glb"]


def accessor_array(gltf, blob: bytes, index: int) -> np.ndarray:
    accessor = gltf.accessors[index]
    view = gltf.bufferViews[accessor.bufferView]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[accessor.type]
    return np.frombuffer(blob, np.float32, accessor.count * width, view.byteOffset + (accessor.byteOffset or 0))




def test_a_run_cut_short_keeps_valid_files(run: Run, tmp_path) -> None:
    """Closing after 10 frames (Ctrl-C, a source error) leaves complete files of those frames."""
    import pygltflib

    export(tmp_path, run.results[:10], run.analyzer, run.fps)
    start, _, samples = read_pc2(tmp_path / "animation" / "person_1.pc2")
    assert (start, len(samples)) == (0.0, 10)
    gltf = pygltflib.GLTF2().load(str(tmp_path / "animation" / "person_1.glb"))
    assert gltf.accessors[gltf.animations[0].samplers[0].input].count == 10
    assert not list((tmp_path / "animation").glob(".*"))  # no temporary files left behind


def test_unwritable_folder_is_one_line(run: Run, tmp_path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    exporter = AnimationExporter(blocked, run.analyzer.face_model, ("glb", "pc2"), run.fps)
    with pytest.raises(OSError, match=r"^cannot create .*animation: .*$"):
        exporter.write(run.results[0])
    exporter.close()
