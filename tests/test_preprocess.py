"""Our pixels against transformers' own video processors (needs torchvision, as those processors do)."""

import pytest
import torch
from conftest import torchvision_or_skip

from vcast_core.models import llava_onevision, load_videollm, qwen2_5_vl, qwen3_vl
from vcast_core.models.preprocess import fit_pixels
from vcast_core.random_checkpoint import processor_config, write_random_checkpoint
from vcast_core.tokens import MAX_CLIP_PIXELS, MAX_FRAME_PIXELS
from vcast_core.video import VideoClip

FAMILIES = {"qwen3_vl": qwen3_vl, "qwen2_5_vl": qwen2_5_vl, "llava_onevision": llava_onevision}


def random_clip(frames, height, width, seed=0):
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (frames, height, width, 3), dtype=torch.uint8, generator=generator)
    return VideoClip(pixels, tuple(range(frames)), tuple(i / 2 for i in range(frames)), 2.0, frames, "random", "none")


def test_frame_size_rule_by_hand():
    # Qwen2.5-VL, per frame: 224x160 is below 128*28*28 pixels, so it grows to 392x280 (multiples of 28).
    assert fit_pixels(160, 224, 28, min_pixels=128 * 28 * 28, max_pixels=768 * 28 * 28) == (280, 392)
    # Qwen3-VL, whole clip: 64 frames of 1080p exceed 25,165,824 pixels; beta = sqrt(64*1080*1920 / 25165824)
    # = 2.296, and 1080 / beta / 32 = 14.7, 1920 / beta / 32 = 26.1 round down to 14 and 26 patches of 32.
    assert fit_pixels(1080, 1920, 32, 4096, 25165824, frames=64, budget_frames=64) == (448, 832)
    assert fit_pixels(160, 224, 32, 4096, 25165824, frames=8, budget_frames=8) == (160, 224)


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def checkpoint(request, tmp_path_factory):
    return request.param, write_random_checkpoint(tmp_path_factory.mktemp(request.param), request.param)


@pytest.mark.parametrize(
    ("frames", "height", "width"), [(8, 160, 224), (8, 280, 392), (7, 150, 200), (4, 360, 640), (3, 1080, 1920)]
)
def test_pixels_equal_the_hugging_face_processor(checkpoint, frames, height, width):
    """With the published checkpoints' processor files: Qwen2.5-VL's image limits (up to 12.8 megapixels a
    frame, as it publishes no video config), Qwen3-VL's whole-clip budget."""
    torchvision_or_skip()
    from vcast_core.models._hf import load_video_processor, processor_pixels

    model_type, folder = checkpoint
    config, family = processor_config(model_type), FAMILIES[model_type]
    clip = random_clip(frames, height, width)
    for limits in ((MAX_FRAME_PIXELS, MAX_CLIP_PIXELS), (2**40, 2**40)):  # ours, and the checkpoint's alone
        size = family.pixel_size(config, frames, *limits)
        ours, grid = family.pixel_values(clip, config, size)
        processor = load_video_processor(folder)
        theirs, their_grid = processor_pixels(processor, clip.frames, clip.source_fps, clip.indices, size)
        assert grid == their_grid
        assert torch.equal(ours, theirs)  # bit for bit, resized or not


def test_encode_uses_the_hugging_face_processor_where_torchvision_is_installed(checkpoint):
    torchvision_or_skip()
    _, folder = checkpoint
    llm = load_videollm(folder, device="cpu")
    assert llm.pixel_source == "transformers"
    clip = random_clip(8, 150, 200)
    hf_pixels = llm.pixel_values(clip)
    llm.video_processor = None  # the torchvision-free path of the same model
    assert llm.pixel_source == "torch"
    ours = llm.pixel_values(clip)
    assert ours[1] == hf_pixels[1] and torch.equal(ours[0], hf_pixels[0])
