import torch

from vcast_core.previews import BACKGROUND, BUDGET_COLOR, CURVATURE_COLOR, budget_chart, kept_overlay


def test_budget_chart_bars_scale_with_the_budget():
    chart = budget_chart(
        torch.tensor([10, 5, 0]), tokens_per_frame=10, curvature=torch.tensor([1.0, 0.0, 2.0]), height=100, column=10
    )
    assert chart.shape == (1, 100, 30, 3) and 0 <= chart.min() and chart.max() <= 1
    blue = (chart[0, :, :, 2] == BUDGET_COLOR[2]).float()
    assert blue[:, 0].sum() > 90 and 45 <= blue[:, 10].sum() <= 52 and blue[:, 20].sum() <= 2  # 100%, 50%, 0% kept
    assert chart[0, 0, 29, 0] == BACKGROUND  # the gap after each bar stays background
    orange = chart[0, :, :, 0] == CURVATURE_COLOR[0]
    assert orange[0:2, 20].all() and orange[49:51, 0].any() and orange[98:100, 10].all()  # curvature 2, 1, 0


def test_kept_overlay_dims_dropped_patches_of_their_group():
    frames = torch.full((4, 8, 8, 3), 200, dtype=torch.uint8)
    kept = torch.tensor([[True, False, False, True], [False, False, False, False]])  # 2 groups on a 2x2 token grid
    overlay = kept_overlay(frames, kept, token_grid=(2, 2), frames_per_group=2)
    assert overlay.shape == (4, 8, 8, 3)
    bright, dim = 200 / 255, 200 / 255 * 0.25
    for frame in (0, 1):  # group 0: top-left and bottom-right kept
        assert torch.allclose(overlay[frame, 0, 0], torch.tensor(bright)) and torch.allclose(
            overlay[frame, 7, 7], torch.tensor(bright)
        )
        assert torch.allclose(overlay[frame, 0, 7], torch.tensor(dim)) and torch.allclose(
            overlay[frame, 7, 0], torch.tensor(dim)
        )
    assert torch.allclose(overlay[2:], torch.tensor(dim))  # group 1 dropped everything


def test_kept_overlay_with_one_frame_per_group():
    frames = torch.full((2, 4, 4, 3), 255, dtype=torch.uint8)
    kept = torch.tensor([[True, True, True, True], [False, False, False, False]])  # LLaVA: a group is one frame
    overlay = kept_overlay(frames, kept, token_grid=(2, 2), frames_per_group=1)
    assert torch.allclose(overlay[0], torch.tensor(1.0)) and torch.allclose(overlay[1], torch.tensor(0.25))
