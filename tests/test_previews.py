import numpy as np
import pytest
import torch

from vcast_core.previews import BUDGET_COLOR, LINE, SIGNAL_COLOR, budget_chart, kept_overlay

HEADER = 2 * LINE + 4  # the kept-patch frames' two title lines


def colour_mask(image: torch.Tensor, colour: tuple[int, int, int]) -> np.ndarray:
    pixels = (image.numpy() * 255).round().astype(int)
    return np.abs(pixels - np.array(colour)).max(axis=-1) <= 1


def test_budget_chart_is_a_readable_picture_of_the_budget():
    budget, signal = torch.tensor([30, 15, 0, 15]), torch.tensor([1.0, 0.0, 2.0, 1.0])
    chart = budget_chart(budget, tokens_per_frame=40, signal=signal, title="curvature allocator, ratio 0.375")
    assert chart.shape == (1, 320, 640, 3) and 0 <= chart.min() and chart.max() <= 1
    bars = colour_mask(chart[0], BUDGET_COLOR)[50:]  # below the title and the legend
    bottom = max(np.nonzero(bars.any(axis=1))[0]) + 1
    heights = [bottom - np.argmax(bars[:, x]) if bars[:, x].any() else 0 for x in (125, 258, 390, 523)]  # mid-bar
    assert heights[0] > 0 and heights[2] == 0 and abs(heights[1] - heights[3]) <= 1
    assert abs(heights[0] / heights[1] - 2) < 0.05  # bar height is proportional to the budget
    assert colour_mask(chart[0], SIGNAL_COLOR).sum() > 200  # the signal's line, axis name and legend


def test_budget_chart_without_signal_or_budget():
    chart = budget_chart(torch.tensor([0, 0]), tokens_per_frame=8, width=512, height=256)
    assert chart.shape == (1, 256, 512, 3)
    assert colour_mask(chart[0], SIGNAL_COLOR).sum() == 0  # no signal: no orange


@pytest.mark.parametrize("width", [512, 256])
def test_kept_overlay_dims_dropped_patches_of_their_group(width):
    frames = torch.full((4, 8, 8, 3), 200, dtype=torch.uint8)
    kept = torch.tensor([[True, False, False, True], [False, False, False, False]])  # 2 groups on a 2x2 token grid
    overlay = kept_overlay(frames, kept, token_grid=(2, 2), frames_per_group=2, title="test", width=width)
    assert overlay.shape == (4, HEADER + width, width, 3)
    pixels = overlay[:, HEADER:]
    bright, dim, half = 200 / 255, round(200 * 0.25) / 255, width // 2
    for frame in (0, 1):  # group 0: top-left and bottom-right kept
        assert torch.allclose(pixels[frame, :half, :half], torch.tensor(bright))
        assert torch.allclose(pixels[frame, half:, half:], torch.tensor(bright))
        assert torch.allclose(pixels[frame, :half, half:], torch.tensor(dim))
        assert torch.allclose(pixels[frame, half:, :half], torch.tensor(dim))
    assert torch.allclose(pixels[2:], torch.tensor(dim))  # group 1 dropped everything
    assert (overlay[:, :HEADER] > 0.5).flatten(1).any(dim=1).all()  # each frame has a title line in light text


def test_kept_overlay_with_one_frame_per_group():
    frames = torch.full((2, 4, 4, 3), 255, dtype=torch.uint8)
    kept = torch.tensor([[True, True, True, True], [False, False, False, False]])  # LLaVA: a group is one frame
    overlay = kept_overlay(frames, kept, token_grid=(2, 2), frames_per_group=1, width=64)
    assert torch.allclose(overlay[0, HEADER:], torch.tensor(1.0))
    assert torch.allclose(overlay[1, HEADER:], torch.tensor(round(255 * 0.25) / 255))
