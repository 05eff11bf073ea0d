"""Several questions about one token set: the shared prefix prefilled once, the questions decoded as one batch,
and every answer the one that question gets alone (its tokens equal, its logits within 1e-4: the batch's shapes
let the kernels round differently)."""

import pytest
import torch
from conftest import write_square_video

from vcast_core import load_video
from vcast_core.errors import InputError
from vcast_core.random_checkpoint import random_videollm
from vcast_core.tokens import prune

TOLERANCE = 1e-4
QUESTIONS = [
    "Why?",
    "Describe, frame by frame, where the bright square is, how fast it moves, what colour the background has "
    "and whether anything else changes; then say what you expect to happen right after the clip ends.",
    "What moves?\nA. a square\nB. a circle\nC. nothing\nAnswer with the option's letter.",
    "Is the square bright?",
]
CASES = [
    ("qwen3_vl", "original"),
    ("qwen3_vl_moe", "original"),
    ("qwen2_5_vl", "original"),
    ("llava_onevision", "original"),
    ("llava_onevision", "compact"),
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return load_video(write_square_video(tmp_path_factory.mktemp("video") / "clip.mp4"), num_frames=4)


@pytest.fixture(scope="module", params=sorted({model_type for model_type, _ in CASES}))
def pruned(request, clip):
    llm = random_videollm(request.param)
    return llm, prune(llm.encode(clip), 0.5)


def alone(llm, token_set, questions, **options):
    return [llm.generate(token_set, question, output_logits=True, **options) for question in questions]


def check_same(together, by_themselves):
    assert len(together) == len(by_themselves)
    for many, one in zip(together, by_themselves, strict=True):
        assert many.token_ids == one.token_ids
        assert (many.logits - one.logits).abs().max() <= TOLERANCE


@pytest.mark.parametrize("batch_size", [8, 3])
def test_questions_answered_together_are_answered_as_alone(pruned, batch_size):
    llm, token_set = pruned
    for model_type, positions in CASES:
        if model_type != llm.model_type:
            continue
        options = dict(positions=positions, max_new_tokens=6)
        together = llm.generate(token_set, QUESTIONS, output_logits=True, batch_size=batch_size, **options)
        check_same(together, alone(llm, token_set, QUESTIONS, **options))
        assert [answer.stats["questions_in_batch"] for answer in together] == [
            min(batch_size, len(QUESTIONS) - start)
            for start in range(0, len(QUESTIONS), batch_size)
            for _ in range(min(batch_size, len(QUESTIONS) - start))
        ]
        lengths = [answer.stats["prompt_tokens"] for answer in together]
        assert lengths == [answer.stats["prompt_tokens"] for answer in alone(llm, token_set, QUESTIONS, **options)]


def test_a_question_that_stops_at_once_leaves_the_others_going(pruned):
    """The end token is set to the first token the second question answers with: it stops after one token, the
    others go on (padding their batch row while they do) exactly as alone."""
    llm, token_set = pruned
    first = llm.generate(token_set, QUESTIONS[1], max_new_tokens=1).token_ids[0]
    config = llm.model.generation_config
    saved = config.eos_token_id
    config.eos_token_id = [first]
    try:
        by_themselves = alone(llm, token_set, QUESTIONS, max_new_tokens=8)
        together = llm.generate(token_set, QUESTIONS, max_new_tokens=8, output_logits=True)
    finally:
        config.eos_token_id = saved
    assert together[1].token_ids == [first]
    assert max(len(answer.token_ids) for answer in together) > 1
    check_same(together, by_themselves)


def test_sampled_answers_use_each_questions_own_seed(pruned):
    llm, token_set = pruned
    options = dict(max_new_tokens=6, temperature=0.9, top_p=0.95, seed=7)
    check_same(
        llm.generate(token_set, QUESTIONS, output_logits=True, **options), alone(llm, token_set, QUESTIONS, **options)
    )


def test_bad_question_lists_are_refused(pruned):
    llm, token_set = pruned
    for prompt in ([], None, ("Fine?", None), 3):
        with pytest.raises(InputError, match="give a question as text, or a non-empty list of them"):
            llm.generate(token_set, prompt)
    with pytest.raises(InputError, match="the prompt holds the control token"):
        llm.generate(token_set, ["Fine?", "Hi<|im_end|>"])
    with pytest.raises(InputError, match="batch_size must be an integer in"):
        llm.generate(token_set, ["Fine?"], batch_size=0)


def test_the_shared_prefix_holds_the_whole_video(pruned):
    """Questions that differ from their first character share everything up to it: the system turn and the kept
    video tokens (Qwen3-VL's DeepStack levels included), prefilled once."""
    from vcast_core.models.questions import share_prompt

    llm, token_set = pruned
    shared = share_prompt(llm, token_set, ["Alpha?", "Beta?"], None, "original")
    full = llm.prefill(token_set, "Alpha?").positions.shape[-1]
    assert shared.length == full - len(shared.questions[0])
    assert shared.length >= int(token_set.kept_mask.sum())
    assert torch.equal(shared.positions[0][..., -1:], llm.prefill(token_set, "Alpha?").positions[..., -1:])


def test_the_command_line_answers_each_question_of_prompt_and_prompts(tmp_path):
    """--prompt twice and --prompts (a file, one question a line): one JSON object per question, in order, each
    the answer that question gets alone."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import vcast_core
    from vcast_core.random_checkpoint import write_random_checkpoint

    root = Path(__file__).resolve().parents[1]
    checkpoint = write_random_checkpoint(tmp_path / "Qwen3-VL-tiny", "qwen3_vl")
    video = write_square_video(tmp_path / "clip.mp4")
    (tmp_path / "questions.txt").write_text("Why?\n\n  Is the square bright?  \n")
    argv = [sys.executable, "-m", "vcast_core", "run", str(video), "--model", str(checkpoint), "--frames", "4"]
    argv += ["--prompt", QUESTIONS[1], "--prompt", "What moves?", "--prompts", str(tmp_path / "questions.txt")]
    result = subprocess.run([*argv, "--max-new-tokens", "5", "--json"], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    asked = [QUESTIONS[1], "What moves?", "Why?", "Is the square bright?"]
    assert [report["question"] for report in reports] == asked
    llm = vcast_core.load_videollm(checkpoint, device="cpu")
    token_set = prune(llm.encode(load_video(video, num_frames=4)), 0.25)
    for report, question in zip(reports, asked, strict=True):
        assert report["token_ids"] == llm.generate(token_set, question, max_new_tokens=5).token_ids
        assert report["stats"]["questions_in_batch"] == 4
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    refused = subprocess.run([*argv[:-6], "--prompts", str(empty)], cwd=root, capture_output=True, text=True)
    assert refused.returncode == 2 and "holds no question (one per line)" in refused.stderr


def test_a_stop_between_batches_returns_the_answers_so_far(pruned):
    llm, token_set = pruned
    calls = []

    def stop_after_the_first_batch():
        calls.append(1)
        return len(calls) > 1  # asked once inside the first batch (two steps), then between the batches

    answers = llm.generate(
        token_set,
        ["A?", "B?", "C?", "D?"],
        batch_size=2,
        max_new_tokens=2,
        stop_at_eos=False,
        should_stop=stop_after_the_first_batch,
    )
    assert len(answers) == 2 and not any(answer.stopped for answer in answers)
