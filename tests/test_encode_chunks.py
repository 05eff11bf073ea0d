"""Encoding in chunks of temporal groups: the same tokens bit for bit, progress, and a clean stop between chunks."""

import pytest
import torch

from vcast_core import InputError, load_video
from vcast_core.models import EncodingStopped
from vcast_core.random_checkpoint import random_videollm


@pytest.fixture(scope="module")
def clip(clip_path):
    return load_video(clip_path, num_frames=12)


@pytest.mark.parametrize("model_type", ["qwen3_vl", "qwen2_5_vl", "llava_onevision"])
def test_chunks_give_the_one_shot_tokens_bit_for_bit(clip, model_type):
    llm = random_videollm(model_type, "tiny")
    whole = llm.encode(clip, groups_per_chunk=0)
    assert whole.frames > 2
    for groups in (1, 2, 5, whole.frames, 100):
        chunked = llm.encode(clip, groups_per_chunk=groups)
        assert chunked.grid == whole.grid and chunked.timestamps == whole.timestamps
        assert torch.equal(chunked.features, whole.features)
        assert len(chunked.deepstack) == len(whole.deepstack)
        assert all(torch.equal(a, b) for a, b in zip(chunked.deepstack, whole.deepstack, strict=True))


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
    assert torch.equal(llm.encode(clip, groups_per_chunk=2).features, reference.features)
    with pytest.raises(InputError, match=r"groups_per_chunk must be an integer in \[0, inf\)"):
        llm.encode(clip, groups_per_chunk=-1)
