"""8-bit and 4-bit (NF4) loading through bitsandbytes, on the CPU (bitsandbytes >= 0.48 runs both there), and
checkpoints stored quantized. GPUs are exercised by bench/speed.py where one is lent."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import required_or_skip, write_square_video

from vcast_core import load_video
from vcast_core.models import ModelError, load_videollm
from vcast_core.random_checkpoint import write_random_checkpoint
from vcast_core.tokens import prune

ROOT = Path(__file__).resolve().parents[1]


def bitsandbytes_or_skip():
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        required_or_skip("VCAST_REQUIRE_BITSANDBYTES", "bitsandbytes is not installed", "pip install bitsandbytes")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    bitsandbytes_or_skip()
    return write_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "Qwen3-VL-tiny", "qwen3_vl")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return load_video(write_square_video(tmp_path_factory.mktemp("video") / "clip.mp4"), num_frames=4)


@pytest.fixture(scope="module")
def full(checkpoint):
    return load_videollm(checkpoint, device="cpu")


@pytest.mark.parametrize(("quantization", "layer"), [("8bit", "Linear8bitLt"), ("4bit", "Linear4bit")])
def test_the_language_model_is_quantized_and_the_vision_tower_is_not(checkpoint, clip, full, quantization, layer):
    """The language model's linear layers are bitsandbytes layers; the vision tower and the output layer stay as
    they are, so the token set V-CAST prunes is exactly the unquantized model's; the answer still comes."""
    llm = load_videollm(checkpoint, device="cpu", quantization=quantization)
    kinds = {name: type(module).__name__ for name, module in llm.model.named_modules()}
    language = {kind for name, kind in kinds.items() if ".language_model.layers." in name and name.endswith("_proj")}
    vision = {kind for name, kind in kinds.items() if ".visual." in name and "Linear" in kind}
    assert language == {layer} and vision == {"Linear"} and kinds["lm_head"] == "Linear"
    assert llm.quantization == quantization and quantization in repr(llm)
    tokens = llm.encode(clip)
    assert torch.equal(tokens.features, full.encode(clip).features)
    result = llm.generate(prune(tokens, 0.5), "What happens?", max_new_tokens=4)
    assert len(result.token_ids) >= 1


def test_the_memory_estimate_matches_what_loads(checkpoint):
    """What the load checks against free memory is what bitsandbytes allocates (within 2%: its per-layer state)."""
    from transformers import AutoConfig

    from vcast_core.models import qwen3_vl
    from vcast_core.models.checkpoint import describe_model

    shape = describe_model(AutoConfig.from_pretrained(checkpoint), qwen3_vl.FULL_PRECISION_MODULES, checkpoint)
    for quantization in ("none", "8bit", "4bit"):
        model = load_videollm(checkpoint, device="cpu", quantization=quantization).model
        held = model.get_memory_footprint(return_buffers=False)
        assert shape.weight_bytes(torch.float32, quantization) == pytest.approx(held, rel=0.02), quantization


def test_a_checkpoint_stored_quantized_loads_as_it_is(checkpoint, clip, full, tmp_path):
    """A folder saved quantized (bitsandbytes 4-bit here; FP8, AWQ and GPTQ are read the same way): its
    quantization_config is found and the weights load quantized with quantization none; asking to quantize it
    again is refused before loading."""
    quantized = load_videollm(checkpoint, device="cpu", quantization="4bit")
    folder = tmp_path / "stored-4bit"
    quantized.model.save_pretrained(folder)
    for name in checkpoint.iterdir():
        if not (folder / name.name).exists():
            (folder / name.name).write_bytes(name.read_bytes())
    assert json.loads((folder / "config.json").read_text())["quantization_config"]["quant_method"] == "bitsandbytes"
    llm = load_videollm(folder, device="cpu")
    assert type(llm.model.model.language_model.layers[0].mlp.up_proj).__name__ == "Linear4bit"
    assert torch.equal(llm.encode(clip).features, full.encode(clip).features)
    with pytest.raises(ModelError, match=r"is stored quantized \(bitsandbytes\) and loads as it is; use quantization"):
        load_videollm(folder, device="cpu", quantization="8bit")


def test_the_command_line_takes_quantization(checkpoint, tmp_path):
    video = write_square_video(tmp_path / "clip.mp4")
    argv = [sys.executable, "-m", "vcast_core", "run", str(video), "--model", str(checkpoint), "--frames", "4"]
    result = subprocess.run(
        [*argv, "--quantization", "4bit", "--max-new-tokens", "3", "--json"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["stats"]["video_tokens_kept"] > 0 and ", 4bit," in report["model"]
    refused = subprocess.run([*argv, "--quantization", "2bit"], cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 2
    assert "quantization must be one of none, 8bit, 4bit; got '2bit'" in refused.stderr
