"""The token set: a clip's visual tokens after the vision encoder, and the kept mask a policy chose."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from . import allocation
from .curvature import trajectory_signal
from .errors import TokenSetError
from .frames import FrameStats
from .policy import prune_tokens
from .selection import select_tokens

# How the kept tokens are numbered at prefill: at their positions in the full prompt (V-CAST),
# or renumbered 0..n-1 as LLaVA-centric pruners do (1-D RoPE models only).
POSITIONS = ("original", "compact")
POOL = 2  # patches per token along each side of a frame
GROUPS_PER_CHUNK = 8  # temporal groups a vision tower encodes at once (the tokens do not depend on it)
# Pixel limits of the frames the vision tower sees, on top of the checkpoint's own. Per frame: 768 tokens'
# worth of 28-pixel patches, qwen-vl-utils' video default (Qwen2.5-VL's published image limit, which applies
# to video, is 12.8 megapixels). Per clip: 64 such frames, so that a 64-frame 1080p clip of Qwen2.5-VL-7B
# is 23,040 video tokens (about 21 GB at bf16 by bench/memory_estimate.py) and longer samplings share the budget.
# LLaVA-OneVision resizes every frame to 384x384 whatever the limits.
MAX_FRAME_PIXELS = 768 * 28 * 28
MAX_CLIP_PIXELS = 64 * MAX_FRAME_PIXELS


@dataclass(frozen=True)
class TokenSet:
    """Visual tokens of one clip, per temporal group ("frame"), ready to prefill.

    ``features`` is ``[T, P, D]`` in LLM width, in the model's token order (raster order within
    a group); ``deepstack`` holds Qwen3-VL's per-level companions, each ``[T, P, D]``. Tokens the
    model adds once per video and never from the frames (LLaVA-OneVision's image newline) are
    not in it: they come from the model at prefill and are always kept.
    """

    model_type: str
    features: Tensor  # [T, P, D]
    grid: tuple[int, int, int]  # (t, h, w) in vision patches: Qwen's video_grid_thw; LLaVA (T, 27, 27) per frame
    deepstack: tuple[Tensor, ...]  # Qwen3-VL: one [T, P, D] per level; empty otherwise
    timestamps: tuple[float, ...]  # seconds, per temporal group
    frame_indices: tuple[int, ...]  # source frame index of every sampled frame
    seconds_per_group: float  # time spanned by one temporal group (Qwen2.5-VL's second_per_grid_t)
    encode_ms: float = 0.0
    kept: Tensor | None = None  # bool [T, P]; None keeps everything
    policy: dict = field(default_factory=dict)  # how ``kept`` was made, with its run time in ms

    @property
    def frames(self) -> int:
        return int(self.features.shape[0])

    @property
    def tokens_per_frame(self) -> int:
        return int(self.features.shape[1])

    @property
    def token_grid(self) -> tuple[int, int]:
        """(rows, columns) of tokens in a frame: the patch grid pooled 2x2, each side rounded up.

        Every supported family pools so: Qwen's patch merger divides even sides exactly,
        LLaVA-OneVision's bilinear pooling takes SigLIP's 27x27 patches to 14x14. Raises
        TokenSetError when the grid does not fit the features (``T`` groups of ``P`` tokens).
        """
        frames, height, width = self.grid
        rows, columns = -(-height // POOL), -(-width // POOL)
        if frames != self.frames or rows * columns != self.tokens_per_frame:
            raise TokenSetError(f"grid {self.grid} does not fit features of shape {tuple(self.features.shape)}")
        return rows, columns

    @property
    def frames_per_group(self) -> int:
        """Sampled frames per temporal group: 2 for Qwen (the last group may repeat a frame), 1 for LLaVA."""
        return -(-len(self.frame_indices) // self.frames)

    @property
    def kept_mask(self) -> Tensor:
        """The kept mask, all True when no policy ran."""
        if self.kept is None:
            return torch.ones(self.features.shape[:2], dtype=torch.bool, device=self.features.device)
        return self.kept

    def with_kept(self, kept: Tensor, policy: dict | None = None) -> TokenSet:
        """A copy that keeps ``kept`` (bool ``[T, P]``, e.g. from ``select_tokens``); the features are shared."""
        if kept.dtype != torch.bool or tuple(kept.shape) != tuple(self.features.shape[:2]):
            raise TokenSetError(
                f"kept mask must be bool of shape {tuple(self.features.shape[:2])} (frames, tokens per frame), "
                f"got {kept.dtype} {tuple(kept.shape)}; was it made for another token set?"
            )
        return replace(self, kept=kept.to(self.features.device), policy=dict(policy or {}))


def prune(
    token_set: TokenSet,
    ratio: float,
    allocator: str = "curvature",
    selector: str = "dual_anchor",
    *,
    allocation_options: dict | None = None,
    selection_options: dict | None = None,
) -> TokenSet:
    """Run a pruning policy on ``token_set``'s features; returns a copy carrying the kept mask."""
    start = time.perf_counter()
    _, kept = prune_tokens(
        token_set.features,
        ratio,
        allocator,
        selector,
        allocation_options=allocation_options,
        selection_options=selection_options,
    )
    if kept.is_cuda:
        torch.cuda.synchronize(kept.device)
    policy = dict(
        ratio=ratio,
        allocator=allocator,
        selector=selector,
        allocation_options=dict(allocation_options or {}),
        selection_options=dict(selection_options or {}),
        ms=(time.perf_counter() - start) * 1e3,
    )
    return token_set.with_kept(kept, policy)


@dataclass(frozen=True)
class Budget:
    """Tokens to keep per frame of one token set, and how they were allocated."""

    per_frame: Tensor  # int64 [T]
    tokens_per_frame: int  # P of the token set it was made for
    frame_indices: tuple[int, ...]  # the source frames of that token set
    ratio: float
    method: str
    options: dict
    curvature: Tensor  # float [T] in [0, 2], the routing signal (curvature for other methods), for previews
    ms: float


def allocate(token_set: TokenSet, ratio: float, method: str = "curvature", **options) -> Budget:
    """:func:`~vcast_core.allocate_budget` on a token set's features, timed."""
    start = time.perf_counter()
    stats = FrameStats(token_set.features)  # one frame-mean pass for the budget and the preview's curvature
    per_frame = allocation.allocate(stats, ratio, method, **options)
    ms = (time.perf_counter() - start) * 1e3
    signal = options.get("signal", "turn") if method == "curvature" else "turn"
    if method == "curvature" and options.get("rounding") == "reference":
        stats = stats.in_own_dtype()  # the curvature the budget came from
    curvature = trajectory_signal(stats.descriptors, signal, stats.still)
    return Budget(
        per_frame.cpu(),
        token_set.tokens_per_frame,
        token_set.frame_indices,
        ratio,
        method,
        dict(options),
        curvature.cpu(),
        ms,
    )


def apply_budget(token_set: TokenSet, budget: Budget, method: str = "dual_anchor", **options) -> TokenSet:
    """:func:`~vcast_core.select_tokens` with a :class:`Budget`; refuses one made for another token set."""
    if budget.per_frame.shape[0] != token_set.frames or budget.tokens_per_frame != token_set.tokens_per_frame:
        raise TokenSetError(
            f"this budget is for {budget.per_frame.shape[0]} frames of {budget.tokens_per_frame} tokens, the token "
            f"set has {token_set.frames} of {token_set.tokens_per_frame}; allocate it from this token set"
        )
    if budget.frame_indices != token_set.frame_indices:
        raise TokenSetError("this budget was allocated for tokens of other frames; allocate it from this token set")
    start = time.perf_counter()
    kept = select_tokens(token_set.features, budget.per_frame, method, **options)
    policy = dict(
        ratio=budget.ratio,
        allocator=budget.method,
        selector=method,
        allocation_options=budget.options,
        selection_options=dict(options),
        ms=budget.ms + (time.perf_counter() - start) * 1e3,
    )
    return token_set.with_kept(kept, policy)
