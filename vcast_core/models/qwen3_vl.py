"""Qwen3-VL (dense and MoE): pixels, vision tokens, prompt and positions.

Each temporal group of two frames is its own block in the prompt, preceded by its timestamp
in text: ``<1.5 seconds><|vision_start|>`` + one pad per token + ``<|vision_end|>``.
"""

from __future__ import annotations

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

MODEL_TYPES = ("qwen3_vl", "qwen3_vl_moe")


def pixel_values(clip: VideoClip, config: dict) -> tuple[Tensor, tuple[int, int, int]]:
    """Pixel rows and grid for the vision tower; one pixel budget covers the whole clip."""
    patch, merge, temporal = config["patch_size"], config["merge_size"], config["temporal_patch_size"]
    frames = max(len(clip.indices), temporal)
    height, width = fit_pixels(
        clip.height,
        clip.width,
        patch * merge,
        min_pixels=config["size"]["shortest_edge"],
        max_pixels=config["size"]["longest_edge"],
        frames=frames,
        budget_frames=round(frames / temporal) * temporal,
    )
    x = resize_frames(clip.frames, height, width)
    rescale = config.get("rescale_factor", 1 / 255)
    return patchify(x, config["image_mean"], config["image_std"], patch, merge, temporal, rescale)


def group_timestamps(clip: VideoClip, temporal: int) -> tuple[float, ...]:
    """Mean time of the frames in each temporal group (the last group padded with the last frame)."""
    times = list(clip.timestamps)
    times += times[-1:] * (-len(times) % temporal)
    return tuple(sum(times[i : i + temporal]) / temporal for i in range(0, len(times), temporal))


def prompt_text(token_set: TokenSet, question: str, system: str | None) -> str:
    pads = "<|video_pad|>" * token_set.tokens_per_frame
    video = "".join(f"<{t:.1f} seconds><|vision_start|>{pads}<|vision_end|>" for t in token_set.timestamps)
    head = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
    return f"{head}<|im_start|>user\n{video}{question}<|im_end|>\n<|im_start|>assistant\n"


def rope_extras(token_set: TokenSet) -> dict:
    return {}


def positions(model, input_ids: Tensor, placeholders: Tensor, token_set: TokenSet) -> Tensor:
    return mrope_positions(model, input_ids, placeholders, token_set, rope_extras(token_set))
