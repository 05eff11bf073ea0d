"""Video decoding: sample frame indices, then decode only those frames with decord or PyAV."""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ._checks import check_positive
from .errors import MemoryLimitError, VideoError

BACKENDS = ("auto", "decord", "pyav")
MAX_MEMORY_GB = 8.0  # default limit on the decoded frames, before any shrinking
MAX_SAMPLES = 1_000_000  # more sample times than this is a damaged header or a forgotten max_frames

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoClip:
    """Sampled frames of one video and where they came from."""

    frames: torch.Tensor  # uint8 [N, H, W, 3], RGB
    indices: tuple[int, ...]  # source frame index of each sampled frame
    timestamps: tuple[float, ...]  # seconds from the start of the video, per sampled frame
    source_fps: float
    source_frames: int
    path: str
    backend: str
    sampling_fps: float | None = None  # the frames per second asked for, when sampled by rate and not thinned
    window_frames: int | None = None  # source frames in the sampled start..end window (None: all of them)

    @property
    def sampled_fps(self) -> float:
        """The sampled frames' rate as transformers' video metadata states it (sampled of all frames, times the
        source's rate), over the start..end window they were sampled from."""
        return len(self.indices) / max(self.window_frames or self.source_frames, 1) * self.source_fps

    def padded_to(self, count: int) -> VideoClip:
        """The clip with its last frame repeated up to ``count`` frames (a temporal group for a one-frame clip)."""
        extra = count - len(self.indices)
        frames = torch.cat([self.frames, self.frames[-1:].expand(extra, -1, -1, -1)])
        return replace(
            self,
            frames=frames,
            indices=self.indices + self.indices[-1:] * extra,
            timestamps=self.timestamps + self.timestamps[-1:] * extra,
        )

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def duration(self) -> float:
        """Length of the source video in seconds."""
        return self.source_frames / self.source_fps

    def describe(self) -> str:
        return (
            f"{Path(self.path).name}: {self.source_frames} frames at {self.source_fps:g} fps "
            f"({self.duration:.2f} s), {self.width}x{self.height}; sampled {len(self.indices)} frames "
            f"from {self.timestamps[0]:.2f} s to {self.timestamps[-1]:.2f} s with {self.backend}"
        )


def sample_window(source_frames: int, source_fps: float, start: float, end: float | None) -> tuple[int, int, float]:
    """The first and last source frame of the ``[start, end)`` window, and its end in seconds (the video's end
    when ``end`` is None or beyond it)."""
    duration = source_frames / source_fps
    end = duration if end is None else min(end, duration)
    if not 0 <= start < end:
        raise VideoError(
            f"start={start:g} s and end={end:g} s leave nothing to sample in a video of {duration:.2f} s; "
            f"use 0 <= start < end <= {duration:.2f}"
        )
    first = min(source_frames - 1, math.ceil(start * source_fps - 1e-6))
    last = max(first, min(source_frames - 1, math.ceil(end * source_fps - 1e-6) - 1))
    return first, last, end


def sample_indices(
    source_frames: int,
    source_fps: float,
    *,
    fps: float | None = None,
    num_frames: int | None = None,
    max_frames: int | None = None,
    start: float = 0.0,
    end: float | None = None,
) -> list[int]:
    """Source frame indices to decode: every ``1/fps`` seconds, or ``num_frames`` evenly spread, within
    ``[start, end)`` seconds, then thinned evenly to at most ``max_frames``. Exactly one of ``fps`` and
    ``num_frames`` is given."""
    if (fps is None) == (num_frames is None):
        raise VideoError("give exactly one of fps (frames per second to sample) and num_frames")
    if source_frames < 1:
        raise VideoError("the video has no frames")
    first, last, end = sample_window(source_frames, source_fps, start, end)
    if num_frames is not None:
        if num_frames < 1:
            raise VideoError(f"num_frames must be >= 1, got {num_frames}")
        if num_frames > last - first + 1:
            raise VideoError(
                f"asked for {num_frames} frames, but the video has only {last - first + 1} between {start:g} s and "
                f"{end:g} s; ask for at most {last - first + 1} frames or widen the start/end range"
            )
        indices = np.linspace(first, last, num_frames).round().astype(int).tolist()
    else:
        if not (fps > 0 and math.isfinite(fps)):
            raise VideoError(f"fps must be a finite number > 0, got {fps}")
        samples = math.ceil((end - start) * fps)
        if samples <= MAX_SAMPLES:
            times = np.arange(start, end, 1.0 / fps)
        elif max_frames is not None and max_frames >= 1:  # too many to list: thin the sample times first
            times = start + np.linspace(0, samples - 1, max_frames).round() / fps
        else:
            raise VideoError(
                f"sampling {end - start:.0f} s at {fps:g} fps gives {samples} frames; set max_frames, a lower fps "
                "or a start/end range"
            )
        indices = np.clip((times * source_fps).round().astype(int), first, last).tolist()
    indices = list(dict.fromkeys(indices))  # drop repeats, keep order
    if max_frames is not None and len(indices) > max_frames:
        if max_frames < 1:
            raise VideoError(f"max_frames must be >= 1, got {max_frames}")
        picks = np.linspace(0, len(indices) - 1, max_frames).round().astype(int)
        indices = [indices[i] for i in picks]
    return indices


def _shrink(frames: torch.Tensor, max_pixels: int | None) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` frames scaled down to at most ``max_pixels`` each (bicubic, antialiased)."""
    height, width = frames.shape[1:3]
    if not max_pixels or height * width <= max_pixels:
        return frames
    scale = math.sqrt(max_pixels / (height * width))
    size = (max(1, math.floor(height * scale)), max(1, math.floor(width * scale)))
    x = frames.permute(0, 3, 1, 2).contiguous()
    x = torch.nn.functional.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True)
    return x.permute(0, 2, 3, 1).contiguous()


def decord_available() -> bool:
    try:
        import decord  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def _say_pyav_fallback() -> None:
    logger.warning("V-CAST: decord is not installed; decoding videos with PyAV (pip install decord to decode faster)")


def _check_memory(path: Path, frames: int, height: int, width: int, max_memory_gb: float) -> None:
    """Refuse to decode more than ``max_memory_gb`` of uint8 RGB frames, before decoding any."""
    frame_bytes = height * width * 3
    if frames * frame_bytes > max_memory_gb * 2**30:
        fit = int(max_memory_gb * 2**30 // max(frame_bytes, 1))
        raise MemoryLimitError(
            f"decoding {frames} frames of {width}x{height} from {path.name} needs "
            f"{frames * frame_bytes / 2**30:.3g} GB, above the {max_memory_gb:g} GB limit; sample at most {fit} "
            "frames (lower fps, num_frames or max_frames) or raise max_memory_gb"
        )


def load_video(
    path: str | Path,
    *,
    fps: float | None = None,
    num_frames: int | None = None,
    max_frames: int | None = None,
    start: float = 0.0,
    end: float | None = None,
    backend: str = "auto",
    max_pixels: int | None = None,
    max_memory_gb: float = MAX_MEMORY_GB,
) -> VideoClip:
    """Decode the sampled frames of the video at ``path`` (see :func:`sample_indices` for the sampling).

    ``backend`` is ``decord``, ``pyav`` or ``auto`` (decord where it is installed, PyAV otherwise);
    both give the same frames, indices and timestamps. ``max_pixels`` shrinks larger frames,
    keeping their aspect ratio. The sampled frames are decoded at full size first: above
    ``max_memory_gb`` of them, :class:`MemoryLimitError` is raised before anything is decoded.
    """
    if backend not in BACKENDS:
        raise VideoError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    check_positive("max_memory_gb", max_memory_gb)
    path = Path(path)
    if not path.exists():
        raise VideoError(f"video file {path} does not exist")
    if not path.is_file():
        raise VideoError(f"{path} is not a file")
    if backend == "auto":
        backend = "decord" if decord_available() else "pyav"
        if backend == "pyav":
            _say_pyav_fallback()
    elif backend == "decord" and not decord_available():
        raise VideoError("decord is not installed; pip install decord, or use the pyav backend")
    decode = _decode_decord if backend == "decord" else _decode_pyav
    sampling = dict(fps=fps, num_frames=num_frames, max_frames=max_frames, start=start, end=end)
    frames, indices, timestamps, source_fps, source_frames = decode(path, sampling, max_memory_gb)
    first, last, window_end = sample_window(source_frames, source_fps, start, end)
    thinned = fps is not None and max_frames is not None and math.ceil((window_end - start) * fps) > max_frames
    return VideoClip(
        frames=_shrink(torch.from_numpy(frames), max_pixels),
        indices=tuple(indices),
        timestamps=tuple(timestamps),
        source_fps=source_fps,
        source_frames=source_frames,
        path=str(path),
        backend=backend,
        sampling_fps=None if thinned else fps,
        window_frames=last - first + 1,
    )


def _checked_header(path: Path) -> tuple[int, int]:
    """``(height, width)`` of the first video stream, from a header :func:`_check_header` accepts."""
    with _open_pyav(path) as container:
        stream = _video_stream(path, container)
        _check_header(path, stream)
        return _frame_size_of(path, stream)


def _check_header(path: Path, stream) -> None:
    """Refuse a header whose frame count disagrees with its duration and rate (decord trusts that count and
    aborts the whole process on an absurd one)."""
    if stream.frames and stream.duration and stream.average_rate:
        expected = float(stream.duration * stream.time_base * stream.average_rate)
        if abs(stream.frames - expected) > 2 + 0.1 * expected:
            raise VideoError(
                f"{path} has a damaged header: it claims {stream.frames} frames, but {expected:.0f} by its "
                "duration and frame rate; re-encode it (ffmpeg -i damaged.mp4 repaired.mp4)"
            )


def _open_pyav(path: Path):
    import av

    try:
        return av.open(str(path), metadata_errors="replace")
    except av.error.FFmpegError as err:
        raise VideoError(f"{path} is not a readable video: {err}") from None


def _video_stream(path: Path, container):
    if not container.streams.video:
        raise VideoError(f"{path} holds no video frames (no video stream); check that it is the file you meant")
    return container.streams.video[0]


def _frame_size_of(path: Path, stream) -> tuple[int, int]:
    context = stream.codec_context
    if context is None or context.height < 1 or context.width < 1:
        raise VideoError(f"{path} holds a video stream of unknown codec or frame size; the file may be damaged")
    return context.height, context.width


def _decode_decord(path: Path, sampling: dict, max_memory_gb: float):
    import decord

    height, width = _checked_header(path)
    _check_memory(path, 1, height, width, max_memory_gb)  # decord decodes a frame as it opens
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    except (decord.DECORDError, RuntimeError) as err:
        raise VideoError(f"{path} is not a readable video: {str(err).splitlines()[0]}") from None
    source_frames, source_fps = len(reader), float(reader.get_avg_fps())
    indices = sample_indices(source_frames, source_fps, **sampling)
    _check_memory(path, len(indices), height, width, max_memory_gb)
    try:
        frames = reader.get_batch(indices).asnumpy()
    except (decord.DECORDError, RuntimeError) as err:
        raise VideoError(f"{path} could not be decoded: {str(err).splitlines()[0]}") from None
    timestamps = [round(float(t), 6) for t in reader.get_frame_timestamp(indices)[:, 0]]
    return frames, indices, timestamps, source_fps, source_frames


def _decode_pyav(path: Path, sampling: dict, max_memory_gb: float):
    import av

    with _open_pyav(path) as container:
        stream = _video_stream(path, container)
        _check_header(path, stream)
        height, width = _frame_size_of(path, stream)
        source_fps = float(stream.average_rate or stream.guessed_rate or 0)
        if source_fps <= 0:
            raise VideoError(f"{path} does not state its frame rate")
        source_frames = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
        indices = sample_indices(source_frames, source_fps, **sampling)
        _check_memory(path, len(indices), height, width, max_memory_gb)
        try:
            frames, timestamps = _pyav_sampled_frames(container, stream, indices, source_fps)
        except av.error.FFmpegError as err:
            raise VideoError(f"{path} could not be decoded: {err}") from None
    missing = [i for i in indices if i not in frames]
    if missing:
        raise VideoError(f"{path} ended before frame {missing[0]}; it may be truncated")
    return np.stack([frames[i] for i in indices]), indices, [timestamps[i] for i in indices], source_fps, source_frames


def _pyav_sampled_frames(container, stream, indices: list[int], source_fps: float) -> tuple[dict, dict]:
    """RGB frames and timestamps at ``indices`` (ascending), by frame index counted from the stream start.

    A sampled frame more than about a second past the last decoded one is reached by seeking
    to the keyframe before it, so the frames between samples are not decoded; nearer ones are
    decoded through. Only sampled frames are converted to RGB.
    """
    start = stream.start_time or 0
    seek_gap = max(8, round(source_fps))
    frames, timestamps = {}, {}
    decoded, position = None, -1
    for target in indices:
        if decoded is None or target - position > seek_gap:
            container.seek(start + int(target / source_fps / stream.time_base), backward=True, stream=stream)
            decoded = container.decode(stream)
        for frame in decoded:
            position = round(float((frame.pts - start) * stream.time_base) * source_fps)
            if position >= target:
                break
        if position == target:
            frames[target] = frame.to_ndarray(format="rgb24")
            timestamps[target] = round(float(frame.time), 6)
    return frames, timestamps
