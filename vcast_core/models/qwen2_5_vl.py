"""Qwen2.5-VL: pixels, vision tokens, prompt and positions.

The whole clip is one block ``<|vision_start|>`` + one pad per token + ``<|vision_end|>``;
time enters the positions through ``second_per_grid_ts``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..tokens import TokenSet
from ..video import VideoClip
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
DEFAULT_SYSTEM = "You are a helpful assistant."


def pixel_values(clip: VideoClip, config: dict) -> tuple[Tensor, tuple[int, int, int]]:
    """Pixel rows and grid for the vision tower; the pixel budget applies to each frame."""
    patch, merge, temporal = config["patch_size"], config["merge_size"], config["temporal_patch_size"]
    size = config.get("size") or {}
    height, width = fit_pixels(
        clip.height,
        clip.width,
        patch * merge,
        min_pixels=config.get("min_pixels") or size["shortest_edge"],
        max_pixels=config.get("max_pixels") or size["longest_edge"],
    )
    x = resize_frames(clip.frames, height, width)
    rescale = config.get("rescale_factor", 1 / 255)
    return patchify(x, config["image_mean"], config["image_std"], patch, merge, temporal, rescale)


def group_timestamps(clip: VideoClip, temporal: int) -> tuple[float, ...]:
    """Start time of each temporal group."""
    return tuple(clip.timestamps[::temporal])


def prompt_text(token_set: TokenSet, question: str, system: str | None) -> str:
    pads = "<|video_pad|>" * (token_set.frames * token_set.tokens_per_frame)
    return (
        f"<|im_start|>system\n{system or DEFAULT_SYSTEM}<|im_end|>\n"
        f"<|im_start|>user\n<|vision_start|>{pads}<|vision_end|>{question}<|im_end|>\n<|im_start|>assistant\n"
    )


def rope_extras(token_set: TokenSet) -> dict:
    return {"second_per_grid_ts": torch.tensor([token_set.seconds_per_group])}


def positions(model, input_ids: Tensor, placeholders: Tensor, token_set: TokenSet) -> Tensor:
    return mrope_positions(model, input_ids, placeholders, token_set, rope_extras(token_set))
