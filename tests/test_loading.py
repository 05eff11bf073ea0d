"""load_videollm refuses what it cannot load safely, saying what is wrong and how to fix it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import damaged_copy, write_square_video

from vcast_core.errors import MemoryLimitError
from vcast_core.models import ModelError, load_videollm
from vcast_core.models.placement import Machine, attention_choices, placement
from vcast_core.random_checkpoint import write_random_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "Qwen3-VL-tiny", "qwen3_vl")


def test_loads_the_right_class_offline(checkpoint):
    llm = load_videollm(checkpoint, device="cpu")
    assert type(llm.model).__name__ == "Qwen3VLForConditionalGeneration"
    assert llm.model.dtype.is_floating_point and llm.device.type == "cpu"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (dict(remove=["config.json"]), "has no config.json"),
        (dict(config={"model_type": "llama"}), r"'llama' model; supported model types: qwen3_vl, qwen3_vl_moe, qwen"),
        (dict(remove=["*.safetensors"]), "has no weights; V-CAST loads .safetensors weights only"),
        (dict(remove=["tokenizer.json", "vocab.json", "merges.txt"]), "has no tokenizer"),
        (dict(remove=["*preprocessor_config.json"]), "has no video processor settings"),
        (dict(remove=["chat_template.json"]), "has no chat template"),
    ],
)
def test_broken_folders_are_refused(checkpoint, tmp_path, damage, message):
    with pytest.raises(ModelError, match=message):
        load_videollm(damaged_copy(checkpoint, tmp_path / "model", **damage), device="cpu")


def rewrite_json(path, change):
    value = json.loads(path.read_text())
    path.write_text(json.dumps(change(value)))


def rewrite_weights(folder, change):
    from safetensors.torch import load_file, save_file

    weights = folder / "model.safetensors"
    tensors = load_file(weights)
    change(tensors)
    save_file(tensors, weights, metadata={"format": "pt"})


def grown(config):
    config["text_config"]["intermediate_size"] *= 2
    return config


MODEL_FOLDER_CASES = {  # the folder's damage, and what the error must say
    "config is a JSON list": (lambda f: (f / "config.json").write_text("[1, 2]"), r"config.json holds a JSON list"),
    "config is a stub": (  # transformers 5.x builds a default-size model from it; 4.57 cannot build one at all
        lambda f: (f / "config.json").write_text('{"model_type": "qwen3_vl"}'),
        r"config.json (describes a model of [\d,]+ parameters, but the weights hold [\d,]+|does not describe a model "
        r"transformers can build)",
    ),
    "config with other sizes": (
        lambda f: rewrite_json(f / "config.json", grown),
        r"config.json describes a model of [\d,]+ parameters, but the weights hold",
    ),
    "a tensor missing": (
        lambda f: rewrite_weights(f, lambda t: t.pop(next(k for k in t if k.endswith("mlp.down_proj.weight")))),
        r"the weights in .* lack 1 tensor\(s\) the config describes",
    ),
    "an extra tensor": (
        lambda f: rewrite_weights(f, lambda t: t.update({"model.language_model.extra.weight": torch.zeros(64)})),
        r"the weights in .* hold extra 1 tensor\(s\)",
    ),
    "processor config is a list": (
        lambda f: (f / "video_preprocessor_config.json").write_text("[]"),
        "video_preprocessor_config.json holds a JSON list",
    ),
    "patch size 0": (
        lambda f: rewrite_json(f / "video_preprocessor_config.json", lambda c: dict(c, patch_size=0)),
        "video_preprocessor_config.json: patch_size is 0; it must be a positive integer",
    ),
    "zero spread": (
        lambda f: rewrite_json(f / "video_preprocessor_config.json", lambda c: dict(c, image_std=[0.5, 0, 0.5])),
        "image_std holds 0",
    ),
}


@pytest.mark.parametrize("case", sorted(MODEL_FOLDER_CASES))
def test_a_damaged_model_folder_is_a_model_error_naming_the_file(checkpoint, tmp_path, case):
    damage, message = MODEL_FOLDER_CASES[case]
    folder = damaged_copy(checkpoint, tmp_path / "model")
    damage(folder)
    with pytest.raises(ModelError, match=message):
        load_videollm(folder, device="cpu")


def test_weights_larger_than_the_free_memory_are_refused_before_anything_is_built(checkpoint):
    from vcast_core.models.checkpoint import check_memory

    with pytest.raises(MemoryLimitError, match=r"needs 29.8 GiB for its weights in torch.float32; the CPU memory has"):
        check_memory("Qwen3-VL-8B", 8_000_000_000 * 4, "torch.float32", 16 * 2**30, "the CPU memory")
    check_memory("Qwen3-VL-8B", 8_000_000_000 * 2, "torch.bfloat16", 16 * 2**30, "the CPU memory")  # 14.9 GiB fits


def test_weight_memory_counts_quantized_linear_layers_at_their_size(checkpoint):
    """8-bit: one byte a quantized weight; 4-bit NF4: half a byte plus a float32 scale per 64; the vision tower,
    embeddings, norms and output layer stay in the dtype."""
    from transformers import AutoConfig

    from vcast_core.models import qwen3_vl
    from vcast_core.models.checkpoint import describe_model

    shape = describe_model(AutoConfig.from_pretrained(checkpoint), qwen3_vl.FULL_PRECISION_MODULES, checkpoint)
    model = load_videollm(checkpoint, device="cpu").model
    language_linear = sum(
        module.weight.numel()
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and ".language_model." in f".{name}."
    )
    assert shape.parameters == sum(p.numel() for p in model.parameters())
    assert shape.quantizable == language_linear > 0 and shape.quantized_as is None
    rest = shape.parameters - language_linear
    assert shape.weight_bytes(torch.bfloat16, "none") == shape.parameters * 2
    assert shape.weight_bytes(torch.bfloat16, "8bit") == language_linear + rest * 2
    assert shape.weight_bytes(torch.bfloat16, "4bit") == int(language_linear * (0.5 + 4 / 64) + rest * 2)


def test_a_folder_saved_by_transformers_5_with_one_nested_processor_config_loads(checkpoint, tmp_path):
    folder = damaged_copy(checkpoint, tmp_path / "model", remove=["*preprocessor_config.json", "chat_template.json"])
    video = json.loads((checkpoint / "video_preprocessor_config.json").read_text())
    image = json.loads((checkpoint / "preprocessor_config.json").read_text())
    nested = {"image_processor": image, "video_processor": video, "processor_class": "Qwen3VLProcessor"}
    (folder / "processor_config.json").write_text(json.dumps(nested))
    template = json.loads((checkpoint / "chat_template.json").read_text())["chat_template"]
    (folder / "chat_template.jinja").write_text(template)
    llm = load_videollm(folder, device="cpu")
    assert dict(llm.processor_config["size"]) == video["size"] and llm.chat_template == template


def test_pickle_weights_are_refused(checkpoint, tmp_path):
    folder = damaged_copy(checkpoint, tmp_path / "model", remove=["*.safetensors"])
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ModelError, match="only pickle .bin weights"):
        load_videollm(folder, device="cpu")


def test_missing_folder_says_where_a_checkpoint_goes(tmp_path):
    with pytest.raises(ModelError, match="does not exist; download a checkpoint into it, e.g. hf download"):
        load_videollm(tmp_path / "models" / "LLM" / "absent")


def test_old_transformers_is_named_with_the_minimum(checkpoint, monkeypatch):
    # the module object in sys.modules now, which transformers can swap after the first import
    monkeypatch.setattr(sys.modules["transformers"], "__version__", "4.56.2")
    with pytest.raises(ModelError, match=r"transformers 4.56.2 is too old; V-CAST needs transformers >= 4.57"):
        load_videollm(checkpoint, device="cpu")


@pytest.mark.parametrize(("option", "message"), [("dtype", "dtype must be auto or one of"), ("attention", "attention")])
def test_bad_options(checkpoint, option, message):
    with pytest.raises(ModelError, match=message):
        load_videollm(checkpoint, **{option: "bogus"})


def machine(gpus=0, bf16=False, flash_attn=False, bitsandbytes=True) -> Machine:
    return Machine(gpus=gpus, bf16=bf16, flash_attn=flash_attn, bitsandbytes=bitsandbytes)


@pytest.mark.parametrize(
    ("device", "dtype", "attention", "facts", "expected"),
    [
        ("auto", "auto", "sdpa", machine(), ({"": "cpu"}, torch.float32, "sdpa")),
        ("auto", "auto", "auto", machine(), ({"": "cpu"}, torch.float32, "sdpa")),
        ("auto", "auto", "sdpa", machine(2, True), ({"": "cuda"}, torch.bfloat16, "sdpa")),
        ("auto", "auto", "auto", machine(2, True), ({"": "cuda"}, torch.bfloat16, "sdpa")),  # no flash-attn
        ("auto", "auto", "auto", machine(1, True, True), ({"": "cuda"}, torch.bfloat16, "flash_attention_2")),
        ("auto", "float32", "auto", machine(1, True, True), ({"": "cuda"}, torch.float32, "sdpa")),
        ("cpu", "auto", "auto", machine(1, True, True), ({"": "cpu"}, torch.float32, "sdpa")),
        ("auto", "auto", "sdpa", machine(1), ({"": "cuda"}, torch.float16, "sdpa")),  # no bfloat16 (a T4, a V100)
        (
            "cuda:1",
            "auto",
            "flash_attention_2",
            machine(2, True, True),
            ({"": "cuda:1"}, torch.bfloat16, "flash_attention_2"),
        ),
        ("balanced", "float16", "sdpa", machine(4, True), ("auto", torch.float16, "sdpa")),
        ("cpu", "bfloat16", "eager", machine(1, True), ({"": "cpu"}, torch.bfloat16, "eager")),
    ],
)
def test_placement_on_a_machine(device, dtype, attention, facts, expected):
    """Where the weights go, in what dtype, with which attention, for the machine's facts (no GPU needed)."""
    where = placement(device, dtype, attention, "none", facts)
    assert (where.device_map, where.dtype, where.attention) == expected


@pytest.mark.parametrize(
    ("device", "dtype", "attention", "quantization", "facts", "message"),
    [
        ("cuda", "auto", "sdpa", "none", machine(), "this torch sees no CUDA GPU; use device auto or cpu"),
        ("cuda:2", "auto", "sdpa", "none", machine(2, True), "there is no cuda:2: this machine has 2 CUDA device"),
        ("balanced", "auto", "sdpa", "none", machine(), "device balanced spreads the model over CUDA GPUs"),
        ("tpu", "auto", "sdpa", "none", machine(), "device must be auto, cpu, cuda, cuda:N or balanced"),
        ("cuda", "bfloat16", "sdpa", "none", machine(1), "this GPU does not support bfloat16; use dtype float16"),
        ("cpu", "auto", "flash_attention_2", "none", machine(), "flash_attention_2 runs on CUDA GPUs in bfloat16"),
        ("cuda", "float32", "flash_attention_2", "none", machine(1, True, True), "flash_attention_2 runs on CUDA"),
        ("cuda", "auto", "flash_attention_2", "none", machine(1, True), "needs the flash-attn package"),
        ("cpu", "auto", "sdpa", "4bit", machine(bitsandbytes=False), "quantization 4bit needs bitsandbytes: pip"),
        ("cpu", "auto", "sdpa", "3bit", machine(), "quantization must be one of none, 8bit, 4bit; got '3bit'"),
    ],
)
def test_placements_that_cannot_work_are_refused_with_advice(device, dtype, attention, quantization, facts, message):
    with pytest.raises(ModelError, match=message):
        placement(device, dtype, attention, quantization, facts)


def test_flash_attention_is_offered_only_where_it_can_run():
    assert attention_choices(machine()) == ["auto", "sdpa", "eager"]
    assert attention_choices(machine(1, True, flash_attn=False)) == ["auto", "sdpa", "eager"]
    assert attention_choices(machine(1, True, flash_attn=True)) == ["auto", "sdpa", "eager", "flash_attention_2"]


def test_out_of_memory_while_loading_says_what_to_do(checkpoint, monkeypatch):
    """A fault injected where a GPU would run out of memory (no GPU here): MemoryLimitError, not a raw error."""
    import vcast_core.models as models

    def exhausted(*_):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(models, "_load_parts", exhausted)
    advice = r"does not fit in GPU memory .* use quantization 8bit or 4bit, device balanced"
    with pytest.raises(MemoryLimitError, match=advice):
        load_videollm(checkpoint, device="cpu")


def test_flash_attention_on_this_cpu_is_refused_before_loading(checkpoint):
    with pytest.raises(ModelError, match="flash_attention_2 runs on CUDA GPUs"):
        load_videollm(checkpoint, device="cpu", attention="flash_attention_2")
    assert load_videollm(checkpoint, device="cpu", attention="auto").placement.attention == "sdpa"


def test_command_line_end_to_end(checkpoint, tmp_path):
    video = write_square_video(tmp_path / "clip.mp4", frames=30, width=128, height=96)
    argv = [sys.executable, "-m", "vcast_core", "run", str(video), "--model", str(checkpoint), "--frames", "8"]
    result = subprocess.run([*argv, "--max-new-tokens", "4", "--json"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    stats = report["stats"]
    assert stats["video_tokens_kept"] == round(0.25 * stats["video_tokens_total"]) == sum(report["kept_per_frame"])
    assert stats["new_tokens"] == len(report["token_ids"]) <= 4 and len(report["kept_per_frame"]) == 4
    assert isinstance(report["text"], str)
    text = subprocess.run(argv + ["--ratio", "0.5"], cwd=ROOT, capture_output=True, text=True)
    assert text.returncode == 0 and "video tokens kept:" in text.stdout
    failed = subprocess.run(argv + ["--ratio", "2"], cwd=ROOT, capture_output=True, text=True)
    assert failed.returncode == 2 and failed.stderr.startswith("error: ratio must be a number in (0, 1]")
    compact = subprocess.run(argv + ["--positions", "compact"], cwd=ROOT, capture_output=True, text=True)
    assert compact.returncode == 2 and "error: positions='compact' renumbers a 1-D RoPE sequence" in compact.stderr
    no_video = [*argv[:4], str(tmp_path / "none.mp4"), *argv[5:]]
    missing = subprocess.run(no_video, cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
