"""`tracker-app detect` end to end, as a user runs it."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from engine.image_input import read_image


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracker_app", *args], capture_output=True, text=True,
                          timeout=300)


def test_detect_writes_overlay_and_json(weights_dir, media_dir, tmp_path) -> None:
    emma = media_dir / "emma.jpg"
    result = run_cli("detect", str(emma), "--out", str(tmp_path), "--json", "--dense")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if ": face " in line]
    assert len(lines) == 3
    assert all("yaw=" in line and "score=" in line for line in lines)

    doc = json.loads((tmp_path / "emma.json").read_text())
    assert len(doc["faces"]) == 3
    face = doc["faces"][0]
    assert len(face["params"]) == 62 and len(face["landmarks"]) == 68 and len(face["vertices"]) == 38365

    overlay = read_image(str(tmp_path / "emma_overlay.jpg"))
    original = read_image(str(emma))
    assert overlay.shape == original.shape
    changed = np.abs(overlay.astype(int) - original.astype(int)).sum(axis=2) > 60
    # the overlay is drawn on the faces: changed pixels at the landmarks, none in the far corner
    for f in doc["faces"]:
        pts = np.round(np.array(f["landmarks"])[:, :2]).astype(int)
        hits = [changed[max(0, y - 2):y + 3, max(0, x - 2):x + 3].any() for x, y in pts]
        assert np.mean(hits) > 0.9
    assert not changed[:20, :20].any()


def test_detect_reports_unreadable_file_and_goes_on(weights_dir, media_dir, tmp_path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    result = run_cli("detect", str(bad), str(media_dir / "JianzhuGuo.jpg"), "--out", str(tmp_path))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "broken.jpg" in errors[0] and "not a readable image" in errors[0]
    assert "JianzhuGuo.jpg: face 0:" in result.stdout
    assert (tmp_path / "JianzhuGuo_overlay.jpg").is_file()


def test_detect_says_when_no_face(weights_dir, tmp_path) -> None:
    import cv2

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.zeros((240, 320), np.uint8))
    result = run_cli("detect", str(blank), "--out", str(tmp_path))
    assert result.returncode == 0
    assert "blank.png: no faces found" in result.stdout


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys; from tracker_app.cli import build_parser; build_parser().format_help();"
            "heavy = [m for m in ('numpy', 'cv2', 'onnxruntime', 'PyQt6', 'yaml') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    help_run = run_cli("--help")
    assert help_run.returncode == 0 and "detect" in help_run.stdout


def test_detect_render_modes_and_textured_obj(weights_dir, media_dir, tmp_path) -> None:
    image_path = media_dir / "JianzhuGuo.jpg"
    plain, rendered = tmp_path / "plain", tmp_path / "rendered"
    assert run_cli("detect", str(image_path), "--out", str(plain)).returncode == 0
    result = run_cli("detect", str(image_path), "--out", str(rendered), "--render", "mesh,depth,pncc",
                     "--mesh-texture")
    assert result.returncode == 0, result.stderr
    original = read_image(str(image_path))
    doc_box = [float(v) for v in result.stdout.split("box=(")[1].split(")")[0].split(",")]
    x1, y1, x2, y2 = (int(v) for v in doc_box)
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
    # the shaded mesh changes the face region of the overlay beyond the plain overlay
    mesh_overlay = read_image(str(rendered / "JianzhuGuo_overlay.jpg")).astype(int)
    plain_overlay = read_image(str(plain / "JianzhuGuo_overlay.jpg")).astype(int)
    patch = (slice(cy - 20, cy + 20), slice(cx - 20, cx + 20))
    assert np.abs(mesh_overlay[patch] - plain_overlay[patch]).mean() > 10
    # depth and PNCC: face pixels lit, far corner black
    for mode in ("depth", "pncc"):
        data = read_image(str(rendered / f"JianzhuGuo_{mode}.png"))
        assert data.shape == original.shape
        assert data[patch].mean() > 40 and data[:10, :10].max() == 0, mode
    # textured OBJ: OBJ + MTL + PNG that reference each other, texture not blank
    obj = (rendered / "JianzhuGuo_face0.obj").read_text()
    assert "mtllib JianzhuGuo_face0.mtl" in obj and obj.count("\nvt ") == 38365
    assert "JianzhuGuo_face0.png" in (rendered / "JianzhuGuo_face0.mtl").read_text()
    texture = read_image(str(rendered / "JianzhuGuo_face0.png"))
    assert texture.std() > 20


def test_detect_rejects_unknown_render_mode(weights_dir, media_dir, tmp_path) -> None:
    result = run_cli("detect", str(media_dir / "JianzhuGuo.jpg"), "--out", str(tmp_path), "--render", "wire")
    assert result.returncode == 1 and "unknown render mode 'wire'" in result.stderr


def test_window_without_display_fails_in_one_line() -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "tracker_app"], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no display" in lines[0]
