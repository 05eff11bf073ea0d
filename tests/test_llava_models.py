"""Pruned prefill and generation on a tiny random LLaVA-OneVision checkpoint, against the class's own paths."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import write_square_video

from vcast_core.models import load_videollm
from vcast_core.random_checkpoint import write_random_checkpoint
from vcast_core.tokens import prune
from vcast_core.video import load_video

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "What happens in this video?"
FRAMES = 8


@pytest.fixture(scope="module")
def video_path(tmp_path_factory):
    return write_square_video(tmp_path_factory.mktemp("llava") / "clip.mp4", frames=40, width=224, height=160)


@pytest.fixture(scope="module")
def video_clip(video_path):
    return load_video(video_path, num_frames=FRAMES, backend="pyav")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_random_checkpoint(tmp_path_factory.mktemp("llava") / "LLaVA-OneVision-tiny", "llava_onevision")


@pytest.fixture(scope="module")
def llm(checkpoint):
    return load_videollm(checkpoint, device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def token_set(llm, video_clip):
    return llm.encode(video_clip)


def own_inputs(llm, clip, token_set):
    """The class's own forward/generate inputs for the unpruned prompt."""
    full = llm.prompt_inputs(token_set, PROMPT)
    pixels, _ = llm.family.pixel_values(clip, llm.processor_config)
    return dict(input_ids=full.input_ids, attention_mask=torch.ones_like(full.input_ids), pixel_values_videos=pixels)


def kept_sequence(full, token_set):
    """bool [L]: the prompt positions that stay, text and the image newline included."""
    keep = torch.ones_like(full.video_mask[0])
    keep[full.video_mask[0]] = token_set.kept_mask.reshape(-1)
    return keep


def oracle_logits(llm, token_set, new_tokens=(), decode_from=None):
    """Last-position logits of the full sequence (then ``new_tokens``) with dropped video tokens masked out.

    The prompt keeps its original positions 0..L-1; new tokens continue from ``decode_from`` (default L).
    """
    full = llm.prompt_inputs(token_set, PROMPT)
    length = full.input_ids.shape[1]
    attention_mask = torch.ones(1, length + len(new_tokens), dtype=torch.long)
    attention_mask[0, :length][full.video_mask[0]] = token_set.kept_mask.reshape(-1).long()
    start = length if decode_from is None else decode_from
    positions = torch.cat([torch.arange(length), torch.arange(start, start + len(new_tokens))])[None]
    with torch.inference_mode():
        new = llm.model.get_input_embeddings()(torch.tensor([list(new_tokens)], dtype=torch.long))
        embeds = torch.cat([full.embeds, new], dim=1)
        hidden = llm.model.model.language_model(
            inputs_embeds=embeds, position_ids=positions, attention_mask=attention_mask, use_cache=False
        ).last_hidden_state
        return llm.model.lm_head(hidden[:, -1])


def test_token_set_holds_each_frames_pooled_tokens(llm, token_set, video_clip):
    vision = llm.model.config.vision_config
    assert (vision.image_size, vision.patch_size) == (384, 14)  # SigLIP's 27x27 patches, as the checkpoints
    assert token_set.features.shape == (FRAMES, 196, llm.hidden_size)  # 2x2 bilinear pooling: 27 -> 14 per side
    assert token_set.grid == (FRAMES, 27, 27) and token_set.token_grid == (14, 14)
    assert token_set.frames_per_group == 1 and token_set.deepstack == ()
    assert token_set.timestamps == video_clip.timestamps and token_set.frame_indices == video_clip.indices


def test_the_image_newline_is_one_kept_token_after_the_last_frame(llm, token_set):
    pruned = prune(token_set, 0.25)
    full = llm.prompt_inputs(pruned, PROMPT)
    placeholders = full.input_ids[0] == llm.model.config.video_token_id
    newline = int(placeholders.nonzero().max())
    assert int(placeholders.sum()) == FRAMES * 196 + 1 and int(full.video_mask.sum()) == FRAMES * 196
    assert not full.video_mask[0, newline] and full.video_mask[0, placeholders.nonzero()[:-1, 0]].all()
    assert torch.equal(full.embeds[0, newline], llm.model.model.image_newline.detach())
    state = llm.prefill(pruned, PROMPT)
    assert newline in state.positions[0].tolist()  # kept, at its original position


@pytest.mark.parametrize("positions", ["original", "compact"])
def test_ratio_one_logits_equal_the_models_own_forward(llm, token_set, video_clip, positions):
    ours = llm.prefill(prune(token_set, 1.0), PROMPT, positions=positions).logits
    with torch.inference_mode():
        theirs = llm.model(**own_inputs(llm, video_clip, token_set)).logits[:, -1]
    assert (ours - theirs).abs().max() <= 1e-5


@pytest.mark.parametrize("positions", ["original", "compact"])
def test_ratio_one_tokens_and_logits_equal_the_models_own_generate(llm, token_set, video_clip, positions):
    ours = llm.generate(prune(token_set, 1.0), PROMPT, positions=positions, max_new_tokens=8, output_logits=True)
    inputs = own_inputs(llm, video_clip, token_set)
    with torch.inference_mode():
        out = llm.model.generate(
            **inputs, max_new_tokens=8, do_sample=False, output_logits=True, return_dict_in_generate=True
        )
    assert ours.token_ids == out.sequences[0, inputs["input_ids"].shape[1] :].tolist()
    assert len(ours.logits) == len(out.logits)
    assert max((step[0] - mine).abs().max() for step, mine in zip(out.logits, ours.logits, strict=True)) <= 1e-5


@pytest.mark.parametrize(("allocator", "selector"), [("curvature", "dual_anchor"), ("uniform", "random")])
def test_pruned_prefill_matches_the_masked_attention_oracle(llm, token_set, allocator, selector):
    pruned = prune(token_set, 0.3, allocator, selector)
    ours = llm.prefill(pruned, PROMPT).logits
    assert (ours - oracle_logits(llm, pruned)).abs().max() <= 1e-4


def test_pruned_decoding_continues_from_the_last_original_position(llm, token_set):
    pruned = prune(token_set, 0.3)
    ours = llm.generate(pruned, PROMPT, max_new_tokens=5, stop_at_eos=False, output_logits=True)
    tokens = ours.token_ids
    oracle = [oracle_logits(llm, pruned, tokens[:step]) for step in range(len(tokens))]
    assert max((mine - theirs[0]).abs().max() for mine, theirs in zip(ours.logits, oracle, strict=True)) <= 1e-4
    kept = llm.prefill(pruned, PROMPT).positions.shape[-1]
    shifted = [oracle_logits(llm, pruned, tokens[:step], decode_from=kept) for step in range(1, len(tokens))]
    assert max((mine - theirs[0]).abs().max() for mine, theirs in zip(ours.logits[1:], shifted, strict=True)) > 1e-2


def test_compact_positions_equal_the_model_run_on_the_shortened_prompt(llm, token_set):
    pruned = prune(token_set, 0.3)
    full = llm.prompt_inputs(pruned, PROMPT)
    embeds = full.embeds[:, kept_sequence(full, pruned)]
    ours = llm.generate(pruned, PROMPT, positions="compact", max_new_tokens=5, output_logits=True)
    with torch.inference_mode():  # the class numbers a prompt given as embeddings 0..L'-1 itself
        out = llm.model.generate(
            inputs_embeds=embeds,
            attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long),
            max_new_tokens=5,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
        )
    assert ours.token_ids == out.sequences[0].tolist()
    assert max((step[0] - mine).abs().max() for step, mine in zip(out.logits, ours.logits, strict=True)) <= 1e-5
    assert (ours.logits[0] - oracle_logits(llm, pruned)[0]).abs().max() > 1e-2  # not the original positions


def test_kept_tokens_carry_their_original_or_compact_positions(llm, token_set):
    pruned = prune(token_set, 0.25)
    full = llm.prompt_inputs(pruned, PROMPT)
    keep = kept_sequence(full, pruned)
    original = llm.prefill(pruned, PROMPT).positions
    assert torch.equal(original, torch.arange(full.input_ids.shape[1])[keep][None])
    assert original.shape[-1] == full.input_ids.shape[1] - int((~pruned.kept_mask).sum())
    compact = llm.prefill(pruned, PROMPT, positions="compact").positions
    assert torch.equal(compact, torch.arange(original.shape[-1])[None])


def test_generation_leaves_the_model_as_it_was(llm, token_set, video_clip):
    inputs = own_inputs(llm, video_clip, token_set)
    forwards = {cls: cls.forward for cls in type(llm.model).__mro__ if "forward" in vars(cls)}
    with torch.inference_mode():
        before = llm.model(**inputs).logits
    llm.generate(prune(token_set, 0.25), PROMPT, max_new_tokens=3, positions="compact")
    with torch.inference_mode():
        after = llm.model(**inputs).logits
    assert torch.equal(before, after)
    assert forwards == {cls: cls.forward for cls in type(llm.model).__mro__ if "forward" in vars(cls)}


def test_what_does_not_fit_is_refused(llm, token_set, video_clip):
    with pytest.raises(ValueError, match="encoded by a qwen3_vl model"):
        llm.generate(replace(token_set, model_type="qwen3_vl"), PROMPT, max_new_tokens=1)
    with pytest.raises(ValueError, match="positions must be one of 'original', 'compact'; got 'renumbered'"):
        llm.prefill(token_set, PROMPT, positions="renumbered")
    small = dict(llm.processor_config, size={"height": 336, "width": 336})
    pixels, _ = llm.family.pixel_values(video_clip, small)
    with pytest.raises(ValueError, match="takes 384x384: set that size"):
        llm.family.vision_tokens(llm.model, pixels)
    with pytest.raises(ValueError, match="expects {'height', 'width'}"):
        llm.family.pixel_values(video_clip, dict(small, size={"shortest_edge": 384}))


def test_command_line_with_compact_positions(checkpoint, video_path):
    argv = [sys.executable, "-m", "vcast_core", "run", str(video_path), "--model", str(checkpoint), "--frames", "4"]
    result = subprocess.run(
        [*argv, "--positions", "compact", "--max-new-tokens", "3", "--json"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["stats"]["video_tokens_total"] == 4 * 196 and len(report["kept_per_frame"]) == 4
    assert report["stats"]["video_tokens_kept"] == round(0.25 * 4 * 196)
