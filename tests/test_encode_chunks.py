"""Encoding in chunks of temporal groups: the same tokens, progress, and a clean stop between chunks.

The same tokens up to float32 rounding: the vision tower attends within one temporal group, but the
matrix kernels a CPU picks depend on the batch's shape, so other chunk sizes may round differently
(measured on an AMD EPYC: at most 1.4e-6 on Qwen3-VL tokens of size 3, with chunks of 1 and 5 groups;
Qwen2.5-VL and LLaVA-OneVision equal bit for bit there; a Xeon gave 0 for every family).
"""

import pytest
import torch

from vcast_core import InputError, load_video
from vcast_core.models import EncodingStopped
from vcast_core.random_checkpoint import random_videollm


@pytest.fixture(scope="module")
def clip(clip_path):
    return load_video(clip_path, num_frames=12)


@pytest.mark.parametrize("model_type", ["qwen3_vl", "qwen2_5_vl", "llava_onevision"])
def test_chunks_give_the_one_shot_tokens(clip, model_type):
    llm = random_videollm(model_type, "tiny")
    whole = llm.encode(clip, groups_per_chunk=0)
    assert whole.frames > 2
    for groups in (1, 2, 5, whole.frames, 100):
        chunked = llm.encode(clip, groups_per_chunk=groups)
        assert chunked.grid == whole.grid and chunked.timestamps == whole.timestamps
        torch.testing.assert_close(chunked.features, whole.features, rtol=1e-5, atol=1e-5)
        assert len(chunked.deepstack) == len(whole.deepstack)
        for level, level_whole in zip(chunked.deepstack, whole.deepstack, strict=True):
            torch.testing.assert_close(level, level_whole, rtol=1e-5, atol=1e-5)


def test_progress_and_a_stop_between_chunks_leave_the_model_as_it_was(clip):
    llm = random_videollm("qwen3_vl", "tiny")
    reference = llm.encode(clip, groups_per_chunk=0)
    progress = []
    llm.encode(clip, groups_per_chunk=4, on_chunk=lambda done, total: progress.append((done, total)))
    assert progress == [(4, 6), (6, 6)]
    with pytest.raises(EncodingStopped, match="encoding stopped after 4 of 6 temporal groups"):
        llm.encode(
            clip, groups_per_chunk=2, should_stop=lambda: len(progress) >= 4, on_chunk=lambda *d: progress.append(d)
        )
    torch.testing.assert_close(llm.encode(clip, groups_per_chunk=2).features, reference.features, rtol=1e-5, atol=1e-5)
    with pytest.raises(InputError, match=r"groups_per_chunk must be an integer in \[0, inf\)"):
        llm.encode(clip, groups_per_chunk=-1)
