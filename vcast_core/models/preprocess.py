"""Pixels for the vision towers, from the checkpoint's processor configuration, in plain torch.

Follows transformers' video processors step for step: the same frame size rule, bicubic
antialiased resizing of the uint8 frames (the kernel torchvision itself calls on the CPU),
the same fused rescale-and-normalise arithmetic and the same patch layout.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import VideoError


def resize_frames(frames: Tensor, height: int, width: int) -> Tensor:
    """uint8 ``[N, H, W, 3]`` -> uint8 ``[N, 3, height, width]``."""
    x = frames.cpu().permute(0, 3, 1, 2)
    if (height, width) == tuple(x.shape[-2:]):
        return x
    # uint8 in, uint8 out: on the CPU this is the kernel torchvision's resize calls, so the pixels match
    return F.interpolate(x.contiguous(), size=(height, width), mode="bicubic", align_corners=False, antialias=True)


def normalize(x: Tensor, mean, std, rescale: float = 1 / 255) -> Tensor:
    """uint8 ``[N, 3, H, W]`` -> float32 ``(x * rescale - mean) / std``, in the processors' fused arithmetic."""
    mean = (torch.tensor(mean) * (1.0 / rescale)).view(1, 3, 1, 1)
    std = (torch.tensor(std) * (1.0 / rescale)).view(1, 3, 1, 1)
    return (x.float() - mean) / std


def patchify(
    x: Tensor, mean, std, patch: int, merge: int, temporal: int, rescale: float = 1 / 255
) -> tuple[Tensor, tuple[int, int, int]]:
    """uint8 ``[N, 3, H, W]`` frames -> (normalised ``[t*h*w, 3*temporal*patch*patch]`` rows, grid (t, h, w)).

    Pads the frame count to a multiple of ``temporal`` by repeating the last frame, as the models' processors do.
    """
    x = normalize(x, mean, std, rescale)
    if pad := -x.shape[0] % temporal:
        x = torch.cat([x, x[-1:].expand(pad, -1, -1, -1)])
    frames, channels, height, width = x.shape
    grid = (frames // temporal, height // patch, width // patch)
    patches = x.view(grid[0], temporal, channels, grid[1] // merge, merge, patch, grid[2] // merge, merge, patch)
    patches = patches.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return patches.reshape(grid[0] * grid[1] * grid[2], channels * temporal * patch * patch), grid


def round_to(value: float, factor: int) -> int:
    return round(value / factor) * factor


def fit_pixels(
    height: int, width: int, factor: int, min_pixels: int, max_pixels: int, frames: int = 1, budget_frames: int = 1
) -> tuple[int, int]:
    """Height and width, multiples of ``factor``, close to the frame's aspect, within a pixel budget.

    The budget bounds ``budget_frames * h * w``: 1 frame for a per-frame budget (Qwen2.5-VL), the
    clip's frame count rounded to the temporal patch for a whole-clip one (Qwen3-VL, which
    scales by the unrounded count ``frames``), as the models' own processors compute it.
    """
    if height < factor or width < factor:
        scale = max(factor / height, factor / width)
        height, width = int(height * scale), int(width * scale)
    if max(height, width) / min(height, width) > 200:
        raise VideoError(f"frames of {width}x{height} are too elongated (aspect ratio above 200)")
    h_bar, w_bar = round_to(height, factor), round_to(width, factor)
    if budget_frames * h_bar * w_bar > max_pixels:
        beta = math.sqrt(frames * height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif budget_frames * h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (frames * height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar
