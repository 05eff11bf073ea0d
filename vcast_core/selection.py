"""Which tokens each frame keeps: V-CAST's dual-anchor score and the peer selectors (DESIGN.md §1.4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_budget, check_finite, check_int, check_method, check_options
from .frames import EPS, FrameStats


def _lowest_index_of_max(scores: Tensor) -> Tensor:
    """Per row, the index of the largest score, the lowest index among equal scores (on any device)."""
    columns = torch.arange(scores.shape[-1], device=scores.device).expand_as(scores)
    is_max = scores == scores.amax(dim=-1, keepdim=True)
    return torch.where(is_max, columns, scores.shape[-1]).amin(dim=-1)


def top_k_mask(scores: Tensor, budget: Tensor) -> Tensor:
    """Keep the ``budget[t]`` highest ``scores[t]`` of each frame; equal scores keep the lower index."""
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    rank_kept = torch.arange(scores.shape[1], device=scores.device) < budget.to(scores.device)[:, None]
    return torch.zeros_like(rank_kept).scatter(1, order, rank_kept)


def _tie_duplicates(dots: Tensor, norms: Tensor, mean_norms: Tensor) -> Tensor:
    """Give bit-identical tokens bit-identical dot products with their frame mean.

    A BLAS matrix-vector product sums in an order that depends on a token's position, so two
    identical tokens can come out one rounding step apart and the lower-index tie rule would
    not see a tie. Identical tokens always share their norm (a per-token reduction): sorted by
    (norm, dot), neighbours of equal norm whose dots agree to rounding take one value.
    """
    sorted_norms = torch.sort(norms, dim=1).values
    if not bool((sorted_norms[:, 1:] == sorted_norms[:, :-1]).any()):
        return dots  # no two tokens of a frame share a norm, so none are identical
    by_dot = torch.sort(dots, dim=1, stable=True).indices
    order = by_dot.gather(1, torch.sort(norms.gather(1, by_dot), dim=1, stable=True).indices)
    sorted_norms, sorted_dots = norms.gather(1, order), dots.gather(1, order)
    rounding = 1e-5 * sorted_norms * mean_norms
    joined = (sorted_norms[:, 1:] == sorted_norms[:, :-1]) & (
        (sorted_dots[:, 1:] - sorted_dots[:, :-1]).abs() <= rounding[:, 1:]
    )
    starts = torch.cat([torch.ones_like(joined[:, :1]), ~joined], dim=1)
    run = starts.long().cumsum(dim=1) - 1
    positions = torch.arange(run.shape[1], device=run.device).expand_as(run)
    run_start = torch.zeros_like(run).scatter_reduce(1, run, positions, "amin", include_self=False)
    return dots.scatter(1, order, sorted_dots.gather(1, run_start.gather(1, run)))


def dual_anchor_scores(stats: FrameStats) -> Tensor:
    """V-CAST's token score ``[T, P]``: ``1 - cos(x, frame mean)`` plus the min-max normalised L2 norm."""
    norms, means = stats.norms, stats.means
    # [T, 1, D] x [T, D, P]: a row-vector product, much faster on CPU than [T, P, D] x [T, D, 1].
    dots = torch.bmm(means.unsqueeze(1), stats.features.transpose(1, 2)).squeeze(1)
    mean_norms = torch.linalg.vector_norm(means, dim=-1, keepdim=True)
    dots = _tie_duplicates(dots, norms, mean_norms)
    diversity = 1.0 - dots / (norms.clamp_min(EPS) * mean_norms.clamp_min(EPS))
    low = norms.amin(dim=1, keepdim=True)
    activation = (norms - low) / (norms.amax(dim=1, keepdim=True) - low + EPS)
    return diversity + activation


def _dual_anchor(stats: FrameStats, budget: Tensor) -> Tensor:
    """V-CAST (arXiv 2603.27650): top ``k_t`` by :func:`dual_anchor_scores`; needs no attention weights."""
    return top_k_mask(dual_anchor_scores(stats), budget)


def _random(stats: FrameStats, budget: Tensor, *, seed: int = 0) -> Tensor:
    """Uniformly random tokens per frame, drawn on the CPU from ``seed`` so every device agrees.

    The "random pruning" control of the V-CAST paper's efficiency table.
    """
    seed = check_int("seed", seed, 0)
    generator = torch.Generator().manual_seed(seed)
    scores = torch.rand(stats.frames, stats.tokens, generator=generator).to(stats.features.device)
    return top_k_mask(scores, budget)


def _norm(stats: FrameStats, budget: Tensor) -> Tensor:
    """Largest L2 norm first: the attention proxy the VidCom2 ports of FastVID, VisionZip and HoliTom use.

    Those ports score tokens by norm in place of ViT attention; this keeps only that score.
    """
    return top_k_mask(stats.norms, budget)


def _divprune(stats: FrameStats, budget: Tensor) -> Tensor:
    """DivPrune (Alvar et al., CVPR 2025, arXiv 2503.02175): greedy max-min diversity in cosine distance.

    As in DivPrune, the first token is the one farthest from its nearest neighbour and each next
    token maximises its distance to the nearest token already kept. Unlike DivPrune, which
    prunes all image tokens at once, the subset is drawn per frame with the frame's budget,
    all frames advancing together; ties keep the lower index.
    """
    unit = F.normalize(stats.features, dim=-1, eps=EPS)
    check_finite(unit)
    device = unit.device
    distance = 1.0 - torch.bmm(unit, unit.transpose(1, 2))
    budget = budget.to(device)
    kept = torch.zeros(stats.frames, stats.tokens, dtype=torch.bool, device=device)
    rows = torch.arange(stats.frames, device=device)
    self_excluded = distance + torch.diag(torch.full((stats.tokens,), float("inf"), device=device))
    score = self_excluded.amin(dim=2)  # first pick: the token farthest from its nearest neighbour
    for step in range(int(budget.max())):
        pick = _lowest_index_of_max(score.masked_fill(kept, float("-inf")))
        active = budget > step
        kept[rows[active], pick[active]] = True
        reach = distance[rows, pick]
        score = reach if step == 0 else torch.minimum(score, reach)
    return kept


def evs_scores(stats: FrameStats) -> Tensor:
    """EVS's token score ``[T, P]`` (vLLM, ``vllm/multimodal/evs.py``): ``1 - cos`` with the token at the same
    position in the previous frame; the first frame scores 255, above any change, so it is kept first."""
    change = 1.0 - F.cosine_similarity(stats.features[1:], stats.features[:-1], dim=-1)
    scores = torch.cat([torch.full_like(stats.features[:1, :, 0], 255.0), change])
    check_finite(scores)
    return scores


def _evs(stats: FrameStats, budget: Tensor) -> Tensor:
    """EVS (vLLM): per frame, the tokens that changed most since the previous frame; the first frame by index.

    With the ``evs`` allocator's budget this is vLLM's mask: a global top-k of :func:`evs_scores`.
    """
    return top_k_mask(evs_scores(stats), budget)


def _keep_all(stats: FrameStats, budget: Tensor) -> Tensor:
    """Every token: the unpruned baseline. The only selector that ignores the budget's values."""
    return torch.ones(stats.frames, stats.tokens, dtype=torch.bool, device=stats.features.device)


SELECTORS = {
    "dual_anchor": _dual_anchor,
    "random": _random,
    "divprune": _divprune,
    "norm": _norm,
    "evs": _evs,
    "keep_all": _keep_all,
}
SELECTION_METHODS = tuple(SELECTORS)


@torch.no_grad()
def select_tokens(features: Tensor, budget: Tensor, method: str = "dual_anchor", **options) -> Tensor:
    """Mark the tokens each frame keeps: BoolTensor ``[T, P]`` with ``budget[t]`` True entries in row t.

    ``features`` ``[T, P, D]`` (any float dtype, CPU or CUDA); ``budget`` ``[T]`` integers in
    ``[0, P]``, e.g. from :func:`allocate_budget`. Methods: ``dual_anchor`` (V-CAST), ``random``
    (option ``seed=0``), ``divprune``, ``norm``, ``evs`` (vLLM's EVS), ``keep_all`` (keeps every token whatever the
    budget). Equal scores keep the lower index. Returns the mask on the input's device.
    """
    return select(FrameStats(features), budget, method, **options)


def select(stats: FrameStats, budget: Tensor, method: str = "dual_anchor", **options) -> Tensor:
    """:func:`select_tokens` on features already wrapped in :class:`FrameStats`."""
    selector = check_method("selection", method, SELECTORS)
    options = check_options("selection", method, selector, options)
    stats.validate()
    return selector(stats, check_budget(budget, stats.frames, stats.tokens), **options)
