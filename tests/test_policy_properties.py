"""The guarantees every allocation and selection method gives, over random shapes, dtypes and ratios."""

import pytest
import torch
from hypothesis import event, given
from hypothesis import strategies as st

from vcast_core import (
    ALLOCATION_METHODS,
    ROUNDINGS,
    SELECTION_METHODS,
    InputError,
    allocate_budget,
    frame_curvature,
    prune_tokens,
    select_tokens,
    total_budget,
)

DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
ratios = st.one_of(st.just(1.0), st.floats(min_value=1e-4, max_value=1.0, exclude_min=False))


@st.composite
def feature_sets(draw):
    frames, tokens, width = draw(st.integers(1, 12)), draw(st.integers(1, 24)), draw(st.integers(1, 8))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    features = torch.randn(frames, tokens, width, generator=generator)
    if draw(st.booleans()):  # few distinct values: many exact ties between tokens and frames
        features = features.round()
    return features.to(draw(st.sampled_from(DTYPES)))


@given(
    features=feature_sets(),
    ratio=ratios,
    method=st.sampled_from(ALLOCATION_METHODS),
    rounding=st.sampled_from(ROUNDINGS),
    data=st.data(),
)
def test_allocation_guarantees(features, ratio, method, rounding, data):
    frames, tokens, _ = features.shape
    min_per_frame = data.draw(st.integers(0, tokens))
    budget = allocate_budget(features, ratio, method, min_per_frame=min_per_frame, rounding=rounding)
    assert budget.dtype == torch.int64 and budget.shape == (frames,)
    assert int(budget.sum()) == total_budget(frames, tokens, ratio, min_per_frame)
    assert int(budget.min()) >= min_per_frame and int(budget.max()) <= tokens
    again = allocate_budget(features, ratio, method, min_per_frame=min_per_frame, rounding=rounding)
    assert torch.equal(budget, again)
    if ratio == 1.0:
        assert budget.tolist() == [tokens] * frames


@given(
    features=feature_sets(),
    ratio=ratios,
    allocator=st.sampled_from(ALLOCATION_METHODS),
    selector=st.sampled_from(SELECTION_METHODS),
)
def test_selection_guarantees(features, ratio, allocator, selector):
    frames, tokens, _ = features.shape
    budget = allocate_budget(features, ratio, allocator)
    kept = select_tokens(features, budget, selector)
    assert kept.dtype == torch.bool and kept.shape == (frames, tokens)
    expected = [tokens] * frames if selector == "keep_all" else budget.tolist()
    assert kept.sum(dim=1).tolist() == expected
    assert torch.equal(kept, select_tokens(features, budget, selector))
    shared_budget, shared_kept = prune_tokens(features, ratio, allocator, selector)
    assert torch.equal(shared_budget, budget) and torch.equal(shared_kept, kept)


@given(features=feature_sets())
def test_curvature_lies_in_zero_to_two_with_unit_ends(features):
    curvature = frame_curvature(features)
    assert curvature.dtype == torch.float32 and curvature.shape == (features.shape[0],)
    assert curvature[0] == 1.0 and curvature[-1] == 1.0
    assert bool(((curvature > -1e-5) & (curvature < 2 + 1e-5)).all())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_result_on_the_cuda_device():
    # Small integers over a power-of-two token count keep the arithmetic exact on both devices,
    # and the many equal values exercise the lower-index tie rule.
    features = torch.randint(-2, 3, (16, 64, 32), generator=torch.Generator().manual_seed(0)).float()
    for allocator in ALLOCATION_METHODS:
        for selector in SELECTION_METHODS:
            cpu_budget, cpu_kept = prune_tokens(features, 0.25, allocator, selector)
            cuda_budget, cuda_kept = prune_tokens(features.cuda(), 0.25, allocator, selector)
            assert cuda_budget.is_cuda and cuda_kept.is_cuda
            assert torch.equal(cuda_budget.cpu(), cpu_budget), (allocator, selector)
            assert torch.equal(cuda_kept.cpu(), cpu_kept), (allocator, selector)


anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["turn", "jump", "largest_remainder", "reference"]),
)
OPTION_NAMES = ("tau", "signal", "temperature", "threshold", "min_segments", "seed", "min_per_frame", "rounding", "k")


@st.composite
def any_features(draw):
    """Valid feature sets, and tensors of any rank, size, dtype and content, and things that are not tensors."""
    kind = draw(st.sampled_from(["valid", "valid", "valid", "odd tensor", "not a tensor"]))
    if kind == "valid":
        features = draw(feature_sets())
        if draw(st.integers(0, 3)) == 0:  # poison an entry
            flat = features.reshape(-1).clone()
            flat[draw(st.integers(0, flat.numel() - 1))] = draw(st.sampled_from([float("nan"), float("inf"), 1e30]))
            features = flat.reshape(features.shape)
        return features
    if kind == "odd tensor":
        shape = draw(st.lists(st.integers(0, 4), max_size=4))
        dtype = draw(st.sampled_from([torch.float32, torch.float16, torch.int64, torch.bool]))
        return torch.zeros(shape).to(dtype)
    return draw(st.sampled_from([None, [[[1.0]]], "features", 3.0]))


@given(
    features=any_features(),
    ratio=st.one_of(ratios, ratios, ratios, anything),
    allocator=st.sampled_from([*ALLOCATION_METHODS, *ALLOCATION_METHODS, "nope"]),
    selector=st.sampled_from([*SELECTION_METHODS, *SELECTION_METHODS, "nope"]),
    allocation_options=st.one_of(st.just({}), st.dictionaries(st.sampled_from(OPTION_NAMES), anything, max_size=1)),
    selection_options=st.one_of(st.just({}), st.dictionaries(st.sampled_from(OPTION_NAMES), anything, max_size=1)),
)
def test_any_input_gives_a_valid_result_or_an_input_error(
    features, ratio, allocator, selector, allocation_options, selection_options
):
    try:
        budget, kept = prune_tokens(
            features,
            ratio,
            allocator,
            selector,
            allocation_options=allocation_options,
            selection_options=selection_options,
        )
    except InputError:
        event("refused")
        return
    event("pruned")
    frames, tokens, _ = features.shape
    min_per_frame = allocation_options.get("min_per_frame", 1)
    assert int(budget.sum()) == total_budget(frames, tokens, ratio, min_per_frame)
    assert kept.shape == (frames, tokens)
    assert kept.sum(dim=1).tolist() == ([tokens] * frames if selector == "keep_all" else budget.tolist())
