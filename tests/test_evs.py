"""EVS, vLLM's video pruning, as a peer policy: its definition checked against vLLM's rule written out here."""

import pytest
import torch
import torch.nn.functional as F

from vcast_core import allocate_budget, prune_tokens, select_tokens, total_budget


def vllm_evs_mask(features: torch.Tensor, keep: int) -> torch.Tensor:
    """vLLM's EVS (``vllm/multimodal/evs.py``, ``compute_retention_mask``): over the whole clip, the ``keep``
    tokens with the largest ``1 - cos`` to the same position in the previous frame, the first frame scored 255,
    ties in flat (frame-major) order."""
    frames, tokens, _ = features.shape
    change = 1 - F.cosine_similarity(features[1:], features[:-1], dim=-1)
    change = torch.cat([torch.full((1, tokens), 255.0), change])
    order = torch.argsort(change.flatten(), descending=True, stable=True)[:keep]
    mask = torch.zeros(frames * tokens, dtype=torch.bool)
    mask[order] = True
    return mask.view(frames, tokens)


def vllm_evs_total(frames: int, tokens: int, rate: float) -> int:
    """vLLM's ``compute_retained_tokens_count``: ``int(T*P*(1-q))``, at least one whole frame."""
    return max(tokens, int(frames * tokens * (1 - rate)))


def static_then_moving(frames=8, tokens=16, width=24, seed=0):
    """Frames that repeat their predecessor exactly (ties at a change of 0) between frames that do not."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(frames, tokens, width, generator=generator)
    features[2] = features[1]
    features[5, :8] = features[4, :8]
    return features


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
@pytest.mark.parametrize("make", [lambda: torch.randn(8, 16, 24), static_then_moving])
def test_evs_allocator_and_selector_give_vllms_mask(make, ratio):
    torch.manual_seed(1)
    features = make()
    frames, tokens, _ = features.shape
    total = vllm_evs_total(frames, tokens, 1 - ratio)
    assert total == total_budget(frames, tokens, ratio, min_per_frame=0)  # ratios where both totals agree
    budget, kept = prune_tokens(features, ratio, "evs", "evs", allocation_options=dict(min_per_frame=0))
    assert torch.equal(kept, vllm_evs_mask(features, total))
    assert torch.equal(budget, kept.sum(dim=1))


def test_evs_keeps_the_first_frame_whole_then_the_tokens_that_changed():
    features = static_then_moving()
    budget = allocate_budget(features, 0.25, "evs", min_per_frame=0)
    assert budget[0] == 16
    assert budget[2] == 0  # an exact repeat of frame 1 has nothing new
    kept = select_tokens(features, torch.tensor([0, 0, 0, 0, 0, 8, 0, 0]), "evs")
    assert kept[5].tolist() == [False] * 8 + [True] * 8  # its first half repeats frame 4


def test_evs_min_per_frame_keeps_every_frames_best_tokens_first():
    features = static_then_moving()
    budget, kept = prune_tokens(features, 0.25, "evs", "evs", allocation_options=dict(min_per_frame=2))
    assert int(budget.sum()) == total_budget(8, 16, 0.25, 2)
    assert bool((budget >= 2).all())
    assert torch.equal(budget, kept.sum(dim=1))
    assert torch.equal(kept, select_tokens(features, budget, "evs"))


def test_evs_with_a_total_under_one_frame_keeps_the_first_frames_lowest_indices():
    budget, kept = prune_tokens(static_then_moving(), 0.05, "evs", "evs", allocation_options=dict(min_per_frame=0))
    assert budget.tolist() == [6, 0, 0, 0, 0, 0, 0, 0]
    assert kept[0].tolist() == [True] * 6 + [False] * 10
