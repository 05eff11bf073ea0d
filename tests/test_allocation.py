import pytest
import torch

from vcast_core import allocate_budget, frame_curvature, total_budget
from vcast_core.allocation import distribute
from vcast_core.curvature import curvature_of, jump_of, trajectory_signal
from vcast_core.synthetic import shot_clip


def constant_frames(points, tokens):
    """Features ``[T, tokens, D]`` where every token of frame t equals ``points[t]``."""
    return torch.tensor(points, dtype=torch.float32)[:, None, :].expand(-1, tokens, -1).contiguous()


# kappa = [1, 2, 1, 1] (see test_curvature): w = softmax(kappa / 0.7) = [a, b, a, a] / (3a + b),
# a = e^(1/0.7) = 4.1727, b = e^(2/0.7) = 17.4109, so w = [0.13942, 0.58175, 0.13942, 0.13942].
REVERSAL = constant_frames([(1, 0), (0, 1), (1, 0), (0, -1)], tokens=10)


def test_total_budget_follows_the_design_formula():
    assert total_budget(4, 10, 0.5) == 20
    assert total_budget(32, 256, 0.25) == 2048
    assert total_budget(3, 5, 0.01) == 3  # round(0.15) = 0 -> at least 1 -> one per frame
    assert total_budget(3, 5, 0.01, min_per_frame=0) == 1
    assert total_budget(4, 10, 0.125) == 5  # round(5.0)
    assert total_budget(1, 5, 0.5) == 2  # round(2.5) rounds half to even, as the reference does
    assert total_budget(4, 10, 1.0) == 40


def test_hand_computed_curvature_allocation_without_leftover():
    # B = 20, m = 1, 16 to share: raw = [2.23, 9.31, 2.23, 2.23] -> floor [2, 9, 2, 2] -> k = [3, 10, 3, 3]
    # (frame 1 capped at P = 10), 1 leftover to the largest remainder among open frames: frame 0 (tie -> lower).
    budget = allocate_budget(REVERSAL, 0.5)
    assert budget.tolist() == [4, 10, 3, 3]


def test_rounding_modes_differ_when_two_tokens_are_left_over():
    # B = round(40 * 0.525) = 21, 17 to share: raw = [2.37, 9.89, 2.37, 2.37] -> k = [3, 10, 3, 3] = 19.
    # Largest remainder gives one each to frames 0 and 2 (equal remainders, lower index first);
    # the reference code gives both to frame 0, the first frame with the largest remainder.
    assert allocate_budget(REVERSAL, 0.525).tolist() == [4, 10, 4, 3]
    assert allocate_budget(REVERSAL, 0.525, rounding="reference").tolist() == [5, 10, 3, 3]


def test_min_per_frame_zero_and_a_high_tau():
    # Without a floor the whole budget follows the weights; a huge tau makes the weights equal.
    weights = torch.softmax(torch.tensor([1.0, 2.0, 1.0, 1.0]) / 0.7, 0)
    expected = distribute(weights, 20, 0, 10, "largest_remainder")
    assert allocate_budget(REVERSAL, 0.5, min_per_frame=0).tolist() == expected.tolist()
    flat = allocate_budget(REVERSAL, 0.5, tau=1000.0)
    assert flat.tolist() == [5, 5, 5, 5]


def test_distribute_largest_remainder_by_hand():
    # 10 tokens, no floor: raw = [3.75, 3.75, 2.5] -> floor [3, 3, 2] = 8; 2 leftover -> frames 0 and 1.
    exact = torch.tensor([0.375, 0.375, 0.25])
    assert distribute(exact, 10, 0, 10, "largest_remainder").tolist() == [4, 4, 2]
    assert distribute(exact, 10, 0, 10, "reference").tolist() == [5, 3, 2]
    # raw = [1.8, 1.1, 0.6, 0.5] -> floor [1, 1, 0, 0] = 2; 2 leftover -> remainders 0.8 then 0.6.
    weights = torch.tensor([0.45, 0.275, 0.15, 0.125])
    assert distribute(weights, 4, 0, 4, "largest_remainder").tolist() == [2, 1, 1, 0]
    assert distribute(weights, 4, 0, 4, "reference").tolist() == [3, 1, 0, 0]


def test_capped_frames_pass_their_share_on_in_repeated_rounds():
    # One frame wants 90% of 12 tokens but holds 4; the 7 it cannot take go round the other
    # three frames (each gets 2 in round one, then one more in order of remainder).
    weights = torch.tensor([0.9, 0.04, 0.03, 0.03])
    budget = distribute(weights, 12, 0, 4, "largest_remainder")
    assert budget.tolist() == [4, 3, 3, 2]
    assert distribute(weights, 12, 0, 4, "reference").tolist() == [4, 4, 4, 0]


def reference_leftover_oracle(weights, total, min_k, cap):
    """The released V-CAST allocation, written out with tensor ops as that code does it."""
    weights = weights.float().clamp_min(0.0)
    weights = weights / weights.sum().clamp_min(1e-6)
    base = torch.full(weights.shape, min_k, dtype=torch.long)
    raw = weights * float(total - int(base.sum()))
    alloc = base + torch.minimum(torch.floor(raw).long(), torch.full_like(base, cap - min_k))
    fraction = (raw - torch.floor(raw)).masked_fill(alloc >= cap, -1.0)
    for _ in range(total - int(alloc.sum())):
        index = torch.argmax(fraction)
        if fraction[index] < 0:
            break
        alloc[index] += 1
        if alloc[index] >= cap:
            fraction[index] = -1.0
    return alloc


@pytest.mark.parametrize("seed", range(40))
def test_reference_mode_matches_the_released_code_on_random_softmax_weights(seed):
    generator = torch.Generator().manual_seed(seed)
    frames = int(torch.randint(1, 40, (1,), generator=generator))
    cap = int(torch.randint(1, 300, (1,), generator=generator))
    ratio = float(torch.rand(1, generator=generator).clamp_min(0.01))
    total = total_budget(frames, cap, ratio)
    weights = torch.softmax(torch.rand(frames, generator=generator) * 2 / 0.7, dim=0)
    ours = distribute(weights, total, 1, cap, "reference")
    assert ours.tolist() == reference_leftover_oracle(weights, total, 1, cap).tolist()


def released_budget(features, ratio, tau=0.7, min_k=1):
    """The released code's whole curvature allocation: frame means, their normalisation and the curvature in the
    features' own dtype, then a float32 softmax and the leftover rule above."""
    reps = torch.nn.functional.normalize(features.mean(dim=1), dim=-1, eps=1e-6)
    incoming, outgoing = reps[1:-1] - reps[:-2], reps[2:] - reps[1:-1]
    inner = 1.0 - torch.nn.functional.cosine_similarity(incoming, outgoing, dim=-1, eps=1e-6)
    curvature = torch.cat([inner.new_ones(1), inner, inner.new_ones(1)])
    weights = torch.softmax(curvature.float() / tau, dim=0)
    frames, tokens, _ = features.shape
    return reference_leftover_oracle(weights, total_budget(frames, tokens, ratio, min_k), min_k, tokens)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("seed", range(8))
def test_reference_mode_matches_the_released_code_in_the_features_own_dtype(dtype, seed):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(32, 64, 256, generator=generator).cumsum(0).to(dtype)  # a drifting trajectory
    ours = allocate_budget(features, 0.25, rounding="reference")
    assert ours.tolist() == released_budget(features, 0.25).tolist()


def test_reference_mode_in_bfloat16_differs_from_float32_arithmetic():
    """bfloat16 curvature moves budgets: reproducing the released code in its dtype is not a no-op."""
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(32, 64, 256, generator=generator).bfloat16()
    in_float32 = released_budget(features.float(), 0.25)
    assert allocate_budget(features, 0.25, rounding="reference").tolist() != in_float32.tolist()  # 3 frames


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rounding", ["largest_remainder", "reference"])
@pytest.mark.parametrize("signal", ["turn", "jump", "turn_x_jump"])
def test_identical_frames_get_even_budgets(dtype, rounding, signal):
    """A static shot, or frames a low-fps source repeats: the same budget for every frame, in every mode, also
    when another kernel's rounding makes the identical frames' means differ in the last bits."""
    frame = torch.randn(1, 196, 256, generator=torch.Generator().manual_seed(1)).to(dtype)
    features = frame.repeat(32, 1, 1)
    assert set(allocate_budget(features, 0.25, rounding=rounding, signal=signal).tolist()) == {49}
    means = features.float().mean(dim=1)
    rounding_noise = means * (1 + 1e-7 * torch.randn(means.shape, generator=torch.Generator().manual_seed(2)))
    descriptors = torch.nn.functional.normalize(rounding_noise, dim=-1)
    assert torch.equal(trajectory_signal(descriptors, signal), trajectory_signal(descriptors[:1].repeat(32, 1), signal))


@pytest.mark.parametrize("rounding", ["largest_remainder", "reference"])
@pytest.mark.parametrize("signal", ["turn", "jump", "turn_x_jump"])
def test_bfloat16_frames_one_rounding_step_apart_count_as_identical(rounding, signal):
    """Another kernel may round an identical frame's bfloat16 features differently: 1% of the elements one ulp off
    are within bfloat16's rounding, not a move, and must not route the budget."""
    generator = torch.Generator().manual_seed(3)
    frame = torch.randn(1, 196, 1024, generator=generator).bfloat16()
    frames = frame.repeat(16, 1, 1)
    flip = torch.rand(frames.shape, generator=generator) < 0.01
    one_ulp = frames.float().abs() * 2.0**-7  # bfloat16 keeps 8 significant bits
    frames = torch.where(flip, (frames.float() + one_ulp).bfloat16(), frames)
    assert not torch.equal(frames[0], frames[1])
    assert set(allocate_budget(frames, 0.25, rounding=rounding, signal=signal).tolist()) == {49}


def test_uniform_spreads_evenly_and_gives_extras_to_early_frames():
    features = torch.randn(4, 10, 3)
    assert allocate_budget(features, 0.5, "uniform").tolist() == [5, 5, 5, 5]
    # B = round(40 * 0.55) = 22, m = 1: 18 to share, 4.5 each -> 5 per frame = 20; 2 left for frames 0 and 1.
    assert allocate_budget(features, 0.55, "uniform").tolist() == [6, 6, 5, 5]


def test_segment_gives_each_shot_an_equal_share():
    # Shots of 2, 6 and 4 frames: one third of B = 72 each -> 12, 4 and 6 tokens per frame.
    features, _ = shot_clip(shot_lengths=(2, 6, 4), tokens=12)
    budget = allocate_budget(features, 0.5, "segment", min_per_frame=0, min_segments=1)
    assert budget.tolist() == [12, 12, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6]


def test_segment_adds_the_lowest_similarity_cuts_up_to_min_segments():
    # One 12-frame shot and a threshold no pair falls below: min_segments=3 cuts at the two
    # least similar adjacent pairs, so the budget is no longer uniform.
    features, _ = shot_clip(shot_lengths=(12,), tokens=12)
    uncut = allocate_budget(features, 0.5, "segment", min_per_frame=0, threshold=-1.0, min_segments=1)
    cut = allocate_budget(features, 0.5, "segment", min_per_frame=0, threshold=-1.0, min_segments=3)
    assert uncut.tolist() == [6] * 12
    assert len(set(cut.tolist())) > 1 and cut.sum() == 72


def test_vidcom2_favours_the_frame_unlike_the_rest():
    generator = torch.Generator().manual_seed(0)
    scene = torch.randn(16, 8, generator=generator)
    features = scene.expand(6, -1, -1).clone() + 0.01 * torch.randn(6, 16, 8, generator=generator)
    features[3] = torch.randn(16, 8, generator=generator)
    budget = allocate_budget(features, 0.25, "vidcom2")
    assert int(budget.argmax()) == 3
    assert budget[3] > budget[[0, 1, 2, 4, 5]].max()


@pytest.mark.parametrize("seed", range(5))
def test_shot_boundaries_get_more_budget_than_frames_inside_shots(seed):
    features, starts = shot_clip(seed=seed)
    budget = allocate_budget(features, 0.25)
    boundary = {t for start in starts[1:] for t in (start - 1, start)}
    inside = [t for t in range(1, features.shape[0] - 1) if t not in boundary]
    assert min(budget[t] for t in boundary) > max(budget[t] for t in inside)
    curvature = frame_curvature(features)
    assert min(curvature[t] for t in boundary) > 2 * max(curvature[t] for t in inside)


def test_budget_is_int64_and_the_input_is_left_alone():
    features = torch.randn(3, 4, 5, dtype=torch.float16)
    before = features.clone()
    budget = allocate_budget(features, 0.5)
    assert budget.dtype == torch.int64 and budget.shape == (3,)
    assert torch.equal(features, before)


def test_jump_is_the_second_difference_and_the_ends_copy_their_neighbours():
    # e0 e0 e0 e1 e1: inside |e0 - 2e0 + e0| = 0, |e0 - 2e0 + e1| = |e1 - e0| = sqrt 2, |e0 - 2e1 + e1| = sqrt 2
    descriptors = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    root2 = 2**0.5
    assert torch.allclose(jump_of(descriptors), torch.tensor([0.0, 0.0, root2, root2, root2]))
    assert torch.allclose(trajectory_signal(descriptors, "jump"), torch.tensor([0.0, 0.0, 2.0, 2.0, 2.0]))
    assert torch.allclose(trajectory_signal(descriptors, "turn"), curvature_of(descriptors))
    # turn = [1, 1, 1, 1, 1] (a step to or from standing still counts as a right angle), so the product is the jump
    assert torch.allclose(trajectory_signal(descriptors, "turn_x_jump"), torch.tensor([0.0, 0.0, 2.0, 2.0, 2.0]))


def test_a_steady_pan_has_no_jump_anywhere():
    angles = torch.linspace(0, 1, 9)
    pan = torch.stack([angles.cos(), angles.sin()], dim=1)  # equal steps along a circle: a small constant turn
    assert jump_of(pan).max() < 0.02 and jump_of(pan).max() / (pan[1] - pan[0]).norm() < 0.2


def test_signals_of_a_still_or_single_frame_clip_are_zero_not_nan():
    for frames in (1, 2, 5):
        still = torch.ones(frames, 3)
        for signal in ("jump", "turn_x_jump"):
            assert torch.equal(trajectory_signal(still, signal), torch.zeros(frames))


def jittery_clip_with_a_cut(seed, frames=40, cut=20, tokens=6, width=32, jitter=0.05):
    """Frames that jitter in random directions around one scene, then a hard cut to another."""
    generator = torch.Generator().manual_seed(seed)
    scenes = torch.randn(2, width, generator=generator)
    means = torch.where(torch.arange(frames)[:, None] < cut, scenes[0], scenes[1])
    means = means + jitter * torch.randn(frames, width, generator=generator)
    return means[:, None, :] + 0.01 * torch.randn(frames, tokens, width, generator=generator)


@pytest.mark.parametrize("seed", range(5))
def test_jump_routes_budget_to_a_hard_cut_that_the_turning_angle_misses(seed):
    features = jittery_clip_with_a_cut(seed)
    near_cut = [19, 20]
    share = {}
    for signal in ("turn", "jump", "turn_x_jump"):
        budget = allocate_budget(features, 0.25, signal=signal).float()
        share[signal] = float(budget[near_cut].sum() / budget.sum()) / (len(near_cut) / features.shape[0])
    assert share["turn"] < 1.5  # jitter turns as sharply as the cut does
    assert share["jump"] > 2.0 and share["turn_x_jump"] > 2.0
