"""V-CAST at ratio 1 against transformers' own pipeline on the same checkpoint folder, on the installed version.

transformers' pipeline: ``AutoProcessor`` + ``apply_chat_template`` + the processor on the sampled frames (with
their metadata) + ``model.generate``, greedy. Ours: ``load_video`` -> ``encode`` -> ``prune(1.0)`` -> ``generate``.
The same prompt tokens and the same greedy tokens, for every family, with the published checkpoints' chat
templates (a Thinking one too) and a system prompt. Needs torchvision, as transformers' video processors do;
CI runs it on every transformers version it tests (VCAST_REQUIRE_TORCHVISION makes a missing torchvision fail).
"""

import pytest
import torch
from conftest import torchvision_or_skip, write_square_video

from vcast_core.models import load_videollm
from vcast_core.models.chat import conversation
from vcast_core.random_checkpoint import write_random_checkpoint
from vcast_core.tokens import prune
from vcast_core.video import load_video

PROMPT = "What happens in this video?"
NEW_TOKENS = 8
CASES = {  # id: (model_type, Thinking template, system prompt)
    "qwen3_vl": ("qwen3_vl", False, None),
    "qwen3_vl-thinking": ("qwen3_vl", True, None),
    "qwen3_vl-system": ("qwen3_vl", False, "You describe videos."),
    "qwen3_vl_moe": ("qwen3_vl_moe", False, None),
    "qwen2_5_vl": ("qwen2_5_vl", False, None),
    "qwen2_5_vl-system": ("qwen2_5_vl", False, "You describe videos."),
    "llava_onevision": ("llava_onevision", False, None),
}


@pytest.fixture(scope="module", autouse=True)
def torchvision():
    torchvision_or_skip()


@pytest.fixture(scope="module", params=[("fps", 2.0), ("frames", 6)], ids=["2fps", "6frames"])
def clip(request, tmp_path_factory):
    """A 25 fps clip of 3.2 s, sampled as `run` does by default (2 per second) or by count."""
    path = write_square_video(tmp_path_factory.mktemp("pipeline") / "clip.mp4", frames=80, width=224, height=160)
    how, value = request.param
    return load_video(path, fps=value) if how == "fps" else load_video(path, num_frames=value)


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, tmp_path_factory):
    model_type, thinking, system = CASES[request.param]
    folder = write_random_checkpoint(tmp_path_factory.mktemp(request.param), model_type, thinking=thinking)
    return folder, load_videollm(folder, device="cpu", dtype="float32"), system


def transformers_pipeline(folder, model, clip, system):
    """Prompt ids and greedy tokens from transformers' own processor and generate, as its documentation shows."""
    from transformers import AutoProcessor
    from transformers.video_utils import VideoMetadata

    processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
    text = processor.apply_chat_template(conversation(PROMPT, system), tokenize=False, add_generation_prompt=True)
    sampled = list(clip.indices)
    metadata = VideoMetadata(total_num_frames=clip.source_frames, fps=clip.source_fps, frames_indices=sampled)
    options = dict(videos=[clip.frames.numpy()], video_metadata=[metadata], do_sample_frames=False)
    if not hasattr(VideoMetadata, "sampled_fps"):  # 4.57 takes the sampling rate as an argument
        options["fps"] = clip.sampling_fps or clip.sampled_fps
    inputs = processor(text=[text], return_tensors="pt", **options)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False)
    return inputs["input_ids"][0].tolist(), out[0, inputs["input_ids"].shape[1] :].tolist()


def test_ratio_one_equals_transformers_own_pipeline(case, clip):
    folder, llm, system = case
    their_prompt, their_tokens = transformers_pipeline(folder, llm.model, clip, system)
    token_set = prune(llm.encode(clip), 1.0)
    assert llm.prompt_inputs(token_set, PROMPT, system).input_ids[0].tolist() == their_prompt
    assert llm.generate(token_set, PROMPT, system=system, max_new_tokens=NEW_TOKENS).token_ids == their_tokens
