"""Video sources on real files: counting by reading, truncation, folders, latest-frame cameras."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from engine.video_source import (CameraSource, FrameBuffers, ImageFolderSource, SeekError, SourceError, VideoFileSource,
                                 open_source)
from tests.support.video_fixtures import blank_gap_clip


def test_obama_frames_are_counted_by_reading(media_dir) -> None:
    with open_source(media_dir / "obama.mp4") as source:
        assert isinstance(source, VideoFileSource) and not source.is_live
        assert source.fps == pytest.approx(25.0)
        assert source.frame_size == (1280, 720)
        packets = list(source)
    assert [p.index for p in packets] == list(range(55))  # the header claims 158
    assert packets[10].timestamp == pytest.approx(10 / 25.0)
    assert all(p.image.shape == (720, 1280, 3) and p.image.dtype == np.uint8 for p in packets[:3])
    assert source.error is None
    assert "158" in source.warning and "55" in source.warning


def test_missing_and_unreadable_files_raise_one_line(tmp_path, media_dir) -> None:
    with pytest.raises(SourceError, match="no such video file"):
        open_source(tmp_path / "nope.mp4")
    # An MP4 cut in half has lost its index (moov at the end): it cannot be opened.
    cut = tmp_path / "cut.mp4"
    cut.write_bytes((media_dir / "obama_pingpong.mp4").read_bytes()[:1_000_000])
    with pytest.raises(SourceError) as info:
        open_source(cut)
    assert "\n" not in str(info.value) and "cut.mp4" in str(info.value)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(SourceError):
        open_source(junk)


def test_truncated_avi_keeps_the_frames_before_the_cut(tmp_path, media_dir) -> None:
    clip = blank_gap_clip(tmp_path, media_dir)
    data = clip.path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with open_source(cut) as source:
        packets = list(source)
    assert 5 <= len(packets) < clip.n_frames
    assert [p.index for p in packets] == list(range(len(packets)))
    # the frames that were kept are the real ones
    with open_source(clip.path) as full:
        first = next(iter(full))
    assert np.abs(packets[0].image.astype(int) - first.image.astype(int)).mean() < 1.0


def test_image_folder_natural_order_and_normalisation(tmp_path) -> None:
    grey16 = np.full((40, 60), 65535, np.uint16)
    bgra = np.zeros((40, 60, 4), np.uint8)
    bgra[..., 2] = 200
    cv2.imwrite(str(tmp_path / "frame10.png"), grey16)
    cv2.imwrite(str(tmp_path / "frame2.png"), bgra)
    cv2.imwrite(str(tmp_path / "frame1.png"), np.full((40, 60, 3), 7, np.uint8))
    (tmp_path / "frame3.png").write_bytes(b"broken")
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_source(tmp_path)
    assert isinstance(source, ImageFolderSource)
    packets = list(source)
    assert [p.index for p in packets] == [0, 1, 2]
    assert all(p.image.shape == (40, 60, 3) and p.image.dtype == np.uint8 for p in packets)
    assert packets[0].image[0, 0, 0] == 7  # frame1
    assert tuple(packets[1].image[0, 0]) == (0, 0, 200)  # frame2, alpha dropped
    assert packets[2].image[0, 0, 0] == 255  # frame10, 16-bit scaled
    assert "frame3.png" in source.warning
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images"):
        ImageFolderSource(empty)


def test_camera_latest_frame_policy_with_a_slow_consumer(media_dir) -> None:
    """A real file behind the camera interface, read faster than the consumer takes frames."""
    source = CameraSource(media_dir / "obama.mp4")
    assert source.is_live and source.frame_size == (1280, 720)
    indices = []
    for packet in source:
        indices.append(packet.index)
        time.sleep(0.2)  # a slow consumer (5 fps): the reader thread runs ahead even on a loaded machine
    assert source.error is None  # a file behind the interface ends normally
    assert indices == sorted(set(indices))  # never a frame twice, never backwards
    assert len(indices) < 55 and source.frames_dropped > 0  # no backlog: frames were replaced
    assert indices[-1] >= 50  # the consumer still got (close to) the newest frame at the end
    assert max(np.diff(indices)) > 1


class _DyingCamera:
    """A capture that delivers a few frames, then reports failure like an unplugged camera."""

    def __init__(self, frames: int) -> None:
        self.left = frames

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        time.sleep(0.005)
        return True, np.full((48, 64), 100, np.uint8)  # greyscale: normalised to BGR

    def release(self) -> None:
        pass


def test_camera_gone_ends_with_a_message() -> None:
    with CameraSource(_DyingCamera(5)) as source:
        packets = list(source)
    assert 1 <= len(packets) <= 5
    assert packets[0].image.shape == (48, 64, 3)
    assert source.error and "stopped delivering" in source.error and "\n" not in source.error


def test_camera_that_never_delivers_fails_to_open() -> None:
    with pytest.raises(SourceError):
        CameraSource(_DyingCamera(0), timeout=0.5)


class _StuckCamera:
    """A driver whose read hangs once (a slow USB camera): it notes a release during a read."""

    def __init__(self) -> None:
        import threading

        self.reads, self.hang, self.unstick = 0, threading.Event(), threading.Event()
        self.reading = False
        self.released_while_reading = False
        self.releases = 0

    def read(self):
        self.reading = True
        self.reads += 1
        if self.reads == 3:
            self.hang.set()
            self.unstick.wait(30)
        time.sleep(0.005)
        self.reading = False
        return True, np.full((48, 64, 3), 100, np.uint8)

    def release(self) -> None:
        self.released_while_reading |= self.reading
        self.releases += 1


def test_closing_a_camera_stuck_in_a_read_never_releases_it_under_the_read() -> None:
    """close() waits 2 s for the reader, then returns; the device is released once, by the
    reader, after its read came back (OpenCV's read and release on one capture at once is
    undefined behaviour: a crash in the driver)."""
    camera = _StuckCamera()
    source = CameraSource(camera)
    assert camera.hang.wait(10)
    source.close()  # gives up waiting for the stuck read
    assert camera.releases == 0 and source._thread.is_alive()
    camera.unstick.set()
    source._thread.join(10)
    assert not source._thread.is_alive()
    assert camera.releases == 1 and not camera.released_while_reading


# -- seeking and counting --------------------------------------------------------------


def _sequential(path) -> list[np.ndarray]:
    with VideoFileSource(path) as source:
        return [p.image for p in source]


@pytest.mark.parametrize("name", ["obama.mp4", "obama_pingpong.mp4"])
def test_seek_lands_exactly_on_the_frame(media_dir, name, report_figure) -> None:
    path = media_dir / name
    frames = _sequential(path)
    n = len(frames)
    source = VideoFileSource(path)
    targets = [n // 2, 3, n - 1, 0, 1, n // 2 + 5, n - 2, 7, n // 3]  # backwards, forwards, short hops
    costs = []
    for k in targets:
        t = time.perf_counter()
        source.seek(k)
        packet = next(iter(source))
        costs.append(time.perf_counter() - t)
        assert packet.index == k and packet.timestamp == pytest.approx(k / source.fps)
        assert np.array_equal(packet.image, frames[k]), f"seek({k}) gave another frame"
        if k + 1 < n:  # and reading on continues from there
            assert np.array_equal(next(iter(source)).image, frames[k + 1])
    assert source.frame_count == n
    # Past the end: a one-line error that tells the true length; the source stays usable.
    for k in (n, n + 10, source.header_frame_count or n):
        with pytest.raises(SeekError) as info:
            source.seek(k)
        assert info.value.frame_count == n and "\n" not in str(info.value) and f"{n} frames" in str(info.value)
    with pytest.raises(ValueError):
        source.seek(-1)
    source.seek(n - 1)
    assert [p.index for p in source] == [n - 1]  # the last frame, then the end
    source.close()
    report_figure(f"{name}: {n} frames, seek + read median {1000 * float(np.median(costs)):.0f} ms, "
                  f"max {1000 * max(costs):.0f} ms")


def test_seek_after_the_end_and_on_a_long_clip_is_fast(media_dir) -> None:
    path = media_dir / "obama_pingpong.mp4"
    # Costs in CPU seconds of this process (decoder threads included), not wall time: on a
    # shared machine another job can stall either measurement, and the claim is about work.
    with VideoFileSource(path) as source:
        t = time.process_time()
        packets = [p.index for p in source]
        read_all = time.process_time() - t
        assert source.frame_count == len(packets) == 440
        # The iterator ended (capture released): seek reopens, iteration resumes.
        t = time.process_time()
        source.seek(400)
        seek_s = time.process_time() - t
        assert [p.index for p in source][:3] == [400, 401, 402]
    # Far cheaper than decoding up to the target (which the app did before).
    assert seek_s < 0.5 * read_all * 400 / 440, (seek_s, read_all)


class _InexactSeek:
    """A capture whose CAP_PROP_POS_FRAMES seek lands ``offset`` frames off, like some codecs."""

    def __init__(self, cap, offset: int) -> None:
        self._cap, self.offset, self.seeks = cap, offset, 0

    def set(self, prop, value):
        if prop == cv2.CAP_PROP_POS_FRAMES:
            self.seeks += 1
            value = max(0, value + self.offset)
        return self._cap.set(prop, value)

    def __getattr__(self, name):
        return getattr(self._cap, name)


@pytest.mark.parametrize("offset", [-5, 3])
def test_seek_corrects_an_inexact_landing(media_dir, offset) -> None:
    path = media_dir / "obama_pingpong.mp4"
    frames = _sequential(path)
    with VideoFileSource(path) as source:
        source._capture.cap = _InexactSeek(source._capture.cap, offset)
        for k in (300, 40, 200):
            source.seek(k)
            assert np.array_equal(next(iter(source)).image, frames[k]), (offset, k)
        assert source._capture.cap.seeks >= 3  # it really went through the (wrong) OpenCV seek


def test_seek_without_usable_timestamps_decodes_from_the_start(media_dir) -> None:
    frames = _sequential(media_dir / "obama.mp4")
    with VideoFileSource(media_dir / "obama.mp4") as source:
        source._counter.times_usable = False  # as for a file whose frames carry no timestamps
        for k in (30, 10, 54):
            source.seek(k)
            assert np.array_equal(next(iter(source)).image, frames[k])
        with pytest.raises(SeekError, match="55 frames"):
            source.seek(60)


def test_background_count_finds_the_true_length(media_dir) -> None:
    done = []
    with VideoFileSource(media_dir / "obama.mp4") as source:
        assert source.header_frame_count == 158 and source.frame_count == 158 and not source.frame_count_exact
        source.start_counting(done.append)
        # The count runs at nice 19: on a loaded machine it took 80 s for these 55 frames.
        source._counter.join(timeout=900)
        assert done == [55] and source.frame_count == 55 and source.frame_count_exact
        assert [p.index for p in source][-1] == 54  # reading is not disturbed


def test_a_seek_does_not_wait_for_the_background_count(media_dir) -> None:
    """The background count runs at the lowest priority and can be starved for minutes on a
    loaded machine; a seek that needs the count counts in its own thread instead, and the
    abandoned background count changes nothing afterwards."""
    done = []
    with VideoFileSource(media_dir / "obama.mp4") as source:
        source.start_counting(done.append)
        counter = source._counter
        with pytest.raises(SeekError, match="the video has 55 frames") as info:
            source.seek(150)  # past the end: needs the true count now
        assert info.value.frame_count == 55 and source.frame_count == 55 and done == [55]
        source.seek(54)
        assert next(iter(source)).index == 54
        counter.join(timeout=900)
        assert done == [55] and source.frame_count == 55  # the abandoned count reported nothing


def test_every_source_declares_seeking_and_counting(media_dir, tmp_path) -> None:
    """The capability members are on every source (no probing): files seek and count,
    folders and cameras say they cannot, in one line."""
    with VideoFileSource(media_dir / "obama.mp4") as video:
        assert video.seekable and video.frame_count == 158 and not video.frame_count_exact
        assert video.frames_dropped == 0
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    with open_source(tmp_path) as folder:
        assert not folder.seekable and folder.frame_count is None and not folder.frame_count_exact
        with pytest.raises(SourceError) as info:
            folder.seek(0)
        assert "cannot seek" in str(info.value) and "\n" not in str(info.value)
        folder.start_counting(lambda n: pytest.fail("a folder has nothing to count"))
        assert [p.index for p in folder] == [0]


def _data_pointer(image: np.ndarray) -> int:
    return int(image.__array_interface__["data"][0])


def test_decoded_frames_reuse_buffers_only_when_nobody_holds_them(media_dir) -> None:
    path = media_dir / "obama_pingpong.mp4"
    reference = []
    cap = cv2.VideoCapture(str(path))
    for _ in range(40):
        ok, image = cap.read()
        assert ok
        reference.append(image)
    cap.release()
    source = VideoFileSource(path)
    frames = iter(source)
    held = [next(frames).image for _ in range(12)]  # a smoother window's worth, kept
    crop = held[3][100:140, 600:660]  # a view keeps its frame's buffer too
    crop_before = crop.copy()
    pointers = {_data_pointer(image) for image in held}
    assert len(pointers) == 12  # all distinct: none was decoded over another
    del held
    later = []
    for _ in range(28):
        image = next(frames).image
        later.append((_data_pointer(image), image.copy()))
        del image  # the next read may take this buffer again
    source.close()
    # Every frame read is exactly what OpenCV decodes, whatever buffer it came in.
    for k, (_, image) in enumerate(later):
        assert np.array_equal(image, reference[12 + k])
    assert np.array_equal(crop, crop_before) and np.array_equal(crop, reference[3][100:140, 600:660])
    # Buffers came back: far fewer distinct ones than frames (where pooling is on).
    if FrameBuffers.POOLING:
        assert len({pointer for pointer, _ in later}) <= 3
    assert _data_pointer(crop.base if crop.base is not None else crop) not in {p for p, _ in later}


def test_one_decoder_thread_decodes_the_same_frames_and_keeps_it_after_a_seek(media_dir) -> None:
    """Pipelined runs open files with one FFmpeg thread (runtime.pipelined_decoder_threads);
    the frames are those of FFmpeg's own choice, also after a seek reopened the file."""
    path = media_dir / "obama.mp4"
    with open_source(path) as default, open_source(path, decoder_threads=1) as single:
        assert isinstance(single, VideoFileSource) and single.decoder_threads == 1
        assert default.decoder_threads is None
        for a, b in zip(default, single, strict=True):
            assert a.index == b.index and np.array_equal(a.image, b.image)
        single.seek(7)
        default.seek(7)
        assert single.decoder_threads == 1
        assert np.array_equal(next(iter(single)).image, next(iter(default)).image)
