"""Per-frame token budgets: V-CAST's curvature routing and the peer allocators (DESIGN.md §1.3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import (
    check_choice,
    check_finite,
    check_int,
    check_method,
    check_number,
    check_options,
    check_positive,
    check_ratio,
)
from .curvature import SIGNALS, trajectory_signal
from .errors import InputError
from .frames import EPS, FrameStats
from .selection import evs_scores, top_k_mask

ROUNDINGS = ("largest_remainder", "reference")


def total_budget(frames: int, tokens_per_frame: int, ratio: float, min_per_frame: int = 1) -> int:
    """Tokens kept over the whole clip: ``round(T*P*ratio)`` clamped to ``[max(1, T*min_per_frame), T*P]``."""
    frames = check_int("frames (T)", frames, 1)
    tokens_per_frame = check_int("tokens_per_frame (P)", tokens_per_frame, 1)
    ratio = check_ratio(ratio)
    min_per_frame = check_int("min_per_frame", min_per_frame, 0, tokens_per_frame)
    budget = max(1, min(frames * tokens_per_frame, round(frames * tokens_per_frame * ratio)))
    return max(budget, frames * min_per_frame)


def _curvature_weights(stats: FrameStats, *, tau: float = 0.7, signal: str = "turn") -> Tensor:
    """V-CAST (arXiv 2603.27650): ``softmax(kappa / tau)`` over the curvature of the frame trajectory.

    ``signal="turn"`` is the published curvature. It is scale-free, so on real footage ordinary
    frame-to-frame jitter turns as sharply as a hard cut; ``jump`` (the second difference) and
    ``turn_x_jump`` also weigh how far the trajectory moves (see :func:`trajectory_signal`).
    """
    tau = check_positive("tau", tau)
    check_choice("signal", signal, SIGNALS)
    return torch.softmax(trajectory_signal(stats.descriptors, signal, stats.still) / tau, dim=0)


def _uniform_weights(stats: FrameStats) -> Tensor:
    """The same share for every frame: the baseline every pruner is compared against."""
    return torch.full((stats.frames,), 1.0 / stats.frames)


def _vidcom2_weights(stats: FrameStats, *, temperature: float = 0.01) -> Tensor:
    """VidCom2 (Liu et al., EMNLP 2025, arXiv 2505.14454): frames unlike the video as a whole get more.

    As in VidCom2, the tokens are cut to the half of the channels with the lowest variance and
    L2-normalised; a frame's uniqueness is minus the mean multi-scale Gaussian similarity
    (bandwidths 2^-3..2^1) of its tokens to the video's mean token, and the frame weight is
    ``1 + p_t - mean(p)`` with ``p = softmax(uniqueness / temperature)``. Unlike VidCom2, which
    rounds ``ratio * weight * P`` per frame (so its total drifts), the weights go through the
    shared exact-total integer allocation here.
    """
    temperature = check_positive("temperature", temperature)
    frames, tokens, width = stats.features.shape
    flat = stats.features.reshape(frames * tokens, width)
    quiet_channels = torch.sort(flat.var(dim=0, unbiased=False), stable=True).indices[: max(1, width // 2)]
    unit = F.normalize(flat[:, quiet_channels], dim=-1, eps=EPS)
    distance_sq = (unit - unit.mean(dim=0)).square().sum(dim=-1).view(frames, tokens)
    similarity = sum(torch.exp(-distance_sq / (2 * bandwidth)) for bandwidth in (0.125, 0.25, 0.5, 1.0, 2.0))
    check_finite(similarity)
    share = torch.softmax(-similarity.mean(dim=1) / temperature, dim=0)
    return (1.0 + share - share.mean()) / frames


def _segment_weights(stats: FrameStats, *, threshold: float = 0.84, min_segments: int = 8) -> Tensor:
    """FastVID's DySeg (Shen et al., NeurIPS 2025, arXiv 2503.11187) turned into a temporal allocator.

    Cuts go where the cosine similarity of adjacent frame descriptors falls below ``threshold``,
    plus at the ``min_segments - 1`` lowest similarities, as in DySeg. FastVID then prunes
    inside each segment at the same ratio; here every segment gets an equal share of the budget,
    spread evenly over its frames, so short segments (fast events) are kept denser.
    """
    threshold = check_number("threshold (a cosine similarity)", threshold, -1.0, 1.0)
    min_segments = check_int("min_segments", min_segments, 1)
    descriptors = stats.descriptors
    frames = stats.frames
    similarity = (descriptors[:-1] * descriptors[1:]).sum(dim=-1)
    cut_after = similarity < threshold
    lowest = torch.sort(similarity, stable=True).indices[: min(min_segments, frames) - 1]
    cut_after[lowest] = True
    segment = torch.cat([cut_after.new_zeros(1, dtype=torch.long), cut_after.long().cumsum(0)])
    segment_length = torch.bincount(segment).float()
    return 1.0 / (segment_length.numel() * segment_length[segment])


def _evs_budget(stats: FrameStats, total: int, min_per_frame: int) -> Tensor:
    """EVS (vLLM's ``--video-pruning-rate``): the frames' shares of a global top-``total`` of :func:`evs_scores`.

    vLLM keeps the tokens least like the same position in the previous frame over the whole clip, the first
    frame first (so it is kept whole when the total allows). Here each frame's ``min_per_frame`` best tokens
    are kept before the global top-k fills the rest (``min_per_frame=0`` is vLLM's rule), and the total is
    :func:`total_budget`'s (vLLM floors ``T*P*ratio`` and keeps at least one whole frame).
    """
    scores = evs_scores(stats)
    frames, tokens = scores.shape
    kept = top_k_mask(scores, torch.full((frames,), min_per_frame)).flatten()
    order = torch.sort(scores.flatten().masked_fill(kept, float("-inf")), descending=True, stable=True).indices
    kept[order[: total - frames * min_per_frame]] = True
    return kept.view(frames, tokens).sum(dim=1).cpu()


WEIGHTED_ALLOCATORS = {
    "curvature": _curvature_weights,
    "uniform": _uniform_weights,
    "vidcom2": _vidcom2_weights,
    "segment": _segment_weights,
}
COUNTING_ALLOCATORS = {"evs": _evs_budget}  # these pick the tokens themselves and count them per frame
ALLOCATORS = {**WEIGHTED_ALLOCATORS, **COUNTING_ALLOCATORS}
ALLOCATION_METHODS = tuple(ALLOCATORS)


def distribute(weights: Tensor, total: int, min_per_frame: int, cap: int, rounding: str) -> Tensor:
    """Integer budgets ``k_t = m + floor(w_t * (total - T*m))``, capped at ``cap``, summing to ``total``.

    ``largest_remainder`` hands the leftover one token per frame in order of the largest
    fractional part (ties: lower frame index), repeating over the uncapped frames if capping
    left more than one round. ``reference`` reproduces the released V-CAST code: it never clears
    the remainder it used, so the whole leftover goes to the frame with the largest fractional
    part until that frame is full (with :func:`allocate_budget` and the curvature allocator, the curvature is
    then computed in the features' own dtype too, as the released code does). Returns a CPU int64 ``[T]``.
    """
    frames = weights.numel()
    weights = weights.detach().float().cpu().clamp_min(0.0)
    weights = weights / weights.sum().clamp_min(EPS)
    raw = weights * float(total - frames * min_per_frame)
    whole = torch.floor(raw)
    budget = (min_per_frame + whole.long()).clamp(max=cap).tolist()
    fraction = (raw - whole).tolist()
    leftover = total - sum(budget)
    if rounding == "reference":
        fraction = [-1.0 if k >= cap else f for k, f in zip(budget, fraction, strict=True)]
        for _ in range(leftover):
            frame = max(range(frames), key=fraction.__getitem__)
            if fraction[frame] < 0:  # every frame full; unreachable while total <= T * cap, kept as released
                break
            budget[frame] += 1
            if budget[frame] >= cap:
                fraction[frame] = -1.0
    else:
        order = sorted(range(frames), key=lambda t: -fraction[t])  # stable: equal remainders, lower index first
        while leftover > 0:
            for frame in order:
                if leftover and budget[frame] < cap:
                    budget[frame] += 1
                    leftover -= 1
    return torch.tensor(budget, dtype=torch.long)


@torch.no_grad()
def allocate_budget(
    features: Tensor,
    ratio: float,
    method: str = "curvature",
    *,
    min_per_frame: int = 1,
    rounding: str = "largest_remainder",
    **options,
) -> Tensor:
    """Split the clip's token budget over its frames.

    ``features`` ``[T, P, D]`` (any float dtype, CPU or CUDA), ``ratio`` in (0, 1]. Methods:
    ``curvature`` (V-CAST; options ``tau=0.7``, ``signal="turn"``), ``uniform``, ``vidcom2`` (option
    ``temperature=0.01``), ``segment`` (options ``threshold=0.84``, ``min_segments=8``), ``evs`` (vLLM's EVS:
    the frames' shares of a global top-k of change from the previous frame; ``rounding`` does not apply).
    Every frame gets at least ``min_per_frame`` and at most ``P`` tokens, and the budgets sum to
    :func:`total_budget` exactly. ``rounding`` is ``largest_remainder`` (default) or
    ``reference`` (the released V-CAST code's leftover handling). Returns int64 ``[T]`` on the
    input's device.
    """
    return allocate(FrameStats(features), ratio, method, min_per_frame=min_per_frame, rounding=rounding, **options)


def allocate(
    stats: FrameStats,
    ratio: float,
    method: str = "curvature",
    *,
    min_per_frame: int = 1,
    rounding: str = "largest_remainder",
    **options,
) -> Tensor:
    """:func:`allocate_budget` on features already wrapped in :class:`FrameStats`."""
    total = total_budget(stats.frames, stats.tokens, ratio, min_per_frame)
    return allocate_total(stats, total, method, min_per_frame=min_per_frame, rounding=rounding, **options)


def allocate_total(
    stats: FrameStats,
    total: int,
    method: str = "curvature",
    *,
    min_per_frame: int = 1,
    rounding: str = "largest_remainder",
    **options,
) -> Tensor:
    """Budgets summing to exactly ``total`` (an integer in ``[1, T*P]``), for an engine that fixed the count
    before the features existed; every frame gets at least ``min(min_per_frame, total // T)``."""
    weights_of = check_method("allocation", method, ALLOCATORS)
    options = check_options("allocation", method, weights_of, options, shared=("min_per_frame", "rounding"))
    total = check_int("total", total, 1, stats.frames * stats.tokens)
    min_per_frame = min(check_int("min_per_frame", min_per_frame, 0, stats.tokens), total // stats.frames)
    check_choice("rounding", rounding, ROUNDINGS)
    if rounding == "reference" and method == "curvature":  # the released code's arithmetic, in the features' dtype
        stats = stats.in_own_dtype()
    stats.validate()
    if method in COUNTING_ALLOCATORS:
        return weights_of(stats, total, min_per_frame, **options).to(stats.features.device)
    weights = weights_of(stats, **options)
    if not bool(torch.isfinite(weights).all()):
        raise InputError(f"allocation method {method!r} produced non-finite frame weights with options {options}")
    return distribute(weights, total, min_per_frame, stats.tokens, rounding).to(stats.features.device)
