"""LLaVA-OneVision (and LLaVA-Video checkpoints converted to its class): pixels, vision tokens, prompt, positions.

Every sampled frame is resized to the vision tower's square input (SigLIP: 384x384, 27x27
patches); the class pools each frame's patch features 2x2 bilinearly, rounding each side up
(27 -> 14: 196 tokens per frame), and appends one learned image-newline token after the last
frame. The prompt holds one ``<video>`` placeholder per token, newline included. Positions are
1-D: 0..L-1 over the whole prompt, as the class's Qwen2 language model numbers an unpadded
sequence.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import ModelError
from ..tokens import TokenSet
from ..video import VideoClip
from .preprocess import normalize, resize_frames

MODEL_TYPES = ("llava_onevision",)
# the vision side, which quantization leaves as it is: V-CAST scores its tokens
FULL_PRECISION_MODULES = ("model.vision_tower", "model.multi_modal_projector")
ROPE = "1d"
BICUBIC = 3  # PIL's resampling code, the class default and what the checkpoints' processor configs name


def pixel_size(config: dict, frames: int, max_frame_pixels: int, max_clip_pixels: int) -> None:
    """Every frame is resized to the vision tower's square input, whatever the limits."""
    return None


def video_tokens(model, frames: int, height: int, width: int, config: dict, size: None) -> int:
    """Video tokens for ``frames`` frames, whatever their size: each pooled to (side / 2, rounded up)^2 tokens,
    and the one image newline."""
    vision = model.config.vision_config
    return frames * math.ceil(vision.image_size // vision.patch_size / 2) ** 2 + 1


def pixel_values(clip: VideoClip, config: dict, size: None = None) -> tuple[Tensor, None]:
    """Frames ``[1, T, 3, H, W]`` resized to the processor's ``size`` and normalised; the tower needs no grid."""
    size = config.get("size") or {}
    if "height" not in size or "width" not in size:
        raise ModelError(f"the processor config's size is {size}; LLaVA-OneVision expects {{'height', 'width'}}")
    if config.get("resample", BICUBIC) != BICUBIC:
        raise ModelError(f"the processor config asks for resample={config['resample']}; only bicubic (3) is supported")
    x = resize_frames(clip.frames, size["height"], size["width"])
    return normalize(x, config["image_mean"], config["image_std"], config.get("rescale_factor", 1 / 255))[None], None


def frames_per_group(config: dict) -> int:
    return 1


def group_timestamps(clip: VideoClip, frames: int) -> tuple[float, ...]:
    return tuple(clip.timestamps)


def seconds_per_group(clip: VideoClip, frames: int) -> float:
    return frames / clip.sampled_fps


def group_count(pixels: Tensor, grid: None = None) -> int:
    return pixels.shape[1]


def groups(pixels: Tensor, grid: None, first: int, last: int) -> tuple[Tensor, None]:
    """Frames ``first..last-1`` of the ``[1, T, 3, H, W]`` pixels."""
    return pixels[:, first:last], None


def vision_tokens(model, pixels: Tensor, grid: None = None) -> tuple[Tensor, tuple, tuple[int, int, int]]:
    """The vision tower once over all frames: features ``[T, P, D]`` after the class's pooling, no DeepStack,
    and the patch grid (T, side, side)."""
    vision = model.config.vision_config
    frames, height, width = pixels.shape[1], pixels.shape[-2], pixels.shape[-1]
    if (height, width) != (vision.image_size, vision.image_size):
        raise ModelError(
            f"frames of {width}x{height} pixels; this model's vision tower takes {vision.image_size}x"
            f"{vision.image_size}: set that size in the checkpoint's video_preprocessor_config.json"
        )
    out = model.model.get_video_features(
        pixels.to(model.device, model.model.vision_tower.dtype),
        vision_feature_layer=model.config.vision_feature_layer,
        vision_feature_select_strategy=model.config.vision_feature_select_strategy,
    )
    features = out.pooler_output if hasattr(out, "pooler_output") else out  # 5.x appends the newline, 4.57 not
    side = vision.image_size // vision.patch_size
    tokens = math.ceil(side / 2) ** 2
    return features[0, : frames * tokens].reshape(frames, tokens, -1), (), (frames, side, side)


def trailing_tokens(model) -> Tensor:
    """The one image-newline embedding the class places after the last frame's tokens ``[1, D]``."""
    return model.model.image_newline[None]


def positions(model, input_ids: Tensor, placeholders: Tensor, token_set: TokenSet) -> Tensor:
    """``[1, L]``: 0..L-1, the position ids the language model gives an unpadded prompt."""
    return torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)


def expand_video(text: str, token_set: TokenSet) -> str:
    """The chat template's ``<video>`` expanded to one placeholder per token, the image newline included, as the
    processor does."""
    return text.replace("<video>", "<video>" * (token_set.frames * token_set.tokens_per_frame + 1), 1)
