"""Invalid arguments raise ValueError naming the argument and what is allowed."""

import numpy as np
import pytest
import torch

from vcast_core import allocate_budget, frame_curvature, prune_tokens, select_tokens, total_budget

FEATURES = torch.randn(4, 6, 3)


def with_nan():
    features = FEATURES.clone()
    features[2, 1, 0] = float("nan")
    return features


def with_inf():
    features = FEATURES.clone()
    features[3, 0, 2] = float("inf")
    return features


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: allocate_budget(FEATURES, 0), r"ratio must be a number in \(0, 1\]"),
        (lambda: allocate_budget(FEATURES, -0.5), r"ratio must be a number in \(0, 1\].*-0\.5"),
        (lambda: allocate_budget(FEATURES, 1.01), r"ratio must be a number in \(0, 1\].*1\.01"),
        (lambda: allocate_budget(FEATURES, float("nan")), r"ratio must be a number in \(0, 1\]"),
        (lambda: allocate_budget(FEATURES, True), r"ratio must be a number"),
        (lambda: allocate_budget(FEATURES, "0.5"), r"ratio must be a number"),
        (lambda: allocate_budget(FEATURES, 0.5, tau=0), r"tau must be a finite number >= 1e-06, got 0"),
        (lambda: allocate_budget(FEATURES, 0.5, tau=float("inf")), r"tau must be a finite number >= 1e-06"),
        (lambda: allocate_budget(FEATURES, 0.5, min_per_frame=7), r"min_per_frame must be an integer in \[0, 6\]"),
        (lambda: allocate_budget(FEATURES, 0.5, min_per_frame=-1), r"min_per_frame must be an integer in \[0, 6\]"),
        (lambda: allocate_budget(FEATURES, 0.5, signal="speed"), r"signal must be one of 'turn', 'jump', 'turn_x_j"),
        (lambda: allocate_budget(FEATURES, 0.5, rounding="banker"), r"rounding must be one of 'largest_remainder'"),
        (lambda: allocate_budget(FEATURES, 0.5, "fastest"), r"unknown allocation method 'fastest'; choose one of: cur"),
        (lambda: allocate_budget(FEATURES, 0.5, "uniform", tau=1), r"option\(s\) tau .*allowed: min_per_frame, round"),
        (lambda: allocate_budget(FEATURES, 0.5, "vidcom2", temperature=-1), r"temperature must be a finite number >="),
        (lambda: allocate_budget(FEATURES, 0.5, "segment", threshold=2), r"threshold .* must be a number in \[-1, 1\]"),
        (lambda: allocate_budget(FEATURES, 0.5, tau=1e-300), r"tau must be a finite number >= 1e-06, got 1e-300"),
        (lambda: allocate_budget(FEATURES, 0.5, "segment", min_segments=0), r"min_segments must be an integer in \[1"),
        (lambda: allocate_budget(FEATURES[0], 0.5), r"features must be a 3-D tensor \[T, P, D\].*\(6, 3\)"),
        (lambda: allocate_budget(FEATURES[:0], 0.5), r"features must have T \(frames\) >= 1"),
        (lambda: allocate_budget(FEATURES[:, :0], 0.5), r"features must have P \(tokens per frame\) >= 1"),
        (lambda: allocate_budget(FEATURES.long(), 0.5), r"must be a floating-point tensor, got dtype torch.int64"),
        (lambda: allocate_budget(FEATURES.numpy(), 0.5), r"features must be a torch.Tensor"),
        (lambda: allocate_budget(with_nan(), 0.5), r"NaN or Inf .* frame\(s\) \[2\]"),
        (lambda: allocate_budget(with_inf(), 0.5, "uniform"), r"NaN or Inf .* frame\(s\) \[3\]"),
        (lambda: frame_curvature(with_nan()), r"NaN or Inf .* frame\(s\) \[2\]"),
        (lambda: select_tokens(with_inf(), [1, 1, 1, 1], "random"), r"NaN or Inf .* frame\(s\) \[3\]"),
        (lambda: select_tokens(FEATURES, [1, 1, 1]), r"budget must have one entry per frame, shape \(4,\)"),
        (lambda: select_tokens(FEATURES, [1, 1, 7, 1]), r"budget\[2\] = 7 is outside \[0, P=6\]"),
        (lambda: select_tokens(FEATURES, [1, -1, 1, 1]), r"budget\[1\] = -1 is outside \[0, P=6\]"),
        (lambda: select_tokens(FEATURES, torch.ones(4)), r"budget must hold integers.*torch.float32"),
        (lambda: select_tokens(FEATURES, ["a", 1, 1, 1]), r"budget must be a sequence of integers"),
        (lambda: select_tokens(FEATURES, [1.5, 2, 0, 1]), r"budget must be a sequence of integers"),
        (lambda: select_tokens(FEATURES, [True, 1, 0, 1]), r"budget must be a sequence of integers"),
        (lambda: select_tokens(FEATURES, [1, 1, 1, 1], "best"), r"unknown selection method 'best'; choose one of: du"),
        (lambda: select_tokens(FEATURES, [1, 1, 1, 1], "random", seed=-3), r"seed must be an integer in \[0, inf\)"),
        (lambda: select_tokens(FEATURES, [1, 1, 1, 1], "norm", seed=1), r"option\(s\) seed .* 'norm'; allowed: none"),
        (lambda: prune_tokens(FEATURES, 0.5, selection_options={"k": 1}), r"option\(s\) k .*'dual_anchor'"),
        (lambda: total_budget(0, 5, 0.5), r"frames \(T\) must be an integer in \[1, inf\)"),
    ],
)
def test_invalid_argument_is_named_with_its_range(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_numpy_scalars_are_numbers():
    budget = allocate_budget(FEATURES, np.float32(0.5), min_per_frame=np.int64(1))
    assert int(budget.sum()) == 12
    assert select_tokens(FEATURES, np.array([1, 2, 3, 0]), "random", seed=np.int64(2)).sum() == 6
