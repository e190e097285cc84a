"""The eyes in the window (issue 20): lid contours and gaze arrows in the GL view (pixels of a
grab), the openness curves of the plots dock, the blink counter against the engine and the
hand labels (tests/data/obama_eye_labels.csv), the eye weights in the live panel."""
from __future__ import annotations

import numpy as np
import pytest

from engine.config import EngineConfig
from engine.eye_stats import EyeStats
from engine.expressions import EYE_BLENDSHAPE_NAMES
from engine.face_model import FaceModel
from engine.overlay import EYE_CLOSED_COLOUR, EYE_OPEN_COLOUR, GAZE_COLOUR, eye_lines
from tests.support.gui import close_window, make_window, qimage_rgb, wait_until
from tests.test_eyes import obama_labels, source_frame
from tracker_app.actions import Act
from tracker_app.capture_worker import CaptureWorker

pytestmark = pytest.mark.gui

NO_OVERLAY = dict(show_mesh=False, show_landmarks=False, show_axes=False)
OPEN_FRAME = 12  # obama.mp4: both eyes clearly open (labels), after the eyes' first calibration frames
BLINK_FRAMES = 200  # obama_pingpong.mp4 played this far: 7 labelled blinks, and the 8th starts at 216
COLOUR_TOLERANCE = 3  # the lines are drawn without blending: their pixels are the colour itself
START_SLACK_PX = 8  # 3D view: the eye's surface may hide this much of a gaze arrow's start (the eye is ~30 px wide)


def _rgb(bgr: tuple[int, int, int]) -> np.ndarray:
    return np.asarray(bgr[::-1], int)


def _pixels(grab: np.ndarray, bgr: tuple[int, int, int]) -> np.ndarray:
    return np.abs(grab.astype(int) - _rgb(bgr)).max(axis=2) <= COLOUR_TOLERANCE


def _eye_region(face, grab_shape, image_shape, margin: float = 4.0) -> tuple[slice, slice]:
    """Grab rows and columns around what engine.overlay.eye_lines draws of ``face``."""
    points = [lines.contour for lines in eye_lines(face)]
    points += [np.array(lines.gaze) for lines in eye_lines(face) if lines.gaze is not None]
    xy = np.concatenate(points)
    s = grab_shape[1] / image_shape[1]
    (x1, y1), (x2, y2) = (xy.min(axis=0) - margin) * s, (xy.max(axis=0) + margin) * s
    return slice(max(0, int(y1)), int(np.ceil(y2))), slice(max(0, int(x1)), int(np.ceil(x2)))


def _eyes_drawn(window) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
    """(changed, grab with the eyes) of the paused frame: the eyes switched on and off through View > Eyes."""
    window.model.update_overlay(**NO_OVERLAY)
    action = window.commands[Act.EYES]
    if not action.isChecked():
        action.trigger()
    assert window.model.overlay.show_eyes and action.isChecked()
    on = qimage_rgb(window.view.grab_video_frame())
    action.trigger()
    assert not window.model.overlay.show_eyes and not action.isChecked()
    off = qimage_rgb(window.view.grab_video_frame())
    action.trigger()  # back on, the default
    frame = window.model.frame
    region = _eye_region(frame.primary_face(), on.shape, frame.image.shape)
    changed = np.any(on != off, axis=2)
    outside = changed.copy()
    outside[region] = False
    assert not outside.any(), f"{int(outside.sum())} pixels drawn away from the eyes"
    return changed, on, region


def _step_to(window, index: int) -> None:
    """Step forward (tracking goes on, no seek) until frame ``index`` is shown."""
    while window.model.frame.result.index < index:
        shown = window.model.frame.result.index
        window.controller.submit(CaptureWorker.step)
        wait_until(lambda shown=shown: window.model.frame.result.index > shown, f"frame {shown + 1}")


def test_lids_and_gaze_in_the_view_white_open_magenta_closed(qapp, weights_dir, obama, tmp_path,
                                                             report_figure) -> None:
    labels = obama_labels()
    closed_frame = min(i for i, label in labels.items() if label == "closed" and i > OPEN_FRAME)
    assert labels[OPEN_FRAME] == "open"
    window = make_window(tmp_path)
    try:
        assert window.model.overlay.show_eyes  # on by default (configs/gui.yaml)
        window.open_source(str(obama))
        wait_until(lambda: window.model.frames_shown >= 2, "frames of obama.mp4")
        window.controller.submit(CaptureWorker.pause)
        wait_until(lambda: not window.model.playing, "pause")
        assert window.model.frame.result.index < OPEN_FRAME
        _step_to(window, OPEN_FRAME)
        face = window.model.frame.primary_face()
        assert min(face.eyes.right.openness, face.eyes.left.openness) > 0.6
        changed, grab, region = _eyes_drawn(window)
        white = (changed & _pixels(grab, EYE_OPEN_COLOUR))[region].sum()
        magenta = (changed & _pixels(grab, EYE_CLOSED_COLOUR))[region].sum()
        gold = (changed & _pixels(grab, GAZE_COLOUR))[region].sum()
        assert white >= 40 and magenta == 0 and gold >= 10, (white, magenta, gold)
        # The contour pixels lie on the lids: near the eye landmarks 36-47.
        s = grab.shape[1] / window.model.frame.image.shape[1]
        ys, xs = np.nonzero(changed & _pixels(grab, EYE_OPEN_COLOUR))
        lids = face.landmarks[36:48, :2] * s
        distance = np.min(np.hypot(xs[:, None] - lids[:, 0], ys[:, None] - lids[:, 1]), axis=1)
        side = (face.box[2] - face.box[0]) * s
        assert np.percentile(distance, 95) < 0.08 * side

        _step_to(window, closed_frame)
        face = window.model.frame.primary_face()
        closed_below = window.engine_config.eyes.closed_below
        assert max(face.eyes.right.openness, face.eyes.left.openness) < closed_below
        changed, grab, region = _eyes_drawn(window)
        white_closed = (changed & _pixels(grab, EYE_OPEN_COLOUR))[region].sum()
        magenta_closed = (changed & _pixels(grab, EYE_CLOSED_COLOUR))[region].sum()
        gold_closed = (changed & _pixels(grab, GAZE_COLOUR))[region].sum()
        assert magenta_closed >= 40 and white_closed == 0 and gold_closed == 0, (
            white_closed, magenta_closed, gold_closed)
        report_figure(f"frame {OPEN_FRAME} (open): {white} white lid px, {gold} gaze px, no magenta; "
                      f"frame {closed_frame} (closed): {magenta_closed} magenta lid px, no white, no gaze; "
                      f"nothing drawn with View > Eyes off")
        assert not window.errors
    finally:
        close_window(window)


def test_plots_show_each_eyes_openness_while_playing(window, obama, report_figure) -> None:
    window.open_source(str(obama))
    wait_until(lambda: window.model.frames_shown >= 30 and window.plots_built, "frames and the plots")
    plots = window.plots
    assert plots.eyes.legend is not None
    wait_until(lambda: np.isfinite(plots.plotted("right eye")).sum() >= 20
               and np.isfinite(plots.plotted("left eye")).sum() >= 20, "openness curves")
    history = window.model.history
    right, left = history.arrays()["right eye"], history.arrays()["left eye"]
    finite = np.isfinite(right) & np.isfinite(left)
    assert finite.sum() >= 20 and np.all((right[finite] >= 0) & (right[finite] < 3))
    # Obama's eyes are open on most of these frames: the typical value is about 1 (his neutral).
    assert 0.7 < float(np.median(right[finite])) < 1.4 and 0.7 < float(np.median(left[finite])) < 1.4
    wait_until(lambda: "right eye" in plots.readout.text() or not window.model.playing, "the eyes in the readout")
    report_figure(f"{int(finite.sum())} frames plotted, median openness right {np.median(right[finite]):.2f} "
                  f"left {np.median(left[finite]):.2f}")
    assert not window.errors


def _offline_blinks(media_dir, last: int) -> tuple[int, int]:
    """(blinks counted by engine.eye_stats on frames 0..last of obama_pingpong.mp4 tracked outside the
    app with the app's smoother, labelled blinks in those frames)."""
    from engine.analyzer import FaceAnalyzer
    from engine.pipeline import TrackingPipeline
    from engine.video_source import open_source

    config = EngineConfig.load()
    pipeline = TrackingPipeline(FaceAnalyzer.from_config(threads=1), smoother="lookahead", keep_pixels=False)
    stats = EyeStats(config.eyes, fps=25.0)
    tracks: set[int] = set()
    with open_source(media_dir / "obama_pingpong.mp4") as source:
        for packet in source:
            for r in pipeline.process(packet):
                if r.index <= last:
                    stats.add(r)
                    tracks.update(tf.track_id for tf in r.faces)
            if packet.index > last + 10:  # past the look-ahead window of the last frame
                break
    labels = obama_labels()
    closed = [labels[source_frame(i)] == "closed" for i in range(last + 1)]
    labelled = sum(1 for i, c in enumerate(closed) if c and (i == 0 or not closed[i - 1]))
    return sum(stats.blinks(t) for t in tracks), labelled


def test_blink_counter_counts_the_blinks_of_the_followed_face(window, media_dir, report_figure) -> None:
    window.open_source(str(media_dir / "obama_pingpong.mp4"))
    wait_until(lambda: window.model.frames_shown >= BLINK_FRAMES, f"{BLINK_FRAMES} frames of obama_pingpong.mp4")
    window.controller.submit(CaptureWorker.pause)
    wait_until(lambda: not window.model.playing, "pause")
    model = window.model
    last = model.frame.result.index
    assert model.frames_shown == last + 1 and model.blinks.since == 0  # every frame counted, from the first
    person = model.followed
    assert person is not None and person == model.frame.result.faces[0].person_id
    counted = model.blinks.blinks(person)
    engine, labelled = _offline_blinks(media_dir, last)
    wait_until(lambda: window.status.blinks_label.text() == f"Face #{person}: {counted} blinks", "the status bar")
    report_figure(f"frames 0-{last}: the app counted {counted} blinks, engine.eye_stats {engine}, "
                  f"hand labels {labelled}")
    assert counted == engine == labelled == 7

    # A seek back starts the count again from the frame landed on (no frame counted twice).
    window.go_to_frame(100)
    wait_until(lambda: model.frame.result.index == 100, "frame 100")
    assert model.blinks.since == 100 and model.blinks.blinks(person) == 0
    # A new source starts from nothing: obama.mp4 blinks on its frames 1-3.
    window.open_source(str(window.model.source.path.parent / "obama.mp4"))
    wait_until(lambda: model.source is not None and model.source.path.name == "obama.mp4"
               and model.frames_shown >= 10, "obama.mp4")
    window.controller.submit(CaptureWorker.pause)
    wait_until(lambda: not model.playing, "pause")
    assert model.blinks.since == 0 and model.frames_shown == model.frame.result.index + 1
    assert model.blinks.blinks(model.followed) == 1
    assert not window.errors


def test_live_panel_shows_the_streamed_eye_weights(window, obama, report_figure) -> None:
    """The weight bars carry the eye blendshapes (ARKit eyeBlink/eyeLook, VRM blink/look) with the
    values the stream sends: low on an open frame, high on a labelled closed one. (Set neutral
    zeroing them is tests/gui/test_live.py's neutral test.)"""
    labels = obama_labels()
    closed_frame = min(i for i, label in labels.items() if label == "closed" and i > OPEN_FRAME)
    bars = window.live_panel.bars
    assert set(EYE_BLENDSHAPE_NAMES) <= set(bars.names)
    window.open_source(str(obama))
    wait_until(lambda: window.model.frames_shown >= 2, "frames of obama.mp4")
    window.controller.submit(CaptureWorker.pause)
    wait_until(lambda: not window.model.playing, "pause")
    blinks = []
    for index in (OPEN_FRAME, closed_frame):
        _step_to(window, index)
        wait_until(lambda i=index: window.model.live is not None and window.model.live.index == i,
                   "the followed face")
        live = window.model.live
        wait_until(lambda weights=live.weights: bars.values == weights, "the bars")
        assert set(EYE_BLENDSHAPE_NAMES) <= set(bars.values)
        blinks.append((bars.values["eyeBlinkRight"], bars.values["eyeBlinkLeft"]))
    (open_r, open_l), (closed_r, closed_l) = blinks
    report_figure(f"eyeBlinkRight/Left in the live panel: frame {OPEN_FRAME} (open) {open_r:.2f}/{open_l:.2f}, "
                  f"frame {closed_frame} (closed) {closed_r:.2f}/{closed_l:.2f}")
    assert max(open_r, open_l) < 0.3 and min(closed_r, closed_l) > 0.7


def _grab_3d(window) -> tuple[np.ndarray, np.ndarray]:
    """(grab with View > Eyes on, grab with it off) of the 3D view."""
    action = window.commands[Act.EYES]
    assert action.isChecked() and window.model.overlay.show_eyes
    window.view.update()
    on = qimage_rgb(window.view.grab_frame())
    action.trigger()
    assert not window.model.overlay.show_eyes
    off = qimage_rgb(window.view.grab_frame())
    action.trigger()  # back on, the default
    return on, off


def _projected(window, points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(n, 2) grab pixels of image-space points (n, 3) through the 3D view's camera."""
    w, h = size
    mvp = window.view.mvp_3d(window.model.frame, w, h)
    clip = np.c_[points, np.ones(len(points))] @ mvp.T
    ndc = clip[:, :3] / clip[:, 3:]
    return np.c_[(ndc[:, 0] + 1) / 2 * w, (1 - ndc[:, 1]) / 2 * h]


def test_3d_view_closes_the_lids_and_turns_the_gaze_arrows_with_the_camera(window, obama, weights_dir,
                                                                           report_figure) -> None:
    """The 3D View draws each open eye's gaze (gold) from the eye, where its camera projects the
    arrow at every orbit; none on a closed-eye frame, none with View > Eyes off. The mesh it draws
    has the lids of a closed eye closed (their shape: tests/test_display_eyes.py)."""
    labels = obama_labels()
    closed_frame = min(i for i, label in labels.items() if label == "closed" and i > OPEN_FRAME)
    window.open_source(str(obama))
    wait_until(lambda: window.model.frames_shown >= 2, "frames of obama.mp4")
    window.controller.submit(CaptureWorker.pause)
    wait_until(lambda: not window.model.playing, "pause")
    _step_to(window, OPEN_FRAME)
    window.model.set_view_3d(True)
    view = window.view
    figures, regions = [], []
    try:
        gaze = window.model.frame.arrays.gaze[:, :3]
        starts = gaze.reshape(2, -1, 3)[:, :2].mean(axis=1)  # each eye's arrow starts at its first edge's middle
        for yaw_px in (0, 150):  # the camera facing the mesh as the video does, then turned 60 degrees
            view.camera.reset()
            view.camera.orbit(yaw_px, 0)
            on, off = _grab_3d(window)
            gold = _pixels(on, GAZE_COLOUR)
            assert np.array_equal(np.any(on != off, axis=2), gold), "View > Eyes switches the gold pixels only"
            size = (on.shape[1], on.shape[0])
            xy = _projected(window, gaze, size)
            x1, y1 = np.floor(xy.min(axis=0)) - 2
            x2, y2 = np.ceil(xy.max(axis=0)) + 2
            ys, xs = np.nonzero(gold)
            inside = (xs >= x1) & (xs <= x2) & (ys >= y1) & (ys <= y2)
            assert len(xs) >= 40 and inside.all(), (len(xs), int((~inside).sum()))
            # Each arrow leaves its eye: gold from its projected start on (the lid may hide the first pixels).
            for start in _projected(window, starts, size):
                assert np.hypot(xs - start[0], ys - start[1]).min() <= START_SLACK_PX, start
            if regions:  # turned with the camera: away from where the front view drew it
                fx1, fy1, fx2, fy2 = regions[0]
                assert np.mean((xs >= fx1) & (xs <= fx2) & (ys >= fy1) & (ys <= fy2)) < 0.5
            regions.append((x1, y1, x2, y2))
            figures.append(f"camera yaw {view.camera.yaw:.0f}: {len(xs)} gold px")

        _step_to(window, closed_frame)
        frame = window.model.frame
        face = frame.primary_face()
        assert max(face.eyes.right.openness, face.eyes.left.openness) < window.engine_config.eyes.closed_below
        # The mesh the view draws: each upper lid vertex down on the lower one facing it (the tracked
        # mesh keeps them about 10 px apart).
        keypoints = FaceModel.load(weights_dir / "face_model.npz").keypoints
        upper, lower = keypoints[[37, 38, 43, 44]], keypoints[[41, 40, 47, 46]]
        tracked, shown = face.vertices, window.view.face_vertices(frame, 0)
        tracked_gap, shown_gap = tracked[lower, 1] - tracked[upper, 1], shown[lower, 1] - shown[upper, 1]
        assert (tracked_gap > 5).all() and (np.abs(shown_gap) < 0.1 * tracked_gap).all(), (tracked_gap, shown_gap)
        on, off = _grab_3d(window)
        assert frame.arrays.gaze.size == 0 and not _pixels(on, GAZE_COLOUR).any() and np.array_equal(on, off)
        report_figure(f"frame {OPEN_FRAME} (open): " + ", ".join(figures) + f"; frame {closed_frame} (closed): "
                      f"lids {np.abs(shown_gap).max():.2f} px apart (tracked {tracked_gap.min():.1f}), "
                      "no gold px; none with View > Eyes off")
        assert not window.errors
    finally:
        view.camera.reset()
        window.model.set_view_3d(False)
