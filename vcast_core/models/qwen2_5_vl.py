"""Qwen2.5-VL: pixels, vision tokens, prompt and positions.

The whole clip is one block ``<|vision_start|>`` + one pad per token + ``<|vision_end|>``;
time enters the positions through ``second_per_grid_ts``.
"""

from __future__ import annotations

import functools
import logging

import torch
from torch import Tensor

from ..tokens import TokenSet
from ..video import VideoClip
from . import _hf
from ._qwen import (  # noqa: F401  (the family interface VideoLLM calls)
    ROPE,
    frames_per_group,
    group_count,
    groups,
    mrope_positions,
    trailing_tokens,
    vision_tokens,
)
from .preprocess import fit_pixels, patchify, resize_frames

MODEL_TYPES = ("qwen2_5_vl",)
# the vision side, which quantization leaves as it is: V-CAST scores its tokens
FULL_PRECISION_MODULES = ("model.visual",)
logger = logging.getLogger(__name__)


def pixel_size(config: dict, frames: int, max_frame_pixels: int, max_clip_pixels: int) -> dict:
    """The processor's ``size`` for a clip of ``frames``: pixels per frame between the checkpoint's bounds (its
    image limits, up to 12.8 megapixels, as it publishes no video config), at most ``max_frame_pixels`` and an
    even share of ``max_clip_pixels``, and at least one token's worth."""
    size = config.get("size") or {}
    low = config.get("min_pixels") or size["shortest_edge"]
    high = min(config.get("max_pixels") or size["longest_edge"], max_frame_pixels, max_clip_pixels // frames)
    high = max(high, (config["patch_size"] * config["merge_size"]) ** 2)  # at least one token a frame
    return {"shortest_edge": min(low, high), "longest_edge": high}


def frame_size(height: int, width: int, frames: int, config: dict, size: dict) -> tuple[int, int]:
    """The size the frames are resized to: the budget ``size`` applies to each frame."""
    factor = config["patch_size"] * config["merge_size"]
    return fit_pixels(height, width, factor, min_pixels=size["shortest_edge"], max_pixels=size["longest_edge"])


def video_tokens(model, frames: int, height: int, width: int, config: dict, size: dict) -> int:
    """Video tokens a clip of ``frames`` of ``height`` x ``width`` becomes, from the frame size alone."""
    factor, temporal = config["patch_size"] * config["merge_size"], config["temporal_patch_size"]
    resized_height, resized_width = frame_size(height, width, frames, config, size)
    return -(-frames // temporal) * (resized_height // factor) * (resized_width // factor)


def pixel_values(clip: VideoClip, config: dict, size: dict) -> tuple[Tensor, tuple[int, int, int]]:
    """Pixel rows and grid for the vision tower; the pixel budget ``size`` applies to each frame."""
    patch, merge, temporal = config["patch_size"], config["merge_size"], config["temporal_patch_size"]
    height, width = frame_size(clip.height, clip.width, len(clip.indices), config, size)
    x = resize_frames(clip.frames, height, width)
    rescale = config.get("rescale_factor", 1 / 255)
    return patchify(x, config["image_mean"], config["image_std"], patch, merge, temporal, rescale)


def group_timestamps(clip: VideoClip, temporal: int) -> tuple[float, ...]:
    """Start time of each temporal group."""
    return tuple(clip.timestamps[::temporal])


def seconds_per_group(clip: VideoClip, temporal: int) -> float:
    """``second_per_grid_t`` exactly as the installed processor computes it: the temporal patch size over the
    frame rate it is given (see ``_hf.qwen2_5_vl_frame_rate``). At 2 frames per second it is 1.0 exactly,
    which transformers 4.57's ``get_rope_index`` needs: it truncates the value to an integer."""
    return temporal / _hf.qwen2_5_vl_frame_rate(clip)


def expand_video(text: str, token_set: TokenSet) -> str:
    """The chat template's ``<|video_pad|>`` expanded to one pad per token, inside the template's
    ``<|vision_start|>`` ... ``<|vision_end|>``, as the processor does in every supported version."""
    return text.replace("<|video_pad|>", "<|video_pad|>" * (token_set.frames * token_set.tokens_per_frame), 1)


def rope_extras(token_set: TokenSet) -> dict:
    return {"second_per_grid_ts": torch.tensor([token_set.seconds_per_group])}


def positions(model, input_ids: Tensor, placeholders: Tensor, token_set: TokenSet) -> Tensor:
    """The model's own positions; says so once when the installed transformers drops a fraction of the seconds per
    group from them (its own pipeline does the same)."""
    seconds = token_set.seconds_per_group
    if seconds % 1 and _hf.truncates_time_positions(model):
        _warn_truncated(seconds)
    return mrope_positions(model, input_ids, placeholders, token_set, rope_extras(token_set))


@functools.cache
def _warn_truncated(seconds: float) -> None:
    logger.warning(
        "Qwen2.5-VL: %.3g s per temporal group; this transformers truncates it to %d in the time positions, as in "
        "its own pipeline. Sample at 2 (or 1) frames per second, or use transformers >= 5.23, which keeps fractions.",
        seconds,
        int(seconds),
    )
