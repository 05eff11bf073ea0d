"""Discrete curvature of the frame-embedding trajectory (V-CAST, DESIGN.md §1.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .frames import EPS, STILL, FrameStats

SIGNALS = ("turn", "jump", "turn_x_jump")


def _steps(descriptors: Tensor, still: float) -> Tensor:
    """``[T-1, D]`` steps ``f_{t+1} - f_t``, those shorter than ``still`` set to zero."""
    steps = descriptors[1:] - descriptors[:-1]
    short = torch.linalg.vector_norm(steps.float(), dim=-1, keepdim=True) < still
    return steps.masked_fill(short, 0)


def curvature_of(descriptors: Tensor, still: float = STILL) -> Tensor:
    """``[T, D]`` trajectory -> ``[T]`` curvature ``1 - cos(f_t - f_{t-1}, f_{t+1} - f_t)``; both ends are 1.

    Computed in the descriptors' dtype, as the released code does; a step that is no move has cosine
    0, so frames around identical ones get 1, the ends' value: identical frames get even budgets."""
    frames = descriptors.shape[0]
    curvature = torch.ones(frames, dtype=torch.float32, device=descriptors.device)
    if frames > 2:
        steps = _steps(descriptors, still)
        cosine = F.cosine_similarity(steps[:-1], steps[1:], dim=-1, eps=EPS)
        curvature[1:-1] = (1.0 - cosine).clamp(0.0, 2.0)  # rounding can leave cos a hair outside [-1, 1]
    return curvature


def jump_of(descriptors: Tensor, still: float = STILL) -> Tensor:
    """``[T, D]`` -> ``[T]`` second difference ``||f_{t-1} - 2 f_t + f_{t+1}||``; each end takes its neighbour's.

    Unlike the turning angle it grows with the size of the move: a hard cut (one large step)
    scores far above the small random steps between ordinary frames, and a steady pan scores 0.
    """
    frames = descriptors.shape[0]
    if frames < 3:
        return descriptors.new_zeros(frames, dtype=torch.float32)
    steps = _steps(descriptors, still).float()
    inner = (steps[1:] - steps[:-1]).norm(dim=-1)
    return torch.cat([inner[:1], inner, inner[-1:]])


def trajectory_signal(descriptors: Tensor, signal: str = "turn", still: float = STILL) -> Tensor:
    """The per-frame routing signal in [0, 2] of the curvature allocator.

    ``turn`` is V-CAST's curvature (:func:`curvature_of`); ``jump`` is :func:`jump_of` and
    ``turn_x_jump`` their product, each scaled so that its largest value is 2, the top of the
    curvature's range, so one ``tau`` means the same sharpness for every signal.
    """
    if signal == "turn":
        return curvature_of(descriptors, still)
    strength = jump_of(descriptors, still)
    if signal == "turn_x_jump":
        strength = strength * curvature_of(descriptors, still)
    if float(strength.max()) == 0:  # no frame moves: nothing to route to
        return strength
    return 2.0 * strength / strength.max()


@torch.no_grad()
def frame_curvature(features: Tensor) -> Tensor:
    """Curvature ``kappa_t`` in [0, 2] of the frame-embedding trajectory of ``features`` ``[T, P, D]``.

    Near 0 where the video drifts smoothly, near 2 where it turns back (an event boundary);
    the first and last frames get 1. Returns float32 ``[T]`` on the input's device.
    """
    stats = FrameStats(features)
    return curvature_of(stats.descriptors, stats.still)
