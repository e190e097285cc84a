"""Synthetic test videos built from the shared media (emma.jpg's three faces).

Each builder writes a short MJPG .avi into a folder (a test's tmp_path) and returns
a ``Clip``: the path and, per frame, where every pasted face is (``None`` when it
is not in the frame), so tests can check the tracker against what was drawn.

Faces are square patches cut around emma.jpg's detected faces (with context, so
the regressor sees a whole head), pasted on a background made from a face-free
part of the same photo. Blank frames are uniform black.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FRAME_W, FRAME_H = 640, 360
FPS = 25.0
PATCH = 150  # side of a pasted face patch in pixels

# Face boxes in emma.jpg (x1, y1, x2, y2) as FaceBoxes finds them (left to right).
EMMA_FACES = ((317, 400, 793, 1048), (1700, 278, 2058, 762), (2999, 305, 3429, 901))
# A region of emma.jpg without faces, for the background.
EMMA_BACKGROUND = (0, 1300, 1200, 1901)


@dataclass
class Clip:
    path: Path
    n_frames: int
    # frame -> {face name -> (x, y) top-left of its patch, possibly partly outside}
    faces: list[dict[str, tuple[int, int]]] = field(default_factory=list)
    blank: set[int] = field(default_factory=set)

    def centre(self, frame: int, name: str) -> tuple[float, float] | None:
        pos = self.faces[frame].get(name)
        return None if pos is None else (pos[0] + PATCH / 2, pos[1] + PATCH / 2)


class _Media:
    """emma.jpg cut into patches, loaded once per process."""

    _cache: dict[Path, "_Media"] = {}

    def __init__(self, media_dir: Path) -> None:
        import cv2

        image = cv2.imread(str(media_dir / "emma.jpg"))
        if image is None:
            raise FileNotFoundError(f"{media_dir / 'emma.jpg'} cannot be read")
        self.patches = {}
        for name, (x1, y1, x2, y2) in zip("ABC", EMMA_FACES):
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + 0.1 * (y2 - y1)
            half = 0.85 * max(x2 - x1, y2 - y1)
            crop = image[int(max(0, cy - half)): int(cy + half), int(max(0, cx - half)): int(cx + half)]
            self.patches[name] = cv2.resize(crop, (PATCH, PATCH), interpolation=cv2.INTER_AREA)
        bx1, by1, bx2, by2 = EMMA_BACKGROUND
        self.background = cv2.resize(image[by1:by2, bx1:bx2], (FRAME_W, FRAME_H), interpolation=cv2.INTER_AREA)

    @classmethod
    def get(cls, media_dir: Path) -> "_Media":
        if media_dir not in cls._cache:
            cls._cache[media_dir] = cls(media_dir)
        return cls._cache[media_dir]


def render_frame(media: _Media, faces: dict[str, tuple[int, int]], blank: bool = False) -> np.ndarray:
    """One frame: background plus each face patch at its top-left (clipped at the edges)."""
    if blank:
        return np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
    frame = media.background.copy()
    for name, (x, y) in faces.items():
        patch = media.patches[name]
        fx1, fy1 = max(0, x), max(0, y)
        fx2, fy2 = min(FRAME_W, x + PATCH), min(FRAME_H, y + PATCH)
        if fx1 < fx2 and fy1 < fy2:
            frame[fy1:fy2, fx1:fx2] = patch[fy1 - y: fy2 - y, fx1 - x: fx2 - x]
    return frame


def write_clip(path: Path, frames: list[np.ndarray], fps: float = FPS) -> None:
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"cannot write {path}")
    for f in frames:
        writer.write(f)
    writer.release()


def build_clip(out_dir: Path, media_dir: Path, name: str, faces: list[dict[str, tuple[int, int]]],
               blank: set[int] = frozenset()) -> Clip:
    media = _Media.get(Path(media_dir))
    frames = [render_frame(media, f, i in blank) for i, f in enumerate(faces)]
    path = Path(out_dir) / f"{name}.avi"
    write_clip(path, frames)
    return Clip(path=path, n_frames=len(frames), faces=[{} if i in blank else f for i, f in enumerate(faces)],
                blank=set(blank))


def _lerp(a: tuple[int, int], b: tuple[int, int], t: float) -> tuple[int, int]:
    return (int(round(a[0] + (b[0] - a[0]) * t)), int(round(a[1] + (b[1] - a[1]) * t)))


def blank_gap_clip(out_dir: Path, media_dir: Path, n_before: int = 12, n_blank: int = 5,
                   n_after: int = 12) -> Clip:
    """Face A moving right, ``n_blank`` black frames, then A again further on."""
    n = n_before + n_blank + n_after
    path = [_lerp((60, 100), (420, 140), i / (n - 1)) for i in range(n)]
    blank = set(range(n_before, n_before + n_blank))
    return build_clip(out_dir, media_dir, "blank_gap", [{"A": p} for p in path], blank)


def second_face_clip(out_dir: Path, media_dir: Path, n: int = 30, arrive: int = 10) -> Clip:
    """Face A drifting slowly on the left; face B appears on the right at frame ``arrive``."""
    faces = []
    for i in range(n):
        f = {"A": _lerp((60, 90), (140, 120), i / (n - 1))}
        if i >= arrive:
            f["B"] = _lerp((430, 150), (380, 120), (i - arrive) / max(1, n - 1 - arrive))
        faces.append(f)
    return build_clip(out_dir, media_dir, "second_face", faces)


def edge_exit_clip(out_dir: Path, media_dir: Path) -> Clip:
    """A stays put-ish on the left; C slides out through the right edge, is away, then slides back.

    Frames 0-7 C fully inside; 8-17 C moves out (cut off by the edge, gone from ~frame 16);
    18-25 C away; 26-35 C slides back in; 36-43 C inside again.
    """
    faces = []
    for i in range(44):
        f = {"A": _lerp((60, 100), (90, 110), i / 43)}
        if i < 8:
            c = (440, 110)
        elif i < 18:
            c = _lerp((440, 110), (FRAME_W + 10, 110), (i - 7) / 10)
        elif i < 26:
            c = None
        elif i < 36:
            c = _lerp((FRAME_W + 10, 110), (440, 110), (i - 25) / 10)
        else:
            c = (440, 110)
        if c is not None and c[0] < FRAME_W:
            f["C"] = c
        faces.append(f)
    return build_clip(out_dir, media_dir, "edge_exit", faces)


def iter_video_frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame OpenCV decodes from ``path``, in order (the file must open)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"{path} does not open"
    try:
        while (got := cap.read())[0]:
            yield got[1]
    finally:
        cap.release()


def image_folder_from(video: Path, folder: Path, count: int) -> Path:
    """The first ``count`` frames of ``video`` as img_000.png, img_001.png, ... in a new ``folder``."""
    import itertools

    import cv2

    folder.mkdir()
    for i, image in enumerate(itertools.islice(iter_video_frames(video), count)):
        assert cv2.imwrite(str(folder / f"img_{i:03d}.png"), image)
    assert len(list(folder.iterdir())) == count, f"{video} has fewer than {count} frames"
    return folder


def count_video_frames(path: Path) -> int:
    """Frames counted by reading (container headers can lie)."""
    return sum(1 for _ in iter_video_frames(path))
