"""Qwen2.5-VL: pixels, vision tokens, prompt and positions.

The whole clip is one block ``<|vision_start|>`` + one pad per token + ``<|vision_end|>``;
time enters the positions through ``second_per_grid_ts``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..tokens import TokenSet
from ..video import VideoClip
from . import _hf
from .preprocess import fit_pixels, patchify, resize_frames

MODEL_TYPES = ("qwen2_5_vl",)
ROPE = "mrope"  # (t, h, w) positions, which renumbering would scramble
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


def frames_per_group(config: dict) -> int:
    return config["temporal_patch_size"]


def group_count(pixels: Tensor, grid: tuple[int, int, int]) -> int:
    return grid[0]


def groups(pixels: Tensor, grid: tuple[int, int, int], first: int, last: int) -> tuple[Tensor, tuple[int, int, int]]:
    """Pixel rows and grid of temporal groups ``first..last-1`` (the rows run group by group)."""
    rows = grid[1] * grid[2]
    return pixels[first * rows : last * rows], (last - first, grid[1], grid[2])


def vision_tokens(model, pixels: Tensor, grid: tuple[int, int, int]) -> tuple[Tensor, tuple[Tensor, ...], tuple]:
    """The vision tower once over the clip: features ``[T, P, D]``, DeepStack levels like them, and the grid."""
    grid_thw = torch.tensor([grid], device=model.device)
    embeds, deepstack = _hf.video_features(model, pixels.to(model.device, model.model.visual.dtype), grid_thw)
    merge = model.config.vision_config.spatial_merge_size
    shape = (grid[0], grid[1] * grid[2] // merge**2, -1)
    return embeds.reshape(shape), tuple(level.reshape(shape) for level in deepstack), grid


def trailing_tokens(model) -> Tensor:
    """Nothing follows the video tokens in their placeholders."""
    return model.get_input_embeddings().weight[:0]


def positions(model, input_ids: Tensor, placeholders: Tensor, token_set: TokenSet) -> Tensor:
    """``[3, 1, L]`` (t, h, w) positions of the full prompt from the model's own ``get_rope_index``."""
    grid_thw = torch.tensor([token_set.grid], device=input_ids.device)
    extras = {name: value.to(input_ids.device) for name, value in rope_extras(token_set).items()}
    return _hf.rope_index(model, input_ids, placeholders.long() * 2, grid_thw, **extras)
