"""Smoothers: frame conservation, consistency with the face model, jitter on obama_pingpong.mp4."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.analyzer import FaceAnalyzer
from engine.frames import FrameResult, TrackedFace
from engine.pipeline import TrackingPipeline
from engine.smoothing import LookAheadSmoother, OneEuroSmoother, PassThroughSmoother, face_state
from engine.video_source import open_source

TINY = np.zeros((1, 1, 3), np.uint8)  # results kept for the jitter figure do not hold 440 frames
LOOKAHEAD_JITTER_PX = 1.05  # look-ahead jitter on obama_pingpong.mp4 before issue 9 (docs/tracking.md)


def jitter(results: list[FrameResult], track_id: int = 1) -> float:
    """Mean magnitude (px) of the second difference of the 68 landmarks over consecutive frames."""
    xy = np.array([next(tf.face.landmarks[:, :2] for tf in r.faces if tf.track_id == track_id) for r in results])
    return float(np.linalg.norm(xy[2:] - 2 * xy[1:-1] + xy[:-2], axis=2).mean())


@pytest.fixture(scope="module")
def analyzer(weights_dir) -> FaceAnalyzer:
    return FaceAnalyzer.from_config(threads=2)


@pytest.fixture(scope="module")
def pingpong_raw(analyzer, media_dir) -> tuple[list[FrameResult], TrackingPipeline]:
    """The default tracker on obama_pingpong.mp4 with smoothing off (images dropped)."""
    pipeline = TrackingPipeline(analyzer, smoother="off")
    raw = []
    with open_source(media_dir / "obama_pingpong.mp4") as source:
        for packet in source:
            raw += [dataclasses.replace(r, image=TINY) for r in pipeline.process(packet)]
    raw += pipeline.flush()
    return raw, pipeline


def test_pingpong_tracks_one_face_every_frame(pingpong_raw) -> None:
    raw, pipeline = pingpong_raw
    assert len(raw) == 440
    assert all(len(r.faces) == 1 and r.faces[0].track_id == 1 for r in raw)
    assert len({r.faces[0].segment for r in raw}) == 1  # never broken: no cut, no identity break
    assert pipeline.stats.detector_calls <= 3 and pipeline.stats.scene_cuts == 0
    every = pipeline.config.tracker.detect_every
    assert pipeline.stats.search_calls == len(range(every, 440, every))  # the face search, on schedule


def test_lookahead_lowers_jitter_by_30_percent_and_keeps_every_frame(analyzer, pingpong_raw,
                                                                     report_figure) -> None:
    raw, _ = pingpong_raw
    cfg = analyzer.config.smoother
    smoother = LookAheadSmoother(analyzer.face_model, cfg.n_pre, cfg.n_next, cfg.sigma)
    out = []
    for r in raw:
        out += smoother.push(r)
    assert len(out) == len(raw) - cfg.n_next  # delayed by n_next frames
    out += smoother.flush()
    assert [r.index for r in out] == [r.index for r in raw]
    j_raw, j_smooth = jitter(raw), jitter(out)
    report_figure(f"jitter on obama_pingpong.mp4: raw {j_raw:.3f} px, look-ahead {j_smooth:.3f} px "
                  f"({100 * (1 - j_smooth / j_raw):.0f} % lower)")
    assert j_smooth <= 0.7 * j_raw, (j_raw, j_smooth)
    # issue 9: finding new faces, cuts and identity must not cost the one-face figure (1.05 px)
    assert j_smooth <= 1.05 * LOOKAHEAD_JITTER_PX, j_smooth
    # smoothing does not drag the landmarks away from the face: mean shift a few px
    shift = np.mean([np.abs(a.faces[0].face.landmarks[:, :2] - b.faces[0].face.landmarks[:, :2]).mean()
                     for a, b in zip(raw, out)])
    assert shift < 3.0


def test_one_euro_lowers_jitter_without_delay(analyzer, pingpong_raw) -> None:
    raw, _ = pingpong_raw
    cfg = analyzer.config.smoother
    smoother = OneEuroSmoother(analyzer.face_model, cfg.min_cutoff, cfg.beta, cfg.d_cutoff)
    out = []
    for r in raw:
        ready = smoother.push(r)
        assert [x.index for x in ready] == [r.index]  # zero latency
        out += ready
    assert smoother.flush() == []
    assert jitter(out) <= 0.8 * jitter(raw)


def _face_sequence(analyzer, media_dir, n: int):
    """n faces regressed from obama.mp4 frames (real params/ROIs), cycled."""
    pipeline = TrackingPipeline(analyzer, smoother="off")
    faces = []
    with open_source(media_dir / "obama.mp4") as source:
        for packet in source:
            faces += [r.faces[0].face for r in pipeline.process(packet)]
            if len(faces) >= 12:
                break
    return [faces[i % len(faces)] for i in range(n)]


@pytest.mark.parametrize("make", [
    lambda m: LookAheadSmoother(m, 3, 3, 2.0), lambda m: LookAheadSmoother(m, 0, 5, 0.0),
    lambda m: LookAheadSmoother(m, 4, 0, 1.0), lambda m: OneEuroSmoother(m), lambda m: PassThroughSmoother()])
def test_no_frame_lost_or_duplicated_when_tracks_start_and_end(analyzer, media_dir, make) -> None:
    faces = _face_sequence(analyzer, media_dir, 40)
    # track 1 on frames 0-14 and 20-39 (an ID coming back after a gap), track 2 on 5-9 and 37-39,
    # frames 15-19 empty: starts and ends at the stream's edges and in the middle
    presence = {1: set(range(0, 15)) | set(range(20, 40)), 2: set(range(5, 10)) | {37, 38, 39}}
    smoother = make(analyzer.face_model)
    inputs, out = [], []
    for i in range(40):
        # segments: track 1's return after the gap is a new segment (3), as the tracker makes it
        tfs = [TrackedFace(tid, faces[(i + 3 * tid) % 40], tid if i < 20 else tid + 2, tid) for tid in (1, 2)
               if i in presence[tid]]
        r = FrameResult(index=i, timestamp=i / 25, image=TINY, faces=tfs)
        inputs.append(r)
        ready = smoother.push(r)
        assert len(out) + len(ready) == max(0, i + 1 - smoother.delay_frames)
        out += ready
    out += smoother.flush()
    assert [r.index for r in out] == list(range(40))
    for a, b in zip(inputs, out):
        assert [tf.track_id for tf in a.faces] == [tf.track_id for tf in b.faces]
        for ta, tb in zip(a.faces, b.faces):  # smoothed faces stay on the face (no mixing of tracks)
            assert np.abs(ta.face.landmarks[:, :2] - tb.face.landmarks[:, :2]).mean() < 20


def test_smoothed_faces_are_consistent_with_the_model(analyzer, media_dir) -> None:
    model = analyzer.face_model
    faces = _face_sequence(analyzer, media_dir, 12)
    f = faces[0]
    # the image-space camera round trip is exact
    camera = model.image_camera(f.params, f.roi)
    np.testing.assert_allclose(model.params_from_image_camera(camera, f.params[12:], f.roi), f.params,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.landmarks_from_camera(camera, f.params[12:]), f.landmarks, atol=1e-2)
    np.testing.assert_allclose(model.dense_from_camera(camera, f.params[12:]),
                               model.dense_vertices(f.params, f.roi), atol=2e-2)
    smoother = LookAheadSmoother(model, 2, 2, 1.0)
    out = []
    for i, face in enumerate(faces):
        out += smoother.push(FrameResult(index=i, timestamp=i / 25, image=TINY, faces=[TrackedFace(1, face, 1, 1)]))
    out += smoother.flush()
    for r in out:
        s = r.faces[0].face
        # params, ROI and landmarks agree: model.landmarks(params, roi) gives the smoothed landmarks
        np.testing.assert_allclose(model.landmarks(s.params, s.roi), s.landmarks, atol=1e-2)
        assert s.pose.as_tuple() == model.head_pose(s.params).as_tuple()


def test_lookahead_is_exact_on_steady_motion_even_at_track_edges(analyzer, media_dir) -> None:
    """Local-linear fit: a face moving at constant speed comes out unchanged, also where the window is cut."""
    model = analyzer.face_model
    base = _face_sequence(analyzer, media_dir, 1)[0]
    smoother = LookAheadSmoother(model, 3, 3, 2.0)
    inputs, out = [], []
    for i in range(10):
        roi = base.roi + np.float32(4.0 * i)  # the ROI slides 4 px per frame; params stay: linear motion
        face = dataclasses.replace(base, roi=roi, landmarks=model.landmarks(base.params, roi))
        inputs.append(face)
        out += smoother.push(FrameResult(index=i, timestamp=i / 25, image=TINY, faces=[TrackedFace(1, face, 1, 1)]))
    out += smoother.flush()
    for face, r in zip(inputs, out):
        np.testing.assert_allclose(r.faces[0].face.landmarks[:, :2], face.landmarks[:, :2], atol=0.05)
    assert face_state(model, inputs[0]).shape == (62,)


def test_pipeline_dense_output_matches_the_face_model(analyzer, media_dir) -> None:
    model = analyzer.face_model
    for kind in ("off", "lookahead"):
        pipeline = TrackingPipeline(analyzer, dense=True, smoother=kind)
        out = []
        with open_source(media_dir / "obama.mp4") as source:
            for packet in source:
                out += pipeline.process(packet)
                if packet.index == 5:
                    break
        out += pipeline.flush()
        assert [r.index for r in out] == list(range(6))
        for r in out:
            f = r.faces[0].face
            np.testing.assert_allclose(f.vertices, model.dense_vertices(f.params, f.roi), atol=2e-2)
            # the dense mesh and the landmarks agree (x, y)
            np.testing.assert_allclose(model.dense_landmarks(f.vertices)[:, :2], f.landmarks[:, :2], atol=0.05)
            assert set(r.timings_ms) >= {"decode", "detect", "regress", "verify", "smooth", "reconstruct"}


@pytest.mark.parametrize("kind", ["lookahead", "realtime"])
def test_a_new_segment_is_never_blended_with_the_old_one(analyzer, media_dir, kind) -> None:
    """Same track ID, a face 300 px away from frame 6 on: with a new segment the output on
    either side of the break is the input; had the segment carried on, it would blend."""
    from engine.smoothing import make_smoother

    model = analyzer.face_model
    base = _face_sequence(analyzer, media_dir, 1)[0]
    moved_roi = base.roi + np.float32(300.0)
    moved = dataclasses.replace(base, roi=moved_roi, landmarks=model.landmarks(base.params, moved_roi))

    def run(segments: list[int]) -> list[FrameResult]:
        smoother = make_smoother(kind, model, analyzer.config.smoother)
        out = []
        for i, seg in enumerate(segments):
            face = base if i < 6 else moved
            out += smoother.push(FrameResult(index=i, timestamp=i / 25, image=TINY,
                                             faces=[TrackedFace(1, face, seg, 1)]))
        return out + smoother.flush()

    def shift(results: list[FrameResult], i: int) -> float:
        want = (base if i < 6 else moved).landmarks[:, :2]
        return float(np.abs(results[i].faces[0].face.landmarks[:, :2] - want).max())

    broken = run([1] * 6 + [2] * 6)
    assert max(shift(broken, 5), shift(broken, 6)) < 0.05
    carried = run([1] * 12)
    assert max(shift(carried, 5), shift(carried, 6)) > 50  # what keying on the ID alone would do
