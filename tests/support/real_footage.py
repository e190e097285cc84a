"""Identity test clips from real footage (issue 19), each with its ground truth.

    clip = splice_clip(tmp_dir, media_dir)      # writes splice.avi, returns a SpliceClip
    clip.people["redhead"][frame]               # ground-truth face box (x1, y1, x2, y2)
    clip.cuts, clip.obama                       # cut frames, frames that show obama.mp4

* ``crowd_clip``: ``footage/crowd.mp4`` as it is (1920x1080, 105 frames, one shot).
* ``splice_clip``: crowd frames 0-40, obama.mp4 scaled 1.5x to 1920x1080, crowd 41-104.
* ``occluder_clip``: obama.mp4 with a drawn hand passing in front of the face.
* ``zoom_clip``: obama.mp4, a cut, then obama again, far away at first and zooming in.
* ``profile_clip``: obama's face turning to a 75 degree profile and back, rendered from
  his dense mesh with the engine's rasteriser (needs a FaceAnalyzer).

The crowd's ground truth is ``tests/data/crowd_truth.csv`` (how it was made:
``tests/data/README.md``): per frame, the face boxes of the three largest faces that stay
in view through frame 104 (``LARGEST``) and of the woman in front who crosses to the
right edge (``scarf_woman``, frames 0-36). obama's face boxes (``tests/data/obama_faces.csv``)
place the occluder. Clips are MJPG .avi at 25 fps, written frame by frame (a 1080p clip
held in memory would take a gigabyte).
"""
from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FPS = 25.0
CROWD = Path("footage") / "crowd.mp4"
OBAMA = Path("obama.mp4")
CROWD_FRAMES = 105  # counted by reading (OpenCV's header count is not trusted)
OBAMA_FRAMES = 55  # the header claims 158
SPLICE_AT = 41  # crowd frames 0..40, then obama, then crowd 41..104
OBAMA_SCALE = 1.5  # 1280x720 -> 1920x1080: same aspect, so no letterbox and no crowd pixel changed
LARGEST = ("redhead", "hoodie_boy", "white_haired_woman")  # the three largest faces in view all along
TRUTH_DIR = Path(__file__).resolve().parent.parent / "data"

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels


@dataclass
class RealClip:
    path: Path
    n_frames: int
    people: dict[str, dict[int, Box]]  # ground-truth person -> frame -> face box
    cuts: list[int] = field(default_factory=list)  # frames that start a new shot


@dataclass
class SpliceClip(RealClip):
    obama: range = range(0)  # frames showing obama.mp4

    def crowd_frame(self, frame: int) -> int | None:
        """The crowd.mp4 frame a splice frame shows (None on obama's frames)."""
        if frame < self.obama.start:
            return frame
        return None if frame in self.obama else frame - len(self.obama)


@dataclass
class OccluderClip(RealClip):
    hidden: list[int] = field(default_factory=list)  # the face box is covered whole: no row expected
    partly: list[int] = field(default_factory=list)  # covered in part
    coverage: list[float] = field(default_factory=list)  # per frame, share of the face box covered

    @property
    def visible(self) -> list[int]:
        """Frames where the hand covers none of the face box."""
        return [f for f, c in enumerate(self.coverage) if c == 0]


# -- reading and writing ---------------------------------------------------------------

@contextmanager
def video_frames(path: Path) -> Iterator[Iterator[np.ndarray]]:
    """The frames of a video file, read to the end (the count in its header may lie)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise OSError(f"cannot open {path}")

    def frames() -> Iterator[np.ndarray]:
        while True:
            ok, image = capture.read()
            if not ok:
                return
            yield image
    try:
        yield frames()
    finally:
        capture.release()


class ClipWriter:
    """MJPG .avi written frame by frame; the size is fixed by the first frame."""

    def __init__(self, path: Path, fps: float = FPS) -> None:
        self.path, self.fps, self.count = Path(path), fps, 0
        self._writer = None

    def write(self, frame: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            h, w = frame.shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"MJPG"), self.fps, (w, h))
            if not self._writer.isOpened():
                raise OSError(f"cannot write {self.path}")
        self._writer.write(frame)
        self.count += 1

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.release()


def read_boxes(path: Path) -> dict[str, dict[int, Box]]:
    """A truth CSV (``person,frame,x1,y1,x2,y2``; no person column: one person "face")."""
    out: dict[str, dict[int, Box]] = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            box = (float(r["x1"]), float(r["y1"]), float(r["x2"]), float(r["y2"]))
            out.setdefault(r.get("person") or "face", {})[int(r["frame"])] = box
    return out


def crowd_truth() -> dict[str, dict[int, Box]]:
    return read_boxes(TRUTH_DIR / "crowd_truth.csv")


def obama_truth() -> dict[int, Box]:
    return read_boxes(TRUTH_DIR / "obama_faces.csv")["face"]


# -- the clips ---------------------------------------------------------------------------

def crowd_clip(media_dir: Path) -> RealClip:
    """crowd.mp4 itself, with the ground truth of its largest faces."""
    path = Path(media_dir) / CROWD
    with video_frames(path) as frames:
        n = sum(1 for _ in frames)
    if n != CROWD_FRAMES:
        raise ValueError(f"{path} has {n} frames, the ground truth is for {CROWD_FRAMES}")
    return RealClip(path=path, n_frames=n, people=crowd_truth())


def splice_clip(out_dir: Path, media_dir: Path) -> SpliceClip:
    """Crowd frames 0-40, a hard cut to obama.mp4, a hard cut back to crowd frames 41-104.

    obama.mp4 is scaled by 1.5 to the crowd's 1920x1080 (both are 16:9) rather than the
    crowd shrunk to 720p: the crowd's faces are the ones whose IDs are tested, at 45-120 px
    wide; shrinking them by a third would change what the tracker sees against crowd.mp4.
    """
    import cv2

    path = Path(out_dir) / "splice.avi"
    with ClipWriter(path) as out, video_frames(Path(media_dir) / CROWD) as crowd:
        for k, image in enumerate(crowd):
            if k == SPLICE_AT:
                with video_frames(Path(media_dir) / OBAMA) as obama:
                    for o in obama:
                        out.write(cv2.resize(o, None, fx=OBAMA_SCALE, fy=OBAMA_SCALE, interpolation=cv2.INTER_LINEAR))
                obama_frames = out.count - SPLICE_AT
            out.write(image)
    if obama_frames != OBAMA_FRAMES or out.count != CROWD_FRAMES + OBAMA_FRAMES:
        raise ValueError(f"splice of {out.count} frames ({obama_frames} of obama): the media changed")
    obama = range(SPLICE_AT, SPLICE_AT + obama_frames)
    people = {name: {(f if f < SPLICE_AT else f + obama_frames): b for f, b in boxes.items()}
              for name, boxes in crowd_truth().items()}
    people["obama"] = {f + SPLICE_AT: _scaled(b, OBAMA_SCALE) for f, b in obama_truth().items()}
    return SpliceClip(path=path, n_frames=out.count, people=people, cuts=[obama.start, obama.stop], obama=obama)


def _scaled(box: Box, s: float) -> Box:
    return (box[0] * s, box[1] * s, box[2] * s, box[3] * s)


# The hand: a palm (rounded rectangle), four fingers and a thumb in a skin tone, drawn
# closer to the camera than the face (so larger), moving left to right across the frame.
HAND_SPEED = 56  # px per frame: it is over the face box for about 12 frames, whole for 3-4
PALM = (420, 400)  # width, height in px
FINGER = (76, 200)  # width, length above the palm
SKIN_BGR = (118, 152, 205)
HAND_START = 10  # frame at which the palm's centre is at HAND_X0
HAND_X0 = -PALM[0] // 2
HAND_Y = 330  # palm centre row: over obama's face (its box is at rows 180-430)
FULL_COVER = 0.999  # share of the face box covered that counts as fully hidden


def hand_mask(shape: tuple[int, int], centre: tuple[float, float]) -> np.ndarray:
    """(h, w) uint8 mask (255 = hand) of the hand with its palm centred at ``centre``."""
    import cv2

    mask = np.zeros(shape, np.uint8)
    cx, cy = int(round(centre[0])), int(round(centre[1]))
    pw, ph = PALM
    r = 60  # palm corner radius
    x1, y1, x2, y2 = cx - pw // 2, cy - ph // 2, cx + pw // 2, cy + ph // 2
    cv2.rectangle(mask, (x1 + r, y1), (x2 - r, y2), 255, -1)
    cv2.rectangle(mask, (x1, y1 + r), (x2, y2 - r), 255, -1)
    for px, py in ((x1 + r, y1 + r), (x2 - r, y1 + r), (x1 + r, y2 - r), (x2 - r, y2 - r)):
        cv2.circle(mask, (px, py), r, 255, -1)
    fw, fh = FINGER
    gap = (pw - 4 * fw) // 5
    for k, lift in enumerate((0.85, 1.0, 0.95, 0.75)):  # index .. little finger lengths
        fx = x1 + gap + k * (fw + gap) + fw // 2
        tip = y1 - int(fh * lift) + fw // 2
        cv2.rectangle(mask, (fx - fw // 2, tip), (fx + fw // 2, y1 + r), 255, -1)
        cv2.circle(mask, (fx, tip), fw // 2, 255, -1)  # rounded fingertip
    cv2.ellipse(mask, (x2 + 10, cy + 20), (fw // 2 + 5, int(fh * 0.7)), -50, 0, 360, 255, -1)  # thumb
    return mask


def draw_hand(image: np.ndarray, mask: np.ndarray) -> None:
    """Skin-coloured hand with soft shading and a darker rim, drawn into ``image``."""
    import cv2

    ys, xs = np.nonzero(mask)
    if not len(xs):
        return
    m = 24  # margin for the blurred edge
    y1, y2 = max(0, ys.min() - m), min(mask.shape[0], ys.max() + m + 1)
    x1, x2 = max(0, xs.min() - m), min(mask.shape[1], xs.max() + m + 1)
    sub, win = mask[y1:y2, x1:x2], image[y1:y2, x1:x2]
    soft = cv2.GaussianBlur(sub, (0, 0), 2.0).astype(np.float32) / 255.0
    rows = np.linspace(0.85, 1.1, image.shape[0], dtype=np.float32)[y1:y2, None, None]
    skin = np.array(SKIN_BGR, np.float32)[None, None, :] * rows
    inner = cv2.erode(sub, np.ones((15, 15), np.uint8))
    rim = cv2.GaussianBlur((sub > 0).astype(np.float32) - (inner > 0).astype(np.float32), (0, 0), 5.0)
    colour = skin * (1.0 - 0.35 * np.clip(rim, 0, 1))[..., None]
    out = win.astype(np.float32) * (1.0 - soft[..., None]) + colour * soft[..., None]
    win[:] = np.clip(out, 0, 255).astype(np.uint8)


def box_coverage(mask: np.ndarray, box: Box) -> float:
    """Share of the face box's pixels under the hand."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    region = mask[max(0, y1):y2, max(0, x1):x2]
    return float((region > 127).mean()) if region.size else 0.0


def occluder_clip(out_dir: Path, media_dir: Path) -> OccluderClip:
    """obama.mp4 with a hand passing in front of his face (see ``hidden`` and ``partly``)."""
    path = Path(out_dir) / "occluder.avi"
    face = obama_truth()
    clip = OccluderClip(path=path, n_frames=0, people={"obama": {}})
    with ClipWriter(path) as out, video_frames(Path(media_dir) / OBAMA) as frames:
        for k, image in enumerate(frames):
            mask = hand_mask(image.shape[:2], (HAND_X0 + HAND_SPEED * (k - HAND_START), HAND_Y))
            covered = box_coverage(mask, face[k])
            clip.coverage.append(covered)
            if covered >= FULL_COVER:
                clip.hidden.append(k)
            else:
                clip.people["obama"][k] = face[k]
                if covered > 0:
                    clip.partly.append(k)
            if mask.any():
                draw_hand(image, mask)
            out.write(image)
    clip.n_frames = out.count
    return clip


ZOOM_FROM = 0.1  # the second shot starts with obama.mp4 at a tenth of its size (his face about 25 px)
ZOOM_HOLD = 20  # frames at full size at the end of the zoom
ZOOM_GREY = 90  # the canvas around the shrunk frame


def zoom_clip(out_dir: Path, media_dir: Path) -> RealClip:
    """obama.mp4; a cut; obama.mp4 forward and back (110 frames), shrunk to ``ZOOM_FROM`` of
    its size at first and zooming in (geometrically) to full size ``ZOOM_HOLD`` frames
    before the end. Far away his face is tracked long before it is large enough to be
    recognised, so its first rows carry a provisional person ID that the run later merges
    into the first shot's (people.csv lists both). No box truth: one face all along."""
    import cv2

    path = Path(out_dir) / "zoom.avi"
    with video_frames(Path(media_dir) / OBAMA) as frames:
        source = list(frames)
    second = source + source[::-1]
    steps = len(second) - ZOOM_HOLD
    with ClipWriter(path) as out:
        for image in source:
            out.write(image)
        for k, image in enumerate(second):
            scale = ZOOM_FROM ** (1 - min(k, steps) / steps)
            canvas = np.full_like(image, ZOOM_GREY)
            small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            h, w = small.shape[:2]
            y0, x0 = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
            canvas[y0:y0 + h, x0:x0 + w] = small
            out.write(canvas)
    return RealClip(path=path, n_frames=out.count, people={}, cuts=[len(source)])


@dataclass
class ProfileClip(RealClip):
    turn: list[float] = field(default_factory=list)  # per frame, degrees the head is turned from the source
    source_yaw: float = 0.0  # the tracker's yaw of the untouched source frame (table convention)

    def yaw(self, frame: int) -> float:
        """Expected table yaw: turning by +d turns the head towards the image's right (yaw falls)."""
        return self.source_yaw - self.turn[frame]


PROFILE_TURN = 75.0  # degrees at the far end of the turn
# (frames, turn at the end of the stretch) in order; turns ease in and out (cosine).
PROFILE_SCHEDULE = ((15, 0.0), (30, PROFILE_TURN), (10, PROFILE_TURN), (30, 0.0), (15, 0.0))
INPAINT_MARGIN = 25  # px around the source face that is painted over before the turned face is drawn


def turn_schedule() -> list[float]:
    turns, last = [], 0.0
    for frames, target in PROFILE_SCHEDULE:
        for i in range(frames):
            u = (i + 1) / frames
            turns.append(last + (target - last) * (1 - np.cos(np.pi * u)) / 2)
        last = target
    return turns


def _yaw_rotation(degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def profile_clip(out_dir: Path, media_dir: Path, analyzer) -> ProfileClip:  # noqa: ANN001 (engine FaceAnalyzer)
    """obama's face turning to a 75 degree profile and back, rendered from his dense mesh.

    The most frontal of every third frame of obama.mp4 is the source: its face's dense
    mesh takes its texture from that frame, and is drawn turned about the model's
    vertical axis (a head turn about the neck) over the same frame with the face painted
    out (cv2.inpaint), so no second, untouched face shows behind it. Frames are still
    apart from the turn, so any ID change is the turn's doing. Truth: the turn per frame
    and the face's landmark box.
    """
    import cv2

    from engine.face_model import N_POSE
    from engine.render import MeshRenderer

    with video_frames(Path(media_dir) / OBAMA) as frames:
        candidates = [image for k, image in enumerate(frames) if k % 3 == 0]
    found = [(abs(f.pose.yaw), k, f) for k, image in enumerate(candidates) for f in analyzer.analyze(image)[:1]]
    _, k, face = min(found, key=lambda t: t[:2])
    source = candidates[k]
    model = analyzer.face_model
    renderer = MeshRenderer(model.triangles, uv=model.uv, ncc=model.ncc)
    camera = model.image_camera(face.params, face.roi)
    coefficients = face.params[N_POSE:]
    vertices = model.dense_from_camera(camera, coefficients)
    texture = renderer.uv_texture(source, vertices, size=512)
    covered = renderer.rasterize(source.shape, vertices, whole_frame=True).covered.astype(np.uint8) * 255
    hole = cv2.dilate(covered, np.ones((2 * INPAINT_MARGIN + 1,) * 2, np.uint8))
    background = cv2.inpaint(source, hole, 5, cv2.INPAINT_TELEA)
    clip = ProfileClip(path=Path(out_dir) / "profile.avi", n_frames=0, people={"obama": {}},
                       source_yaw=float(face.pose.yaw))
    with ClipWriter(clip.path) as out:
        for frame, turn in enumerate(turn_schedule()):
            turned = camera.copy()
            turned[:, :3] = camera[:, :3] @ _yaw_rotation(turn)
            out.write(renderer.textured(background, model.dense_from_camera(turned, coefficients), texture))
            lm = model.landmarks_from_camera(turned, coefficients)
            clip.people["obama"][frame] = (float(lm[:, 0].min()), float(lm[:, 1].min()),
                                           float(lm[:, 0].max()), float(lm[:, 1].max()))
            clip.turn.append(turn)
    clip.n_frames = out.count
    return clip
