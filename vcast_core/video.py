"""Video clips: sample frames by time, then decode only those frames (see :mod:`vcast_core.decoding`)."""

from __future__ import annotations

import bisect
import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from . import decoding
from ._checks import check_positive
from .errors import MemoryLimitError, VideoError

BACKENDS = ("auto", "decord", "pyav")
MAX_MEMORY_GB = 8.0  # default limit on the decoded frames, before any shrinking
MAX_FPS = 1000.0  # frames sampled per second: more than any source has
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


EPS = 1e-6  # seconds: frame times and sample times closer than this are the same time


def _window(times: Sequence[float], frame_seconds: float, start: float, end: float | None) -> tuple[int, int, float]:
    """The first and last frame shown in ``[start, end)`` and the window's end (the video's end when ``end`` is
    None or beyond it)."""
    duration = times[-1] + frame_seconds
    end = duration if end is None else min(end, duration)
    if not (math.isfinite(start) and 0 <= start < end):
        raise VideoError(
            f"start={start:g} s and end={end:g} s leave nothing to sample in a video of {duration:.2f} s; "
            f"use 0 <= start < end <= {duration:.2f}"
        )
    first = min(len(times) - 1, bisect.bisect_left(times, start - EPS))
    last = max(first, bisect.bisect_left(times, end - EPS) - 1)
    return first, last, end


def sample_frames(
    times: Sequence[float],
    frame_seconds: float,
    *,
    fps: float | None = None,
    num_frames: int | None = None,
    max_frames: int | None = None,
    start: float = 0.0,
    end: float | None = None,
) -> tuple[list[int], int, int]:
    """Indices of the frames to decode, by their presentation ``times`` (seconds from the first frame, ascending;
    each shown for about ``frame_seconds``): the frame shown every ``1/fps`` seconds, or ``num_frames`` frames
    evenly spread, within ``[start, end)`` seconds, then thinned evenly to at most ``max_frames``. Exactly one of
    ``fps`` and ``num_frames`` is given. Also returns the window's first and last frame."""
    if (fps is None) == (num_frames is None):
        raise VideoError("give exactly one of fps (frames per second to sample) and num_frames")
    if not times:
        raise VideoError("the video has no frames")
    first, last, end = _window(times, frame_seconds, start, end)
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
        if not (0 < fps <= MAX_FPS):  # NaN fails too
            raise VideoError(f"fps must be a number in (0, {MAX_FPS:g}] (frames sampled per second), got {fps}")
        samples = math.ceil((end - start) * fps - EPS)
        if samples <= MAX_SAMPLES:
            sample_times = start + np.arange(samples) / fps
        elif max_frames is not None and max_frames >= 1:  # too many to list: thin the sample times first
            sample_times = start + np.linspace(0, samples - 1, max_frames).round() / fps
        else:
            raise VideoError(
                f"sampling {end - start:.0f} s at {fps:g} fps gives {samples} frames; set max_frames, a lower fps "
                "or a start/end range"
            )
        # the frame on screen at each sample time: the last one shown at or before it
        shown = np.searchsorted(np.asarray(times), sample_times + EPS, side="right") - 1
        indices = np.clip(shown, first, last).tolist()
    indices = list(dict.fromkeys(indices))  # drop repeats, keep order
    if max_frames is not None and len(indices) > max_frames:
        if max_frames < 1:
            raise VideoError(f"max_frames must be >= 1, got {max_frames}")
        picks = np.linspace(0, len(indices) - 1, max_frames).round().astype(int)
        indices = [indices[i] for i in picks]
    return indices, first, last


def sample_indices(source_frames: int, source_fps: float, **sampling) -> list[int]:
    """:func:`sample_frames` for a constant-rate video of ``source_frames`` frames at ``source_fps``."""
    if source_frames < 1:
        raise VideoError("the video has no frames")
    return sample_frames([index / source_fps for index in range(source_frames)], 1 / source_fps, **sampling)[0]


def _shrink(frames: torch.Tensor, max_pixels: int | None) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` frames scaled down to at most ``max_pixels`` each (bicubic, antialiased)."""
    size = _shrunk_size(*frames.shape[1:3], max_pixels)
    if size == tuple(frames.shape[1:3]):
        return frames
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


def _check_memory(
    name: str, frames: int, size: tuple[int, int], max_memory_gb: float, kept: tuple[int, int] | None
) -> None:
    """Refuse to hold more than ``max_memory_gb`` for ``frames`` frames, before decoding any: each frame decoded at
    its full ``size`` (height, width; uint8 RGB), plus, where ``kept`` (the size it is shrunk to) is given, a
    float32 copy at that size (ComfyUI's IMAGE output)."""
    frame_bytes = size[0] * size[1] * 3 + (kept[0] * kept[1] * 3 * 4 if kept else 0)
    if frames * frame_bytes > max_memory_gb * 2**30:
        fit = int(max_memory_gb * 2**30 // max(frame_bytes, 1))
        copy = " and their float copy" if kept else ""
        raise MemoryLimitError(
            f"{frames} frames of {size[1]}x{size[0]} from {name}{copy} need {frames * frame_bytes / 2**30:.3g} GB, "
            f"above the {max_memory_gb:g} GB limit; sample at most {fit} frames (lower fps, num_frames or "
            "max_frames), set max_pixels, or raise max_memory_gb"
        )


def _shrunk_size(height: int, width: int, max_pixels: int | None) -> tuple[int, int]:
    if not max_pixels or height * width <= max_pixels:
        return height, width
    scale = math.sqrt(max_pixels / (height * width))
    return max(1, math.floor(height * scale)), max(1, math.floor(width * scale))


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
    float_copy: bool = False,
) -> VideoClip:
    """Decode the sampled frames of the video at ``path`` (see :func:`sample_frames` for the sampling).

    The main video stream (not cover art; the largest, else the first) is sampled by its frames'
    presentation times, so variable-rate video is sampled by time too; timestamps count from its
    first frame, and frames stored rotated are turned upright, as players show them. ``backend``
    is ``decord``, ``pyav`` or ``auto``: decord where it is installed and decodes the file as PyAV
    does (one video stream, not rotated, MP4/MOV, Matroska/WebM or AVI), PyAV otherwise, and when
    decord fails on a file (said once). Both give the same frames, indices and timestamps.
    ``max_pixels`` shrinks larger frames, keeping their aspect ratio. The sampled frames are
    decoded at full size first: above ``max_memory_gb`` of them, :class:`MemoryLimitError` is
    raised before anything is decoded; ``float_copy`` counts a float32 copy of the (shrunk) frames
    too, as ComfyUI's IMAGE output holds them. Playlists and other files that name further files
    are refused.
    """
    if backend not in BACKENDS:
        raise VideoError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    check_positive("max_memory_gb", max_memory_gb)
    path = Path(path)
    if not path.exists():
        raise VideoError(f"video file {path} does not exist")
    if not path.is_file():
        raise VideoError(f"{path} is not a file")
    if backend == "decord" and not decord_available():
        raise VideoError("decord is not installed; pip install decord, or use the pyav backend")
    source = decoding.probe(path)
    indices, first, last = sample_frames(
        source.times, 1 / source.fps, fps=fps, num_frames=num_frames, max_frames=max_frames, start=start, end=end
    )
    size = (source.height, source.width)
    _check_memory(path.name, len(indices), size, max_memory_gb, _shrunk_size(*size, max_pixels) if float_copy else None)
    frames, backend = _decode(source, indices, backend)
    return VideoClip(
        frames=_shrink(torch.from_numpy(frames), max_pixels),
        indices=tuple(indices),
        timestamps=tuple(round(source.times[i], 6) for i in indices),
        source_fps=source.fps,
        source_frames=len(source.times),
        path=str(path),
        backend=backend,
        sampling_fps=_sampling_fps(source.times, 1 / source.fps, fps, max_frames, start, end),
        window_frames=last - first + 1,
    )


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    return image.float().mul(255).round_().clamp_(0, 255).to(torch.uint8)


def _sampling_fps(times, frame_seconds, fps, max_frames, start, end) -> float | None:
    """``fps`` when the frames were sampled at that rate and not thinned by ``max_frames``, else None."""
    duration = times[-1] + frame_seconds
    window_end = duration if end is None else min(end, duration)
    thinned = fps is not None and max_frames is not None and math.ceil((window_end - start) * fps - EPS) > max_frames
    return None if thinned else fps


def clip_from_images(
    images: torch.Tensor,
    frame_rate: float,
    *,
    name: str = "images",
    fps: float | None = None,
    num_frames: int | None = None,
    max_frames: int | None = None,
    start: float = 0.0,
    end: float | None = None,
    max_pixels: int | None = None,
    max_memory_gb: float = MAX_MEMORY_GB,
    float_copy: bool = False,
) -> VideoClip:
    """A clip sampled from frames already in memory, as :func:`load_video` samples a file: ``images`` is a
    ``[N, H, W, C]`` batch (ComfyUI's IMAGE: floats in [0, 1]; or uint8), shown at ``frame_rate`` frames per
    second from 0 s; C is 3 (RGB), 4 (alpha dropped) or 1 (grey). ``name`` says where the frames came from."""
    if images.ndim != 4 or images.shape[0] < 1 or images.shape[-1] not in (1, 3, 4):
        raise VideoError(
            f"{name}: expected a batch of frames [frames, height, width, channels] with 1, 3 or 4 channels; got "
            f"shape {list(images.shape)}"
        )
    if not (math.isfinite(frame_rate) and 0 < frame_rate <= MAX_FPS):
        raise VideoError(
            f"{name}: the frame rate must be a number in (0, {MAX_FPS:g}] frames per second, got {frame_rate}"
        )
    check_positive("max_memory_gb", max_memory_gb)
    times = [index / frame_rate for index in range(images.shape[0])]
    indices, first, last = sample_frames(
        times, 1 / frame_rate, fps=fps, num_frames=num_frames, max_frames=max_frames, start=start, end=end
    )
    size = tuple(images.shape[1:3])
    _check_memory(name, len(indices), size, max_memory_gb, _shrunk_size(*size, max_pixels) if float_copy else None)
    frames = torch.empty((len(indices), *size, 3), dtype=torch.uint8)
    for row, index in enumerate(indices):  # one frame at a time: no float copy of the sampled frames
        frame = images[index, :, :, :3] if images.dtype == torch.uint8 else _to_uint8(images[index, :, :, :3])
        frames[row] = frame  # a grey channel broadcasts to RGB
    return VideoClip(
        frames=_shrink(frames, max_pixels),
        indices=tuple(indices),
        timestamps=tuple(round(times[i], 6) for i in indices),
        source_fps=float(frame_rate),
        source_frames=len(times),
        path=name,
        backend="memory",
        sampling_fps=_sampling_fps(times, 1 / frame_rate, fps, max_frames, start, end),
        window_frames=last - first + 1,
    )


def _decode(source: decoding.Source, indices: list[int], backend: str) -> tuple[np.ndarray, str]:
    """The frames, and the backend that decoded them."""
    if backend == "decord":
        return decoding.decode_decord(source, indices), "decord"
    if backend == "auto" and decord_available() and source.decord_reason is None:
        try:
            return decoding.decode_decord(source, indices), "decord"
        except VideoError as err:
            _say_decord_failed(str(err))
    elif backend == "auto" and not decord_available():
        _say_pyav_fallback()
    return decoding.decode_pyav(source, indices), "pyav"


@functools.cache
def _say_decord_failed(reason: str) -> None:
    logger.warning("V-CAST: %s; decoding with PyAV instead", reason)
