import pytest
import torch

from vcast_core import SELECTION_METHODS, select_tokens
from vcast_core.frames import FrameStats
from vcast_core.selection import dual_anchor_scores

# One frame, four 2-D tokens; frame mean m = (1, 0.5), |m| = 1.118.
#   1 - cos(x, m):     [0.1056, 0.1056, 0.5528, 0.0513]
#   min-max L2 norm:   [0,      1,      0,      0.4142]   (norms 1, 2, 1, 1.414)
#   dual-anchor score: [0.1056, 1.1056, 0.5528, 0.4655]  -> order 1, 2, 3, 0
FRAME = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])


@pytest.mark.parametrize(
    ("k", "kept"),
    [(0, [0, 0, 0, 0]), (1, [0, 1, 0, 0]), (2, [0, 1, 1, 0]), (3, [0, 1, 1, 1]), (4, [1, 1, 1, 1])],
)
def test_dual_anchor_by_hand(k, kept):
    assert select_tokens(FRAME, [k]).int().tolist() == [kept]


def test_norm_keeps_the_longest_tokens():
    assert select_tokens(FRAME, [2], "norm").int().tolist() == [[0, 1, 0, 1]]


# Unit directions at 0, ~8, 90 and 180 degrees. Farthest from its nearest neighbour: token 3
# (1.0 away from token 2); then the one farthest from {3}: token 0 (distance 2); then the one
# farthest from {3, 0}: token 2 (1.0, while token 1 is 0.01 from token 0).
SPREAD = torch.tensor([[[1.0, 0.0], [0.99, 0.14], [0.0, 1.0], [-1.0, 0.0]]])


@pytest.mark.parametrize(("k", "kept"), [(1, [0, 0, 0, 1]), (2, [1, 0, 0, 1]), (3, [1, 0, 1, 1])])
def test_divprune_by_hand(k, kept):
    assert select_tokens(SPREAD, [k], "divprune").int().tolist() == [kept]


def test_divprune_never_keeps_a_token_twice_among_duplicates():
    features = torch.ones(2, 6, 3)
    kept = select_tokens(features, [4, 6], "divprune")
    assert kept.sum(dim=1).tolist() == [4, 6]


@pytest.mark.parametrize("method", ["dual_anchor", "norm", "divprune"])
def test_equal_scores_keep_the_lower_index(method):
    features = torch.full((2, 8, 4), 0.5)
    kept = select_tokens(features, [3, 5], method)
    assert kept.int().tolist() == [[1, 1, 1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0, 0]]


def test_random_is_seeded():
    features = torch.randn(5, 20, 4)
    budget = [3, 0, 20, 7, 1]
    first = select_tokens(features, budget, "random", seed=7)
    assert torch.equal(first, select_tokens(features, budget, "random", seed=7))
    assert not torch.equal(first, select_tokens(features, budget, "random", seed=8))
    assert first.sum(dim=1).tolist() == budget


def test_keep_all_keeps_every_token_whatever_the_budget():
    assert select_tokens(torch.randn(2, 3, 4), [0, 1], "keep_all").all()


@pytest.mark.parametrize("method", SELECTION_METHODS)
def test_selection_does_not_modify_its_input(method):
    features = torch.randn(3, 10, 6, dtype=torch.bfloat16)
    before = features.clone()
    select_tokens(features, torch.tensor([2, 5, 10]), method)
    assert torch.equal(features, before)


def test_budget_may_be_a_list_or_any_integer_tensor():
    features = torch.randn(3, 5, 2)
    as_list = select_tokens(features, [1, 2, 3])
    assert torch.equal(as_list, select_tokens(features, torch.tensor([1, 2, 3], dtype=torch.int32)))


def duplicated_tokens(seed):
    """Frames whose tokens are copies of a few tokens, at sizes where BLAS blocking differs by position."""
    generator = torch.Generator().manual_seed(seed)
    tokens = int(torch.randint(40, 300, (1,), generator=generator))
    source = torch.randint(0, tokens // 2, (tokens,), generator=generator)
    return torch.randn(3, tokens, 146, generator=generator)[:, source], source


@pytest.mark.parametrize("seed", range(30))
def test_copies_of_a_token_get_the_same_dual_anchor_score(seed):
    features, source = duplicated_tokens(seed)
    scores = dual_anchor_scores(FrameStats(features))
    for value in source.unique():
        copies = scores[:, source == value]
        assert torch.equal(copies, copies[:, :1].expand_as(copies))


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("method", ["dual_anchor", "norm"])
def test_when_a_budget_splits_copies_the_first_copy_is_kept(seed, method):
    features, source = duplicated_tokens(seed)
    score = dual_anchor_scores(FrameStats(features)) if method == "dual_anchor" else features.norm(dim=-1)
    values, counts = source.unique(return_counts=True)
    copies = (source == values[counts.argmax()]).nonzero().flatten()
    budget = [int((row > row[copies].max()).sum()) + 1 for row in score]  # room for exactly one copy
    kept = select_tokens(features, budget, method)
    assert kept[:, copies].int().tolist() == [[1] + [0] * (len(copies) - 1)] * 3
