"""Randomly initialised checkpoints of the real architectures, written offline to a folder.

They load through :func:`vcast_core.load_videollm` exactly like a downloaded checkpoint (config,
safetensors weights, tokenizer, processor configs, chat template), which is what tests and
benchmarks need: random weights are valid for exactness checks against the model's own unpruned
path and for timing, never for answers.

The processor and chat-template files are the published checkpoints' own, copied byte for byte
into ``published/`` (they are facts of those checkpoints): Qwen3-VL-8B-Instruct's (its chat
template, ``preprocessor_config.json`` and ``video_preprocessor_config.json``, from a git mirror of
a checkpoint whose files match it), Qwen2.5-VL-7B-Instruct's (chat template and
``preprocessor_config.json``; it publishes no video processor config, so its image limits of up to
12.8 megapixels a frame apply to video), LLaVA-OneVision's chat template (the one transformers'
conversion script writes), and a Qwen3-VL Thinking chat template (from a third-party copy, not
checked byte for byte against Qwen3-VL-8B-Thinking's). The LLaVA-OneVision video processor config
below is written from the values its checkpoints use.
"""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path

import torch

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# LLaVA-OneVision's checkpoints add its two placeholders to Qwen2's tokenizer.
EXTRA_TOKENS = {"llava_onevision": ("<image>", "<video>")}
PUBLISHED = Path(__file__).with_name("published")
# the published checkpoint whose processor files and chat template a random checkpoint of each type carries
PUBLISHED_FILES = {
    "qwen3_vl": "Qwen3-VL-8B-Instruct",
    "qwen3_vl_moe": "Qwen3-VL-8B-Instruct",
    "qwen2_5_vl": "Qwen2.5-VL-7B-Instruct",
    "llava_onevision": "llava-onevision-qwen2-7b-ov-hf",
}
THINKING_TEMPLATE = PUBLISHED / "Qwen3-VL-8B-Thinking" / "chat_template.jinja"
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
_CORPUS = [
    "system user assistant You are a helpful assistant. Describe the video. What happens in this video?",
    "A person walks a dog across the street, then a car drives past and the camera pans to the left.",
    "Answer with the option's letter from the given choices directly. A B C D yes no 0 1 2 3 4 5 6 7 8 9",
    "<0.5 seconds> <1.0 seconds> <12.5 seconds> seconds, frames, first, then, finally, the end.",
]

# Text width, layers, attention heads, KV heads, MLP width, vision width and depth.
SIZES = {
    "tiny": dict(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, vision_hidden=32, vision_depth=2),
    "small": dict(hidden=512, layers=8, heads=8, kv_heads=4, intermediate=1024, vision_hidden=256, vision_depth=4),
    # the published shapes, for timing and memory with random weights
    "qwen3-vl-2b": dict(
        hidden=2048,
        layers=28,
        heads=16,
        kv_heads=8,
        intermediate=6144,
        vision_hidden=1024,
        vision_depth=24,
        vision_intermediate=4096,
        vision_heads=16,
        vocab=151936,
        tie=True,
        mrope_section=[24, 20, 20],
        deepstack=[5, 11, 17],
        position_embeddings=2304,
    ),
    "qwen3-vl-8b": dict(
        hidden=4096,
        layers=36,
        heads=32,
        kv_heads=8,
        intermediate=12288,
        vision_hidden=1152,
        vision_depth=27,
        vision_intermediate=4304,
        vision_heads=16,
        vocab=151936,
        mrope_section=[24, 20, 20],
        deepstack=[8, 16, 24],
        position_embeddings=2304,
    ),
    "qwen2.5-vl-7b": dict(
        hidden=3584,
        layers=28,
        heads=28,
        kv_heads=4,
        intermediate=18944,
        vision_hidden=1280,
        vision_depth=32,
        vision_intermediate=3420,
        vision_heads=16,
        vocab=152064,
        mrope_section=[16, 24, 24],
        full_attention_blocks=[7, 15, 23, 31],
    ),
    "llava-onevision-7b": dict(  # Qwen2-7B with SigLIP-so400m minus its last layer, as llava-onevision-qwen2-7b-ov-hf
        hidden=3584,
        layers=28,
        heads=28,
        kv_heads=4,
        intermediate=18944,
        vision_hidden=1152,
        vision_depth=26,
        vision_intermediate=4304,
        vision_heads=16,
        vocab=152128,
    ),
}


def write_tokenizer(folder: Path, extra_tokens: tuple[str, ...] = ()):
    """A byte-level BPE tokenizer with Qwen's special tokens (and ``extra_tokens``), trained in code.

    Returns the HF tokenizer.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=[*SPECIAL_TOKENS, *extra_tokens],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS, trainer)
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    try:
        from transformers import Qwen2TokenizerFast as QwenTokenizer  # transformers 4.x
    except ImportError:
        from transformers import Qwen2Tokenizer as QwenTokenizer  # 5.x
    tokenizer = QwenTokenizer(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None, bos_token=None
    )
    tokenizer.save_pretrained(folder)
    return tokenizer


def _token_ids(tokenizer) -> dict:
    names = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    tokens = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    return {name: tokenizer.convert_tokens_to_ids(token) for name, token in zip(names, tokens, strict=True)}


def _text_config(tokenizer, size: dict) -> dict:
    """The language-model settings every family shares."""
    return dict(
        vocab_size=size.get("vocab", len(tokenizer)),
        hidden_size=size["hidden"],
        intermediate_size=size["intermediate"],
        num_hidden_layers=size["layers"],
        num_attention_heads=size["heads"],
        num_key_value_heads=size["kv_heads"],
        max_position_embeddings=32768,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        # wider than the usual 0.02, so that random logits spread over several units as a trained
        # model's do and a wrong position or a dropped DeepStack level shows in them
        initializer_range=0.1,
    )


def _vision_config(size: dict, patch: int) -> dict:
    """The vision-tower settings both Qwen families share."""
    return dict(
        depth=size["vision_depth"],
        hidden_size=size["vision_hidden"],
        intermediate_size=size.get("vision_intermediate", 2 * size["vision_hidden"]),
        num_heads=size.get("vision_heads", max(1, size["vision_hidden"] // 16)),
        out_hidden_size=size["hidden"],
        patch_size=patch,
        spatial_merge_size=2,
        temporal_patch_size=2,
        initializer_range=0.1,
    )


def _qwen2_5_vl_config(tokenizer, size: dict):
    from transformers import Qwen2_5_VLConfig

    head_dim = size["hidden"] // size["heads"]
    eighth, sixteenth = head_dim // 8, head_dim // 16
    sections = size.get("mrope_section", [eighth, 3 * sixteenth, head_dim // 2 - eighth - 3 * sixteenth])
    text = dict(
        _text_config(tokenizer, size),
        rope_theta=1e6,
        rope_scaling={"type": "mrope", "mrope_section": sections},
        bos_token_id=None,
    )
    vision = dict(
        _vision_config(size, patch=14),
        window_size=112,
        fullatt_block_indexes=size.get("full_attention_blocks", [size["vision_depth"] - 1]),
        tokens_per_second=2,
    )
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **_token_ids(tokenizer))


def _qwen3_vl_config(tokenizer, size: dict, moe: bool = False):
    from transformers import Qwen3VLConfig, Qwen3VLMoeConfig
    from transformers.models.qwen3_vl.configuration_qwen3_vl import Qwen3VLTextConfig

    head_dim = size["hidden"] // size["heads"]
    sections = size.get("mrope_section", [head_dim // 2 - 2 * (head_dim // 8), head_dim // 8, head_dim // 8])
    rope = dict(rope_type="default", mrope_section=sections, mrope_interleaved=True)
    fields = set(getattr(Qwen3VLTextConfig, "__dataclass_fields__", ())) | set(
        inspect.signature(Qwen3VLTextConfig.__init__).parameters
    )
    if "rope_parameters" in fields:  # 5.x
        rope_kwargs = dict(rope_parameters=dict(rope, rope_theta=5e6))
    else:
        rope_kwargs = dict(rope_scaling=rope, rope_theta=5e6)
    text = dict(_text_config(tokenizer, size), head_dim=head_dim, **rope_kwargs)
    if moe:  # 30B-A3B shape in miniature: every layer sparse, 8 of 128 experts -> 2 of 4
        text.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=size["intermediate"] // 2)
    vision = dict(
        _vision_config(size, patch=16),
        num_position_embeddings=size.get("position_embeddings", 256),
        deepstack_visual_indexes=size.get("deepstack", list(range(min(3, size["vision_depth"])))),
    )
    config_class = Qwen3VLMoeConfig if moe else Qwen3VLConfig
    tie = dict(tie_word_embeddings=size.get("tie", False))  # 2B ties its output layer to its input embedding
    return config_class(text_config=text, vision_config=vision, **_token_ids(tokenizer), **tie)


def _llava_onevision_config(tokenizer, size: dict):
    from transformers import LlavaOnevisionConfig

    text = dict(_text_config(tokenizer, size), model_type="qwen2", rope_theta=1e6)
    vision = dict(
        model_type="siglip_vision_model",
        hidden_size=size["vision_hidden"],
        intermediate_size=size.get("vision_intermediate", 2 * size["vision_hidden"]),
        num_hidden_layers=size["vision_depth"],
        num_attention_heads=size.get("vision_heads", max(1, size["vision_hidden"] // 16)),
        image_size=384,
        patch_size=14,
        vision_use_head=False,
    )
    return LlavaOnevisionConfig(
        text_config=text,
        vision_config=vision,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )


# LLaVA-OneVision's video processor settings: SigLIP's square input and normalisation, as its checkpoints use.
LLAVA_ONEVISION_VIDEO_PROCESSOR = dict(
    size={"height": 384, "width": 384},
    resample=3,
    rescale_factor=1 / 255,
    image_mean=[0.5] * 3,
    image_std=[0.5] * 3,
    do_resize=True,
    do_rescale=True,
    do_normalize=True,
)


# the files AutoProcessor reads for it: the image processor (the same settings) and the processor's own
LLAVA_ONEVISION_PROCESSOR_FILES = {
    "video_preprocessor_config.json": LLAVA_ONEVISION_VIDEO_PROCESSOR,
    "preprocessor_config.json": dict(
        LLAVA_ONEVISION_VIDEO_PROCESSOR, image_processor_type="LlavaOnevisionImageProcessor"
    ),
    "processor_config.json": dict(
        num_image_tokens=729, vision_feature_select_strategy="full", processor_class="LlavaOnevisionProcessor"
    ),
}


def processor_config(model_type: str) -> dict:
    """The video processor settings a random checkpoint of ``model_type`` carries (as ``load_videollm`` reads them:
    the video processor config, else the image one)."""
    if model_type == "llava_onevision":
        return dict(LLAVA_ONEVISION_VIDEO_PROCESSOR)
    folder = PUBLISHED / PUBLISHED_FILES[model_type]
    for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
        if (folder / name).is_file():
            return json.loads((folder / name).read_text())
    raise FileNotFoundError(f"no processor config in {folder}")


def chat_template(model_type: str, thinking: bool = False) -> str:
    """The chat template a random checkpoint of ``model_type`` carries."""
    if thinking:
        return THINKING_TEMPLATE.read_text()
    return json.loads((PUBLISHED / PUBLISHED_FILES[model_type] / "chat_template.json").read_text())["chat_template"]


CONFIG_BUILDERS = {
    "qwen2_5_vl": _qwen2_5_vl_config,
    "qwen3_vl": _qwen3_vl_config,
    "qwen3_vl_moe": lambda tokenizer, size: _qwen3_vl_config(tokenizer, size, moe=True),
    "llava_onevision": _llava_onevision_config,
}


def write_random_checkpoint(
    folder: str | Path, model_type: str, size: str = "tiny", seed: int = 0, thinking: bool = False
) -> Path:
    """Write a random-weight ``model_type`` checkpoint of preset ``size`` (``SIZES``) to ``folder``, with the
    published checkpoint's processor files and chat template (a Thinking checkpoint's with ``thinking``)."""
    from transformers import AutoModelForImageTextToText

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = write_tokenizer(folder, EXTRA_TOKENS.get(model_type, ()))
    config = CONFIG_BUILDERS[model_type](tokenizer, SIZES[size])
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    model.save_pretrained(folder, safe_serialization=True)
    for path in (PUBLISHED / PUBLISHED_FILES[model_type]).iterdir():
        shutil.copyfile(path, folder / path.name)
    if model_type == "llava_onevision":
        for name, settings in LLAVA_ONEVISION_PROCESSOR_FILES.items():
            (folder / name).write_text(json.dumps(settings, indent=2))
    if thinking:
        (folder / "chat_template.json").unlink()
        shutil.copyfile(THINKING_TEMPLATE, folder / "chat_template.jinja")
    return folder


def random_videollm(model_type: str, size: str = "small", device: str = "cpu", dtype=torch.float32, seed: int = 0):
    """A random-weight model of preset ``size`` built in memory on ``device`` (nothing written), as a ``VideoLLM``."""
    import tempfile

    from transformers import AutoModelForImageTextToText

    from .models import FAMILIES, VideoLLM

    with tempfile.TemporaryDirectory() as folder:
        tokenizer = write_tokenizer(Path(folder), EXTRA_TOKENS.get(model_type, ()))
    config = CONFIG_BUILDERS[model_type](tokenizer, SIZES[size])
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype).eval()
    return VideoLLM(
        model,
        tokenizer,
        processor_config(model_type),
        model_type,
        FAMILIES[model_type],
        f"random {size}",
        None,
        chat_template(model_type),
    )
