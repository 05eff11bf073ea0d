import math

import pytest
import torch
from conftest import write_square_video
from hypothesis import given, settings
from hypothesis import strategies as st
from media import remux, rotate_mp4, write_two_streams, write_video

from vcast_core.errors import MemoryLimitError
from vcast_core.video import VideoError, decord_available, load_video, sample_indices


def test_sample_indices_by_hand():
    assert sample_indices(50, 25.0, num_frames=5) == [0, 12, 24, 37, 49]  # linspace 0..49, half to even
    # the frame on screen at 0, 0.5, 1.0 and 1.5 s: shown from 0, 0.48, 1.0 and 1.48 s
    assert sample_indices(50, 25.0, fps=2.0) == [0, 12, 25, 37]
    # at 0.5, 0.7 and 0.9 s, but not before the first frame shown after the start (0.52 s)
    assert sample_indices(50, 25.0, fps=5.0, start=0.5, end=1.0) == [13, 17, 22]
    assert sample_indices(50, 25.0, fps=25.0, max_frames=3) == [0, 24, 49]
    assert sample_indices(3, 25.0, fps=100.0) == [0, 1, 2]  # above the source rate: each frame once
    # ten hours at 30 fps: the sample times are thinned before they are listed
    assert sample_indices(1_080_000, 30.0, fps=30.0, max_frames=3) == [0, 540_000, 1_079_999]


def test_sampling_errors_say_what_to_change():
    with pytest.raises(VideoError, match="exactly one of fps"):
        sample_indices(50, 25.0)
    with pytest.raises(VideoError, match=r"use 0 <= start < end <= 2\.00"):
        sample_indices(50, 25.0, fps=1.0, start=3.0)
    with pytest.raises(VideoError, match="num_frames must be >= 1"):
        sample_indices(50, 25.0, num_frames=0)
    with pytest.raises(VideoError, match=r"asked for 8 frames, but the video has only 3 between 0 s and 0\.12 s"):
        sample_indices(3, 25.0, num_frames=8)
    with pytest.raises(VideoError, match=r"has only 12 between 1.5 s and 2 s; ask for at most 12 frames"):
        sample_indices(50, 25.0, num_frames=20, start=1.5)
    with pytest.raises(VideoError, match="gives 1080000 frames; set max_frames"):
        sample_indices(1_080_000, 30.0, fps=30.0)


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_clip_metadata(clip_path, backend):
    if backend == "decord" and not decord_available():
        pytest.skip("decord is not installed on this platform")
    clip = load_video(clip_path, num_frames=8, backend=backend)
    assert clip.frames.dtype == torch.uint8 and clip.frames.shape == (8, 64, 96, 3)
    assert clip.indices == (0, 7, 14, 21, 28, 35, 42, 49)
    assert clip.timestamps == pytest.approx([i / 25 for i in clip.indices])
    assert (clip.source_fps, clip.source_frames, clip.duration) == (25.0, 50, 2.0)
    assert clip.backend == backend
    # the square has moved right by the frame index: its left edge is bright, the column before it dark
    for frame, index in zip(clip.frames, clip.indices, strict=True):
        assert frame[30, index + 2, 0] > 180 and (index < 3 or frame[30, index - 3, 0] < 120)


@pytest.mark.skipif(not decord_available(), reason="decord is not installed on this platform")
@pytest.mark.parametrize(
    "sampling",
    [dict(num_frames=8), dict(fps=2.0), dict(fps=5.0, start=0.5, end=1.5), dict(fps=25.0, max_frames=7)],
)
def test_decord_and_pyav_give_the_same_clip(clip_path, sampling):
    by_decord = load_video(clip_path, backend="decord", **sampling)
    by_pyav = load_video(clip_path, backend="pyav", **sampling)
    assert by_decord.indices == by_pyav.indices
    assert by_decord.timestamps == by_pyav.timestamps
    assert torch.equal(by_decord.frames, by_pyav.frames)


@pytest.mark.skipif(not decord_available(), reason="decord is not installed on this platform")
@pytest.mark.parametrize(
    "sampling", [dict(fps=1.0), dict(fps=3.0, start=2.1, end=7.3), dict(num_frames=5), dict(fps=25.0, max_frames=40)]
)
def test_seeking_between_keyframes_gives_the_same_clip(tmp_path_factory, sampling):
    # 10 s with a keyframe every 10 frames: PyAV seeks to most samples instead of decoding through.
    path = write_square_video(tmp_path_factory.mktemp("gop") / "long.mp4", frames=250, keyframe_every=10)
    by_decord = load_video(path, backend="decord", **sampling)
    by_pyav = load_video(path, backend="pyav", **sampling)
    assert by_decord.indices == by_pyav.indices and by_decord.timestamps == by_pyav.timestamps
    assert torch.equal(by_decord.frames, by_pyav.frames)


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_unreadable_inputs(tmp_path, clip_path, backend):
    if backend == "decord" and not decord_available():
        pytest.skip("decord is not installed on this platform")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(VideoError, match="does not exist"):
        load_video(tmp_path / "missing.mp4", num_frames=4, backend=backend)
    with pytest.raises(VideoError, match="is not a file"):
        load_video(tmp_path, num_frames=4, backend=backend)
    with pytest.raises(VideoError, match="is not a readable video"):
        load_video(text, num_frames=4, backend=backend)
    with pytest.raises(VideoError, match="backend must be one of"):
        load_video(clip_path, num_frames=4, backend="ffmpeg")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Files as people have them: other containers, several streams, variable rate, rotation, playlists."""
    folder = tmp_path_factory.mktemp("media")
    mp4 = write_video(folder / "clip.mp4", frames=40)
    return dict(
        mp4=mp4,
        ts=remux(mp4, folder / "clip.ts", "mpegts"),
        mpg=write_video(folder / "clip.mpg", frames=40, codec="mpeg2video", container_format="mpeg"),
        vfr=write_video(folder / "vfr.mp4", frames=12, times=VFR_TIMES),
        two=write_two_streams(folder / "two.mp4", (32, 24), (320, 240)),
        gif=write_video(folder / "clip.gif", frames=10, codec="gif", container_format="gif", pix_fmt="rgb8"),
        tiny=write_video(folder / "tiny.mp4", frames=10, width=16, height=16),
        folder=folder,
    )


VFR_TIMES = [0, 0.08, 0.2, 0.28, 0.4, 0.48, 1.48, 2.48, 3.48, 3.6, 3.68, 3.8]  # 12.5 fps, then 1 fps, then again


def test_mpeg_ts_and_ps_decode_with_timestamps_from_their_first_frame(media):
    reference = load_video(media["mp4"], fps=4.0, backend="pyav")
    from_ts = load_video(media["ts"], fps=4.0)  # the same packets in an MPEG-TS container
    assert from_ts.backend == "pyav" and from_ts.indices == reference.indices
    assert from_ts.timestamps == reference.timestamps and torch.equal(from_ts.frames, reference.frames)
    from_ps = load_video(media["mpg"], fps=4.0)
    assert from_ps.timestamps[0] == 0 and list(from_ps.timestamps) == sorted(from_ps.timestamps)
    assert all(0 <= t < 2 for t in from_ps.timestamps) and from_ps.frames.shape[1:] == (64, 96, 3)


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_variable_frame_rate_is_sampled_by_time(media, backend):
    if backend == "decord" and not decord_available():
        pytest.skip("decord is not installed on this platform")
    clip = load_video(media["vfr"], fps=2.0, backend=backend)
    # the frame on screen at 0, 0.5, 1.0, ..., 4.0 s (the last frame is shown until about 4.1 s), each once
    assert clip.indices == (0, 5, 6, 7, 8, 11)
    assert clip.timestamps == pytest.approx([0, 0.48, 1.48, 2.48, 3.48, 3.8], abs=0.021)  # on the encoder's 1/25 s
    assert clip.source_frames == 12


def test_the_main_stream_is_the_one_measured_and_decoded(media):
    with pytest.raises(MemoryLimitError, match="frames of 320x240"):
        load_video(media["two"], num_frames=20, max_memory_gb=20 * 32 * 24 * 3 / 2**30 * 2)  # fits the preview only
    clip = load_video(media["two"], num_frames=4)
    assert clip.frames.shape == (4, 240, 320, 3) and clip.backend == "pyav"
    if decord_available():
        with pytest.raises(VideoError, match="holds 2 video streams"):
            load_video(media["two"], num_frames=4, backend="decord")


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotated_video_is_turned_upright_by_every_backend(media, degrees):
    rotated = rotate_mp4(media["mp4"], media["folder"] / f"rotated{degrees}.mp4", degrees)
    clip = load_video(rotated, num_frames=3)
    assert clip.backend == "pyav"
    upright = load_video(media["mp4"], num_frames=3, backend="pyav").frames
    turns = {90: -1, 180: 2, 270: 1}[degrees]  # displayed clockwise by the matrix: numpy turns counter-clockwise
    assert torch.equal(clip.frames, torch.rot90(upright, turns, dims=(1, 2)))
    if decord_available():
        with pytest.raises(VideoError, match="stored rotated"):
            load_video(rotated, num_frames=3, backend="decord")


@pytest.mark.parametrize("name", ["gif", "tiny"])
def test_auto_decodes_what_decord_cannot(media, name, caplog):
    clip = load_video(media[name], num_frames=2)
    assert clip.backend == "pyav" and clip.frames.dtype == torch.uint8
    assert load_video(media[name], num_frames=2, backend="pyav").timestamps == clip.timestamps


def test_files_that_name_other_files_are_refused(media, tmp_path):
    playlist = tmp_path / "list.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.6,\n{media['mp4']}\n#EXT-X-ENDLIST\n")
    concat = tmp_path / "list.ffconcat"
    concat.write_text(f"ffconcat version 1.0\nfile '{media['mp4']}'\n")
    for path in (playlist, concat):
        for backend in ("auto", "pyav"):
            with pytest.raises(VideoError, match="names other files|is not a readable video"):
                load_video(path, num_frames=2, backend=backend)


CONTAINERS = {  # container format and suffix: the codecs people put in it
    ("mp4", ".mp4"): ("libx264", "mpeg4"),
    ("matroska", ".mkv"): ("libx264", "mpeg4", "libvpx-vp9"),
    ("mpegts", ".ts"): ("libx264", "mpeg2video"),
    ("mpeg", ".mpg"): ("mpeg2video",),
    ("avi", ".avi"): ("mpeg4", "libx264"),
    ("webm", ".webm"): ("libvpx-vp9",),
    ("mov", ".mov"): ("libx264",),
}


@pytest.mark.parametrize(
    ("container_format", "suffix", "codec"), [("avi", ".avi", "libx264"), ("mp4", ".mp4", "mpeg4")]
)
def test_frames_come_in_the_order_they_are_shown(tmp_path, container_format, suffix, codec):
    """AVI carries no presentation times (H.264's B-frames come out of the decoder reordered); MPEG-4 Part 2's
    last frame is decoded slightly differently by decord: both backends give every frame where it is shown."""
    path = write_video(tmp_path / f"clip{suffix}", 16, 96, 64, 10, codec, container_format)
    every = load_video(path, num_frames=16, backend="pyav")
    assert [int(frame[30, :, 0].gt(200).int().argmax()) for frame in every.frames] == list(range(16))
    assert every.timestamps == tuple(round(index / 10, 6) for index in range(16))
    assert torch.equal(load_video(path, num_frames=16).frames, every.frames)


@settings(max_examples=12, deadline=None)
@given(
    data=st.data(),
    frames=st.integers(8, 30),
    size=st.sampled_from([(64, 48), (96, 64), (128, 72)]),
    fps=st.sampled_from([10, 24, 25, 30]),
)
def test_random_containers_and_codecs_decode_alike_on_every_backend(tmp_path_factory, data, frames, size, fps):
    (container_format, suffix), codecs = data.draw(st.sampled_from(sorted(CONTAINERS.items())))
    codec = data.draw(st.sampled_from(codecs))
    path = write_video(tmp_path_factory.mktemp("fuzz") / f"clip{suffix}", frames, *size, fps, codec, container_format)
    clip = load_video(path, fps=4.0)
    by_pyav = load_video(path, fps=4.0, backend="pyav")
    assert clip.indices == by_pyav.indices and clip.timestamps == by_pyav.timestamps
    assert torch.equal(clip.frames, by_pyav.frames) and clip.frames.shape[1:] == (size[1], size[0], 3)
    times = list(clip.timestamps)
    assert times[0] == 0 and times == sorted(times) and all(math.isfinite(t) for t in times)
