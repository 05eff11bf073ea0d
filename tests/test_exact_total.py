"""prune_tokens_to_total: the kept mask for a total an engine fixed beforehand (vLLM floors where we round)."""

import itertools

import pytest
import torch

from vcast_core import (
    ALLOCATION_METHODS,
    SELECTION_METHODS,
    InputError,
    prune_tokens,
    prune_tokens_to_total,
    total_budget,
)

PRUNING_SELECTORS = [method for method in SELECTION_METHODS if method != "keep_all"]


@pytest.mark.parametrize(("allocator", "selector"), list(itertools.product(ALLOCATION_METHODS, PRUNING_SELECTORS)))
@pytest.mark.parametrize("total", [1, 3, 4, 17, 40, 64])
def test_exactly_total_tokens_at_least_one_per_frame_when_there_are_enough(allocator, selector, total):
    features = torch.randn(4, 16, 24, generator=torch.Generator().manual_seed(total))
    budget, kept = prune_tokens_to_total(features, total, allocator, selector)
    assert int(budget.sum()) == int(kept.sum()) == total
    assert torch.equal(kept.sum(dim=1), budget)
    assert bool((budget <= 16).all())
    if total >= 4:
        assert bool((budget >= 1).all())
    again = prune_tokens_to_total(features.clone(), total, allocator, selector)
    assert torch.equal(again[1], kept)


@pytest.mark.parametrize("allocator", ALLOCATION_METHODS)
@pytest.mark.parametrize("ratio", [0.1, 0.25, 0.5])
def test_equals_prune_tokens_where_the_totals_agree(allocator, ratio):
    features = torch.randn(6, 16, 24, generator=torch.Generator().manual_seed(7))
    total = total_budget(6, 16, ratio)
    by_ratio, by_total = prune_tokens(features, ratio, allocator), prune_tokens_to_total(features, total, allocator)
    assert torch.equal(by_ratio[0], by_total[0]) and torch.equal(by_ratio[1], by_total[1])


def test_vllm_floor_totals_for_half_precision_features():
    features = torch.randn(8, 49, 32, generator=torch.Generator().manual_seed(3)).to(torch.bfloat16)
    for rate in (0.5, 0.75, 0.9):
        total = int(8 * 49 * (1 - rate))  # vLLM's VidCom2 total, floored
        budget, kept = prune_tokens_to_total(features, total)
        assert int(kept.sum()) == total and bool((budget >= 1).all())


@pytest.mark.parametrize("total", [0, 65, 2.5, True])
def test_a_total_outside_the_clip_is_refused(total):
    with pytest.raises(InputError, match=r"total must be an integer in \[1, 64\]"):
        prune_tokens_to_total(torch.randn(4, 16, 8), total)
