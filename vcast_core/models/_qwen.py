"""What Qwen2.5-VL and Qwen3-VL share: pixel rows grouped in time, the vision tower, MRoPE positions."""

from __future__ import annotations

import torch
from torch import Tensor

from ..tokens import TokenSet
from . import _hf

ROPE = "mrope"  # (t, h, w) positions, which renumbering would scramble


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


def seconds_per_group(clip, temporal: int) -> float:
    """The time one temporal group spans: its frames at the sampled frames' rate."""
    return temporal / clip.sampled_fps


def trailing_tokens(model) -> Tensor:
    """Nothing follows the video tokens in their placeholders."""
    return model.get_input_embeddings().weight[:0]


def mrope_positions(model, input_ids: Tensor, placeholders: Tensor, token_set: TokenSet, extras: dict) -> Tensor:
    """``[3, 1, L]`` (t, h, w) positions of the full prompt from the model's own ``get_rope_index``."""
    grid_thw = torch.tensor([token_set.grid], device=input_ids.device)
    extras = {name: value.to(input_ids.device) for name, value in extras.items()}
    return _hf.rope_index(model, input_ids, placeholders.long() * 2, grid_thw, **extras)
