"""Preview images of what a policy did, as float ``[B, H, W, 3]`` in 0..1 (ComfyUI's IMAGE layout)."""

from __future__ import annotations

import torch
from torch import Tensor

BUDGET_COLOR = (0.26, 0.52, 0.96)
CURVATURE_COLOR = (1.0, 0.6, 0.1)
BACKGROUND = 0.12


def budget_chart(
    budget: Tensor, tokens_per_frame: int, curvature: Tensor | None = None, height: int = 160, column: int = 10
) -> Tensor:
    """Per-frame budget as bars (full height = all ``tokens_per_frame`` kept), curvature as a mark per frame.

    Curvature runs from 0 at the bottom to 2 at the top. Returns ``[1, height, T * column, 3]``.
    """
    frames = int(budget.shape[0])
    image = torch.full((height, frames * column, 3), BACKGROUND)
    bar = column - max(1, column // 5)
    for t in range(frames):
        top = height - round(height * int(budget[t]) / tokens_per_frame)
        image[top:, t * column : t * column + bar] = torch.tensor(BUDGET_COLOR)
        if curvature is not None:
            level = min(height - 2, max(0, height - 1 - round((height - 1) * float(curvature[t]) / 2)))
            image[level : level + 2, t * column : t * column + bar] = torch.tensor(CURVATURE_COLOR)
    return image.unsqueeze(0)


def kept_overlay(
    frames: Tensor, kept: Tensor, token_grid: tuple[int, int], frames_per_group: int, dim: float = 0.25
) -> Tensor:
    """The sampled frames with the patches of dropped tokens dimmed to ``dim`` of their brightness.

    ``frames`` uint8 ``[N, H, W, 3]``; ``kept`` bool ``[T, P]`` with ``P = h * w`` tokens in raster order on
    ``token_grid`` ``(h, w)``; temporal group t covers frames ``t * frames_per_group`` onwards.
    """
    count, height, width, _ = frames.shape
    group = torch.arange(count) // frames_per_group
    masks = kept.cpu().reshape(kept.shape[0], 1, *token_grid).float()[group.clamp(max=kept.shape[0] - 1)]
    masks = torch.nn.functional.interpolate(masks, size=(height, width), mode="nearest")[:, 0, :, :, None]
    return frames.float() / 255 * (dim + (1 - dim) * masks)
