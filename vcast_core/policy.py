"""Allocation and selection in one call, sharing the per-frame statistics between them."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from .allocation import allocate
from .frames import FrameStats
from .selection import select


@torch.no_grad()
def prune_tokens(
    features: Tensor,
    ratio: float,
    allocator: str = "curvature",
    selector: str = "dual_anchor",
    *,
    allocation_options: Mapping[str, object] | None = None,
    selection_options: Mapping[str, object] | None = None,
) -> tuple[Tensor, Tensor]:
    """``(budget [T], kept [T, P])`` = :func:`allocate_budget` then :func:`select_tokens`, in one pass less.

    Same results as the two calls; the frame means are computed once for both.
    """
    stats = FrameStats(features)
    budget = allocate(stats, ratio, allocator, **(allocation_options or {}))
    return budget, select(stats, budget, selector, **(selection_options or {}))
