"""Multi-person test footage built from the shared photos, with its ground truth.

    clip = cuts_clip(tmp_path, media_dir)        # writes cuts.avi, returns a Footage
    clip.people["P1"]                            # who each pasted face is
    clip.faces[frame]["P1"]                      # where (top-left of the patch), if in frame
    clip.visible[frame]["P1"]                    # share of the patch not covered / cut off
    clip.cuts                                    # frames that start a new shot

Faces are square patches cut around one face of a photo of ``identity/`` (a
different person each, named after the photo), with context so the regressor sees
the whole head, pasted in order (later faces in front). Each shot has its own
background: a photo with its tiles shuffled (its colours and texture, no faces), so a
cut changes the whole frame as real cuts do. ``evaluate`` scores a tracker's output
against the ground truth (identity switches, frames until a face is tracked, IDs of
returning people). Clips are MJPG .avi at 25 fps, 640x360.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import ClassVar

import numpy as np
from tests.support.video_fixtures import FPS, FRAME_H, FRAME_W, PATCH, write_clip

# One photo per person (identity/pairs.csv groups them), and FaceBoxes' box of the
# face in it (x1, y1, x2, y2).
CAST = {
    "img1": (427, 168, 1006, 1018), "img3": (457, 299, 1118, 1251), "img13": (785, 170, 1190, 764),
    "img18": (397, 195, 830, 786), "img20": (305, 77, 584, 489), "img22": (766, 165, 1033, 545),
    "img24": (342, 212, 837, 941), "img26": (380, 227, 981, 1050), "img29": (178, 103, 395, 413),
    "img34": (704, 80, 1085, 588), "img38": (419, 64, 642, 388), "img8": (187, 112, 447, 487),
}
# Photos whose blurred colours make the shots' backgrounds.
BACKGROUNDS = ("identity/couple.jpg", "emma.jpg", "identity/selfie-many-people.jpg", "identity/img40.jpg")
TILE = 20  # backgrounds are the photo's 20 px tiles shuffled: its colours and texture, no faces


@dataclass
class Footage:
    path: Path
    n_frames: int
    people: dict[str, str]  # face name in the clip -> person (photo)
    faces: list[dict[str, tuple[int, int]]] = field(default_factory=list)  # frame -> name -> top-left
    visible: list[dict[str, float]] = field(default_factory=list)  # frame -> name -> visible share
    cuts: list[int] = field(default_factory=list)

    def centre(self, frame: int, name: str) -> tuple[float, float] | None:
        pos = self.faces[frame].get(name)
        return None if pos is None else (pos[0] + PATCH / 2, pos[1] + PATCH / 2)

    def box(self, frame: int, name: str) -> np.ndarray | None:
        pos = self.faces[frame].get(name)
        return None if pos is None else np.array([pos[0], pos[1], pos[0] + PATCH, pos[1] + PATCH], np.float32)


class _Photos:
    """Face patches and backgrounds, cut from the shared media once per process."""

    _cache: ClassVar[dict[Path, _Photos]] = {}

    def __init__(self, media_dir: Path) -> None:
        import cv2

        self.patches: dict[str, np.ndarray] = {}
        for person, (x1, y1, x2, y2) in CAST.items():
            image = _read(cv2, media_dir / "identity" / f"{person}.jpg")
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + 0.1 * (y2 - y1)
            half = 0.85 * max(x2 - x1, y2 - y1)
            padded = cv2.copyMakeBorder(image, *(int(half) + 1,) * 4, cv2.BORDER_REPLICATE)
            o = int(half) + 1
            crop = padded[int(cy - half) + o: int(cy + half) + o, int(cx - half) + o: int(cx + half) + o]
            self.patches[person] = cv2.resize(crop, (PATCH, PATCH), interpolation=cv2.INTER_AREA)
        self.backgrounds = [_scrambled(cv2, _read(cv2, media_dir / name), seed)
                            for seed, name in enumerate(BACKGROUNDS)]

    @classmethod
    def get(cls, media_dir: Path) -> _Photos:
        if media_dir not in cls._cache:
            cls._cache[media_dir] = cls(media_dir)
        return cls._cache[media_dir]


def _scrambled(cv2, image: np.ndarray, seed: int) -> np.ndarray:
    """The photo at frame size with its tiles shuffled and each turned (fixed seed)."""
    rng = np.random.default_rng(seed)
    big = cv2.resize(image, (FRAME_W, FRAME_H), interpolation=cv2.INTER_AREA)
    rows, cols = FRAME_H // TILE, FRAME_W // TILE
    tiles = [big[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE] for r in range(rows) for c in range(cols)]
    order = rng.permutation(len(tiles))
    out = np.zeros_like(big)
    for k, t in enumerate(order):
        r, c = divmod(k, cols)
        out[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE] = np.rot90(tiles[t], int(rng.integers(4)))
    return cv2.GaussianBlur(out, (0, 0), 2.0)


def _read(cv2, path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"{path} cannot be read")
    return image


@dataclass
class Shot:
    """Frames with one background; ``paths[name](t)`` is the face's top-left at t in 0..1
    (None: not in the shot at that moment). Faces are pasted in the order given."""

    frames: int
    background: int
    paths: dict[str, object]


def build_footage(out_dir: Path, media_dir: Path, name: str, people: dict[str, str], shots: list[Shot]) -> Footage:
    photos = _Photos.get(Path(media_dir))
    clip = Footage(path=Path(out_dir) / f"{name}.avi", n_frames=sum(s.frames for s in shots), people=people)
    frames = []
    for k, shot in enumerate(shots):
        if k:
            clip.cuts.append(len(frames))
        for i in range(shot.frames):
            t = i / max(1, shot.frames - 1)
            frame = photos.backgrounds[shot.background].copy()
            cover = np.zeros((FRAME_H, FRAME_W), np.int16) - 1  # index of the face on top, per pixel
            where: dict[str, tuple[int, int]] = {}
            for j, (face, path) in enumerate(shot.paths.items()):
                pos = path(t)  # type: ignore[operator]
                if pos is None:
                    continue
                x, y = pos
                fx1, fy1, fx2, fy2 = max(0, x), max(0, y), min(FRAME_W, x + PATCH), min(FRAME_H, y + PATCH)
                if fx1 >= fx2 or fy1 >= fy2:
                    continue
                frame[fy1:fy2, fx1:fx2] = photos.patches[people[face]][fy1 - y: fy2 - y, fx1 - x: fx2 - x]
                cover[fy1:fy2, fx1:fx2] = j
                where[face] = (x, y)
            names = list(shot.paths)
            clip.faces.append(where)
            clip.visible.append({f: float((cover == names.index(f)).sum()) / PATCH ** 2 for f in where})
            frames.append(frame)
    write_clip(clip.path, frames, FPS)
    return clip


def lerp(a: tuple[int, int], b: tuple[int, int], t0: float = 0.0, t1: float = 1.0):
    """Path from a to b while t goes from t0 to t1, absent outside."""
    def path(t: float) -> tuple[int, int] | None:
        if not t0 <= t <= t1:
            return None
        u = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
        return (round(a[0] + (b[0] - a[0]) * u), round(a[1] + (b[1] - a[1]) * u))
    return path


# -- the clips -------------------------------------------------------------------------

def cuts_clip(out_dir: Path, media_dir: Path) -> Footage:
    """Three shots, hard cuts between different people: P1 + P2 (20 frames); cut to P3
    and P4 standing where P1 and P2 stood (20); cut back to P1 and P2, swapped sides."""
    people = {"P1": "img1", "P2": "img13", "P3": "img20", "P4": "img29"}
    left, right = (80, 100), (400, 110)
    shots = [Shot(20, 0, {"P1": lerp(left, (110, 105)), "P2": lerp(right, (380, 100))}),
             Shot(20, 1, {"P3": lerp((90, 100), (120, 110)), "P4": lerp((390, 105), (370, 100))}),
             Shot(20, 2, {"P1": lerp((420, 90), (400, 100)), "P2": lerp((70, 120), (100, 110))})]
    return build_footage(out_dir, media_dir, "cuts", people, shots)


def enter_leave_clip(out_dir: Path, media_dir: Path) -> Footage:
    """One shot of 90 frames: P1 stays; P2 walks in through the right edge (frames 8-24)
    and out through the left edge later (50-86); P3 pops in at frame 32 (it was behind
    something; between two face searches) and vanishes at frame 56."""
    people = {"P1": "img3", "P2": "img22", "P3": "img34"}
    n = 89
    paths = {"P1": lerp((60, 30), (80, 40)),
             "P2": _chain([(8 / n, (FRAME_W + 5, 190)), (24 / n, (430, 180)), (50 / n, (430, 185)),
                           (86 / n, (-PATCH - 5, 190))]),
             "P3": lerp((300, 40), (290, 50), 32 / n, 55.5 / n)}
    return build_footage(out_dir, media_dir, "enter_leave", people, [Shot(n + 1, 3, paths)])


def crossing_clip(out_dir: Path, media_dir: Path) -> Footage:
    """Two faces crossing: P1 walks left to right, P2 right to left a little lower and in
    front of P1, over 50 frames (they overlap most around frame 25)."""
    people = {"P1": "img18", "P2": "img24"}
    paths = {"P1": lerp((30, 60), (460, 70)), "P2": lerp((460, 150), (30, 140))}
    return build_footage(out_dir, media_dir, "crossing", people, [Shot(50, 0, paths)])


def return_clip(out_dir: Path, media_dir: Path) -> Footage:
    """P2 stays throughout; P1 leaves through the right edge (frames 6-16), is away for
    about 30 frames, and comes back in through the left edge (46-56) to a new place."""
    people = {"P1": "img38", "P2": "img26"}
    paths = {"P2": lerp((250, 190), (270, 180)),
             "P1": _chain([(0.0, (420, 30)), (6 / 79, (430, 30)), (16 / 79, (FRAME_W + 5, 35))],
                          [(46 / 79, (-PATCH - 5, 20)), (56 / 79, (60, 20)), (1.0, (80, 30))])}
    return build_footage(out_dir, media_dir, "return", people, [Shot(80, 1, paths)])


def _chain(*legs: list[tuple[float, tuple[int, int]]]):
    """Piecewise-linear path through (t, position) knots; absent between legs."""
    def path(t: float) -> tuple[int, int] | None:
        for knots in legs:
            for (ta, a), (tb, b) in pairwise(knots):
                if ta <= t <= tb:
                    return lerp(a, b, ta, tb)(t)
        return None
    return path


ALL_CLIPS = {"cuts": cuts_clip, "enter_leave": enter_leave_clip, "crossing": crossing_clip, "return": return_clip}


# -- scoring a tracker's output against the ground truth -------------------------------

MATCH_RADIUS = 0.35 * PATCH  # a face belongs to the pasted patch whose centre is this near
MIN_VISIBLE = 0.3  # share of a patch that must show for a face there to count
EYE_CORNERS = (36, 45)  # outer eye corners (iBUG 300-W)


@dataclass
class Score:
    """How a run did on one clip."""

    switches: list[str]  # IDs seen on more than one person: "ID 3: P1 (frames 0-20), P2 (21-30)"
    delays: dict[str, list[int | None]]  # person -> per appearance, frames from score >= 0.9 to tracked
    ids: dict[str, list[int]]  # person -> IDs it had, in order of first use
    ids_per_shot: list[dict[str, set[int]]]  # per shot: person -> IDs
    ghost_frames: int  # faces on no visible person


def face_centre(box: np.ndarray) -> tuple[float, float]:
    # A patch is centred 0.1 face heights below the face box centre (see _Photos).
    return (float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2 + 0.05 * PATCH / 0.85 / 2)


def who(clip: Footage, frame: int, box: np.ndarray) -> str | None:
    """The pasted person a face box (x1, y1, x2, y2) in ``frame`` is on, if any."""
    cx, cy = face_centre(box)
    best, best_d = None, MATCH_RADIUS
    for name, pos in clip.faces[frame].items():
        if clip.visible[frame][name] < MIN_VISIBLE:
            continue
        d = float(np.hypot(cx - pos[0] - PATCH / 2, cy - pos[1] - PATCH / 2))
        if d < best_d:
            best, best_d = name, d
    return best


def detector_scores(clip: Footage, detections: list[list[tuple[np.ndarray, float]]]) -> list[dict[str, float]]:
    """Per frame, each pasted person's best whole-frame FaceBoxes score (0 if missed)."""
    out = []
    for frame, dets in enumerate(detections):
        scores = {name: 0.0 for name in clip.faces[frame]}
        for box, score in dets:
            name = who(clip, frame, box)
            if name is not None:
                scores[name] = max(scores[name], score)
        out.append(scores)
    return out


def evaluate(clip: Footage, faces: list[list[tuple[int, np.ndarray]]], scores: list[dict[str, float]]) -> Score:
    """Score per-frame (person ID, face box) lists against the clip's ground truth."""
    shots = [0] + clip.cuts + [clip.n_frames]
    on: dict[int, list[tuple[int, str]]] = {}  # ID -> (frame, person)
    tracked = [set() for _ in range(clip.n_frames)]
    ids: dict[str, list[int]] = {}
    per_shot: list[dict[str, set[int]]] = [{} for _ in range(len(shots) - 1)]
    ghosts = 0
    for frame, frame_faces in enumerate(faces):
        shot = int(np.searchsorted(shots, frame, side="right") - 1)
        for person_id, box in frame_faces:
            name = who(clip, frame, box)
            if name is None:
                ghosts += 1
                continue
            on.setdefault(person_id, []).append((frame, name))
            tracked[frame].add(name)
            if person_id not in ids.setdefault(name, []):
                ids[name].append(person_id)
            per_shot[shot].setdefault(name, set()).add(person_id)
    switches = []
    for person_id, seen in sorted(on.items()):
        if len({n for _, n in seen}) > 1:
            spans = {}
            for frame, name in seen:
                lo, hi = spans.get(name, (frame, frame))
                spans[name] = (min(lo, frame), max(hi, frame))
            switches.append(f"ID {person_id}: " + ", ".join(f"{n} (frames {a}-{b})" for n, (a, b) in spans.items()))
    delays: dict[str, list[int | None]] = {}
    for name in clip.people:
        run_start = None
        for frame in range(clip.n_frames + 1):
            present = frame < clip.n_frames and name in clip.faces[frame] and frame not in clip.cuts
            if frame < clip.n_frames and name in clip.faces[frame] and (run_start is None):
                run_start = frame
            if run_start is not None and (not present or frame == clip.n_frames) and frame > run_start:
                run = range(run_start, frame)
                strong = next((f for f in run if scores[f].get(name, 0.0) >= 0.9), None)
                if strong is not None:
                    hit = next((f for f in range(strong, run.stop) if name in tracked[f]), None)
                    delays.setdefault(name, []).append(None if hit is None else hit - strong)
                run_start = frame if (frame < clip.n_frames and name in clip.faces[frame]) else None
    return Score(switches=switches, delays=delays, ids=ids, ids_per_shot=per_shot, ghost_frames=ghosts)


# -- obama.mp4 -> emma.jpg -> obama.mp4, 1280x720, for `tracker-app track` -----------

EMMA_FACES = ((317, 400, 793, 1048), (1700, 278, 2058, 762), (2999, 305, 3429, 901))  # FaceBoxes, emma.jpg
EMMA_WIDTH = 1250  # emma.jpg is shown at this width (faces 115-150 px), letterboxed in 1280x720


@dataclass
class CutClip:
    path: Path
    n_frames: int
    emma: range  # frames showing emma.jpg
    emma_boxes: list[np.ndarray]  # per emma frame, (3, 4) face boxes in frame pixels


def obama_emma_cut_clip(out_dir: Path, media_dir: Path, before: int = 30, emma_frames: int = 40) -> CutClip:
    """obama.mp4's first ``before`` frames, a hard cut to emma.jpg (three faces, moved by
    a few pixels from frame to frame like a hand-held camera) for ``emma_frames``, and a
    cut back to the rest of obama.mp4."""
    import cv2

    with _video_frames(cv2, media_dir / "obama.mp4") as obama:
        frames = list(obama)
    height, width = frames[0].shape[:2]
    emma = _read(cv2, media_dir / "emma.jpg")
    scale = EMMA_WIDTH / emma.shape[1]
    small = cv2.resize(emma, (EMMA_WIDTH, round(emma.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    shown, boxes = [], []
    for k in range(emma_frames):
        dx = (width - EMMA_WIDTH) / 2 + 8 * np.sin(k / 6)
        dy = (height - small.shape[0]) / 2 + 5 * np.sin(k / 4 + 1)
        warp = np.array([[1, 0, dx], [0, 1, dy]], np.float64)
        shown.append(cv2.warpAffine(small, warp, (width, height), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)))
        boxes.append(np.array(EMMA_FACES, np.float32) * np.float32(scale) + np.array([dx, dy, dx, dy], np.float32))
    out = frames[:before] + shown + frames[before:]
    path = Path(out_dir) / "obama_emma_obama.avi"
    write_clip(path, out, FPS)
    return CutClip(path=path, n_frames=len(out), emma=range(before, before + emma_frames), emma_boxes=boxes)


class _video_frames:
    """All frames of a video file (a context manager so the capture is released)."""

    def __init__(self, cv2, path: Path) -> None:
        self._capture = cv2.VideoCapture(str(path))
        if not self._capture.isOpened():
            raise OSError(f"cannot open {path}")

    def __enter__(self):
        def frames():
            while True:
                ok, image = self._capture.read()
                if not ok:
                    return
                yield image
        return frames()

    def __exit__(self, *exc: object) -> None:
        self._capture.release()
