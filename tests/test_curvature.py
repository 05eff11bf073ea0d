import math

import pytest
import torch

from vcast_core import frame_curvature


def frames_at(points, tokens=2):
    """Features whose frame means are ``points``: each frame holds ``mean + d`` and ``mean - d``."""
    means = torch.tensor(points, dtype=torch.float32)
    spread = torch.randn(len(points), tokens // 2, means.shape[1], generator=torch.Generator().manual_seed(1))
    return torch.cat([means[:, None] + spread, means[:, None] - spread], dim=1)


def test_reversal_scores_two_and_a_right_angle_one():
    # f1 - f0 = (-1, 1) and f2 - f1 = (1, -1) point opposite ways; f3 - f2 = (-1, -1) is at 90 degrees.
    curvature = frame_curvature(frames_at([(1, 0), (0, 1), (1, 0), (0, -1)]))
    assert curvature.tolist() == pytest.approx([1.0, 2.0, 1.0, 1.0], abs=1e-6)


def test_equal_steps_on_a_circle_give_one_minus_cos_of_the_step():
    step = math.radians(60)
    points = [(math.cos(i * step), math.sin(i * step)) for i in range(5)]
    curvature = frame_curvature(frames_at(points))
    assert curvature.tolist() == pytest.approx([1.0, 0.5, 0.5, 0.5, 1.0], abs=1e-6)


def test_curvature_uses_the_normalised_mean_so_scale_does_not_matter():
    points = [(1, 0), (0.6, 0.8), (0, 1), (-0.6, 0.8)]
    scaled = [(5 * x * (i + 1), 5 * y * (i + 1)) for i, (x, y) in enumerate(points)]
    assert torch.allclose(frame_curvature(frames_at(points)), frame_curvature(frames_at(scaled)), atol=1e-6)


def test_straight_smooth_motion_is_near_zero():
    # Small equal steps along a great circle: nearly straight, so kappa ~ 1 - cos(step) ~ 0.
    step = math.radians(2)
    points = [(math.cos(i * step), math.sin(i * step), 0.0) for i in range(6)]
    assert frame_curvature(frames_at(points))[1:-1].max() < 1e-3


def test_one_and_two_frames_are_all_endpoints():
    assert frame_curvature(torch.randn(1, 4, 3)).tolist() == [1.0]
    assert frame_curvature(torch.randn(2, 4, 3)).tolist() == [1.0, 1.0]


def test_low_precision_input_is_computed_in_float32():
    features = torch.randn(6, 16, 32, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    curvature = frame_curvature(features)
    assert curvature.dtype == torch.float32
    assert torch.equal(curvature, frame_curvature(features.float()))
