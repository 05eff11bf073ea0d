"""Allocation and selection in one call, sharing the per-frame statistics between them."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from .allocation import allocate, allocate_total
from .errors import InputError
from .frames import FrameStats
from .selection import select

ALLOCATION_OPTIONS = ("tau", "signal", "temperature", "threshold", "min_segments", "min_per_frame", "rounding")
SELECTION_OPTIONS = ("seed",)


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


@torch.no_grad()
def prune_tokens_to_total(
    features: Tensor,
    total: int,
    allocator: str = "curvature",
    selector: str = "dual_anchor",
    *,
    allocation_options: Mapping[str, object] | None = None,
    selection_options: Mapping[str, object] | None = None,
) -> tuple[Tensor, Tensor]:
    """:func:`prune_tokens` keeping exactly ``total`` tokens (an integer in ``[1, T*P]``) instead of a ratio.

    For engines that size the prompt before the encoder runs (vLLM floors ``T*P*(1-q)``, where
    :func:`total_budget` rounds): the same policies and options, every frame keeping at least
    ``min(min_per_frame, total // T)`` tokens. ``keep_all`` keeps every token whatever ``total`` says.
    """
    stats = FrameStats(features)
    budget = allocate_total(stats, total, allocator, **(allocation_options or {}))
    return budget, select(stats, budget, selector, **(selection_options or {}))


def policy_settings(allocator: str, selector: str, options: Mapping[str, object], where: str) -> dict:
    """Keyword arguments for :func:`prune_tokens` from flat options (``tau=0.7, seed=3``, as a command line or a
    config gives them), each routed to the allocator or the selector; ``where`` names the source in errors."""
    unknown = sorted(set(options) - set(ALLOCATION_OPTIONS) - set(SELECTION_OPTIONS))
    if unknown:
        raise InputError(
            f"unknown V-CAST option(s) {', '.join(unknown)} in {where}; the policy options are "
            f"{', '.join(ALLOCATION_OPTIONS + SELECTION_OPTIONS)}"
        )
    return dict(
        allocator=allocator,
        selector=selector,
        allocation_options={name: options[name] for name in ALLOCATION_OPTIONS if name in options},
        selection_options={name: options[name] for name in SELECTION_OPTIONS if name in options},
    )
