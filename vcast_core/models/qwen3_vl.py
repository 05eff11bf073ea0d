"""Qwen3-VL (dense and MoE): pixels, vision tokens, prompt and positions.

Each temporal group of two frames is its own block in the prompt, preceded by its timestamp
in text: ``<1.5 seconds><|vision_start|>`` + one pad per token + ``<|vision_end|>``.
"""

from __future__ import annotations

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
    seconds_per_group,
    trailing_tokens,
    vision_tokens,
)
from .preprocess import fit_pixels, patchify, resize_frames

MODEL_TYPES = ("qwen3_vl", "qwen3_vl_moe")
# the vision side, which quantization leaves as it is: V-CAST scores its tokens
FULL_PRECISION_MODULES = ("model.visual",)


def pixel_size(config: dict, frames: int, max_frame_pixels: int, max_clip_pixels: int) -> dict:
    """The processor's ``size`` for a clip of ``frames``: one pixel budget for the whole clip, the checkpoint's,
    at most ``max_clip_pixels`` and ``max_frame_pixels`` per frame, and at least one token's worth a frame."""
    size = config["size"]
    high = min(size["longest_edge"], max_clip_pixels, max_frame_pixels * frames)
    high = max(high, frames * (config["patch_size"] * config["merge_size"]) ** 2)  # at least one token a frame
    return {"shortest_edge": min(size["shortest_edge"], high), "longest_edge": high}


def frame_size(height: int, width: int, frames: int, config: dict, size: dict) -> tuple[int, int]:
    """The size the frames are resized to: the budget ``size`` covers the whole clip of ``frames``."""
    factor, temporal = config["patch_size"] * config["merge_size"], config["temporal_patch_size"]
    frames = max(frames, temporal)
    whole_clip = dict(frames=frames, budget_frames=round(frames / temporal) * temporal)
    return fit_pixels(height, width, factor, size["shortest_edge"], size["longest_edge"], **whole_clip)


def video_tokens(model, frames: int, height: int, width: int, config: dict, size: dict) -> int:
    """Video tokens a clip of ``frames`` of ``height`` x ``width`` becomes, from the frame size alone."""
    factor, temporal = config["patch_size"] * config["merge_size"], config["temporal_patch_size"]
    resized_height, resized_width = frame_size(height, width, frames, config, size)
    return -(-frames // temporal) * (resized_height // factor) * (resized_width // factor)


def pixel_values(clip: VideoClip, config: dict, size: dict) -> tuple[Tensor, tuple[int, int, int]]:
    """Pixel rows and grid for the vision tower; the budget ``size`` covers the whole clip."""
    patch, merge, temporal = config["patch_size"], config["merge_size"], config["temporal_patch_size"]
    height, width = frame_size(clip.height, clip.width, len(clip.indices), config, size)
    x = resize_frames(clip.frames, height, width)
    rescale = config.get("rescale_factor", 1 / 255)
    return patchify(x, config["image_mean"], config["image_std"], patch, merge, temporal, rescale)


def group_timestamps(clip: VideoClip, temporal: int) -> tuple[float, ...]:
    """The processor's time of each temporal group: the mean of its first and last frame's ``index / fps``
    (the last group padded with the last frame)."""
    indices = list(clip.indices)
    indices += indices[-1:] * (-len(indices) % temporal)
    times = [index / clip.source_fps for index in indices]
    return tuple((times[i] + times[i + temporal - 1]) / 2 for i in range(0, len(times), temporal))


def expand_video(text: str, token_set: TokenSet) -> str:
    """The chat template's video placeholder expanded as the installed processor does: a block
    ``<t seconds><|vision_start|>`` + pads + ``<|vision_end|>`` per temporal group, inside the template's own
    ``<|vision_start|>`` ... ``<|vision_end|>`` from transformers 5.10 on, in place of them before."""
    pads = "<|video_pad|>" * token_set.tokens_per_frame
    blocks = "".join(f"<{t:.1f} seconds><|vision_start|>{pads}<|vision_end|>" for t in token_set.timestamps)
    outer = "<|vision_start|><|video_pad|><|vision_end|>"
    if outer in text and not _hf.qwen3_vl_keeps_outer_vision_tokens():
        return text.replace(outer, blocks, 1)
    return text.replace("<|video_pad|>", blocks, 1)


def rope_extras(token_set: TokenSet) -> dict:
    return {}


def positions(model, input_ids: Tensor, placeholders: Tensor, token_set: TokenSet) -> Tensor:
    return mrope_positions(model, input_ids, placeholders, token_set, rope_extras(token_set))
