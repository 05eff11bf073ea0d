"""A synthetic clip of shots, for tests and for the command line's default input.

Each shot is a fixed random scene (an overall look shared by its tokens plus a ``[P, D]``
texture) that pans smoothly in one direction, with fresh token noise in every frame. Real
shots move smoothly too. A *static* shot with frame-independent noise would not look smooth
to the curvature: its frame-to-frame steps are pure noise pointing every which way, which
reads as kappa of about 1.5, higher than at a cut between two such shots (about 1).
"""

from __future__ import annotations

import torch
from torch import Tensor


def shot_clip(
    shot_lengths: tuple[int, ...] = (8, 12, 6, 14, 8),
    tokens: int = 64,
    width: int = 32,
    pan: float = 0.15,
    noise: float = 0.05,
    seed: int = 0,
) -> tuple[Tensor, list[int]]:
    """Features ``[T, P, D]`` (float32) of a clip made of shots, and the first frame index of every shot."""
    generator = torch.Generator().manual_seed(seed)
    frames, starts = [], []
    for length in shot_lengths:
        starts.append(sum(len(f) for f in frames))
        scene = torch.randn(width, generator=generator) + torch.randn(tokens, width, generator=generator)
        direction = torch.nn.functional.normalize(torch.randn(width, generator=generator), dim=0)
        steps = torch.arange(length, dtype=torch.float32)[:, None, None] * pan * direction
        frames.append(scene + steps + noise * torch.randn(length, tokens, width, generator=generator))
    return torch.cat(frames), starts
