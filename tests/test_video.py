import pytest
import torch
from conftest import write_square_video

from vcast_core.video import VideoError, decord_available, load_video, sample_indices


def test_sample_indices_by_hand():
    assert sample_indices(50, 25.0, num_frames=5) == [0, 12, 24, 37, 49]  # linspace 0..49, half to even
    assert sample_indices(50, 25.0, fps=2.0) == [0, 12, 25, 38]  # 0, 0.5, 1.0, 1.5 s
    assert sample_indices(50, 25.0, fps=5.0, start=0.5, end=1.0) == [13, 18, 22]  # first frame at or after 0.5 s
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
