"""Load a video LLM from a local checkpoint folder: offline, safetensors only, no remote code."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import DeviceOutOfMemoryError, ModelError
from . import llava_onevision, qwen2_5_vl, qwen3_vl
from ._hf import load_video_processor
from .chat import read_chat_template
from .checkpoint import ModelShape, check_config_fits_weights, check_folder, check_memory
from .placement import ATTENTIONS, QUANTIZATIONS, Machine, Placement, placement
from .videollm import EncodingStopped, Generation, PromptInputs, VideoLLM

FAMILIES = {
    model_type: family for family in (qwen3_vl, qwen2_5_vl, llava_onevision) for model_type in family.MODEL_TYPES
}
SUPPORTED_MODEL_TYPES = tuple(FAMILIES)
MIN_TRANSFORMERS = (4, 57)


def _check_transformers() -> None:
    import transformers

    version = tuple(int(part) for part in transformers.__version__.split(".")[:2])
    if version < MIN_TRANSFORMERS:
        raise ModelError(
            f"transformers {transformers.__version__} is too old; V-CAST needs transformers >= "
            f"{'.'.join(map(str, MIN_TRANSFORMERS))} (pip install 'transformers>=4.57,<6')"
        )


def _free_memory(where: Placement) -> tuple[int, str]:
    """Bytes free where the weights go, and where that is."""
    import psutil

    host = psutil.virtual_memory().available
    device = where.single_device
    if device is None:
        gpus = sum(torch.cuda.mem_get_info(index)[0] for index in range(torch.cuda.device_count()))
        return gpus + host, "every GPU and the CPU memory together"
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0], str(device)
    return host, "the CPU memory"


def _quantization_config(where: Placement, family):
    """bitsandbytes settings for ``where.quantization``: the language model's linear layers only, so that the
    vision tokens V-CAST scores are the unquantized model's."""
    if where.quantization == "none":
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_8bit=where.quantization == "8bit",
        load_in_4bit=where.quantization == "4bit",
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=where.dtype,
        llm_int8_skip_modules=[*family.FULL_PRECISION_MODULES, "lm_head"],
    )


def read_shape(folder: Path, family, where: Placement | None = None) -> tuple[object, ModelShape]:
    """The folder's config and the shape it describes, checked against its weights (and, given ``where``, against
    the quantization asked for); ModelError naming config.json when transformers cannot build it."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        shape = check_config_fits_weights(folder, config, family.FULL_PRECISION_MODULES)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(
            f"{folder / 'config.json'} does not describe a model transformers can build: {first}"
        ) from None
    if where is not None and shape.quantized_as and where.quantization != "none":
        raise ModelError(
            f"{folder.name} is stored quantized ({shape.quantized_as}) and loads as it is; use quantization none"
        )
    return config, shape


def _load_parts(folder: Path, family, where: Placement, make_room: Callable[[int, Placement], None] | None):
    """The model, straight onto its device(s) in its dtype, its tokenizer and its video processor (None without
    torchvision). Before anything is built: the config must describe the weights and they must fit the memory
    free (after ``make_room(bytes, where)`` had the chance to free some); after: no weight may be missing or left
    over. Files that cannot be read raise ModelError."""
    from safetensors import SafetensorError
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    config, shape = read_shape(folder, family, where)
    need = shape.weight_bytes(where.dtype, where.quantization)
    if make_room is not None:
        make_room(need, where)
    what = shape.quantized_as or (where.quantization if where.quantization != "none" else str(where.dtype))
    check_memory(folder.name, need, what, *_free_memory(where))
    try:
        model, info = AutoModelForImageTextToText.from_pretrained(
            folder,
            config=config,
            dtype=where.dtype,
            device_map=where.device_map,
            attn_implementation=where.attention,
            quantization_config=_quantization_config(where, family),
            local_files_only=True,
            use_safetensors=True,
            trust_remote_code=False,
            output_loading_info=True,
        )
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        video_processor = load_video_processor(folder)
    except ImportError as err:  # e.g. an AWQ or GPTQ checkpoint without its kernels package
        raise ModelError(f"loading {folder.name} needs a package that is not installed: {err}") from None
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError, json.JSONDecodeError) as err:
        if isinstance(err, torch.cuda.OutOfMemoryError):
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(
            f"{folder} could not be loaded ({first}); its files may be incomplete or damaged: download the "
            "checkpoint again"
        ) from None
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        names = sorted(str(name) for name in info.get(kind) or ())
        if names:
            what = {"missing_keys": "lack", "unexpected_keys": "hold extra", "mismatched_keys": "have other shapes for"}
            raise ModelError(
                f"the weights in {folder} {what[kind]} {len(names)} tensor(s) the config describes (e.g. "
                f"{names[0]}); they do not belong to this config.json: download the checkpoint again"
            )
    return model.eval(), tokenizer, video_processor


def load_videollm(
    path: str | Path,
    device: str = "auto",
    dtype: str = "auto",
    attention: str = "auto",
    quantization: str = "none",
    *,
    make_room: Callable[[int, Placement], None] | None = None,
) -> VideoLLM:
    """Load the checkpoint in folder ``path`` (``config.json``, safetensors weights, tokenizer, processor config).

    Offline only, safetensors only, no remote code. ``device`` is ``auto`` (the first CUDA GPU when
    there is one, else the CPU), ``cpu``, ``cuda``, ``cuda:N``, or ``balanced``: spread over every
    CUDA GPU, and CPU memory when they are full (for models larger than one GPU). The weights go
    straight to their device, shard by shard, in their dtype: the host never holds a second copy.
    ``dtype`` is ``auto`` (bfloat16 on a CUDA GPU that supports it, else float16; float32 on the
    CPU), ``float32``, ``bfloat16`` or ``float16``. ``attention`` is ``auto`` (FlashAttention 2
    where it is installed and can run: a CUDA GPU and a 16-bit dtype; else ``sdpa``), ``sdpa``,
    ``eager`` or ``flash_attention_2``. ``quantization`` is ``none``, ``8bit`` or ``4bit`` (NF4):
    the language model's linear layers quantized by bitsandbytes as they load; checkpoints stored
    quantized (FP8, AWQ, GPTQ, bitsandbytes) load as they are, with ``none``. ``make_room(bytes,
    placement)`` is called before the weights' memory is checked, so that a host (ComfyUI) can free
    memory for them.
    """
    folder = Path(path).expanduser()
    model_type, processor_config = check_folder(folder, SUPPORTED_MODEL_TYPES)
    chat_template = read_chat_template(folder)
    _check_transformers()
    where = placement(device, dtype, attention, quantization, Machine.this())
    family = FAMILIES[model_type]
    try:
        model, tokenizer, video_processor = _load_parts(folder, family, where, make_room)
    except torch.cuda.OutOfMemoryError as err:  # torch.OutOfMemoryError from torch 2.5 on
        detail = str(err).splitlines()[0]
    else:
        detail = None
    if detail is not None:  # here the failed load's tensors are no longer referenced, so they can be freed
        torch.cuda.empty_cache()
        if where.single_device is None:
            advice = "it does not fit every GPU and the CPU memory together: use quantization or a smaller checkpoint"
        else:
            advice = (
                "use quantization 8bit or 4bit, device balanced to spread it over every GPU (and CPU memory), or a "
                "smaller checkpoint"
            )
        raise DeviceOutOfMemoryError(f"{folder.name} does not fit in GPU memory at {where.dtype} ({detail}); {advice}")
    if video_processor is not None:
        processor_config = video_processor.to_dict()  # what transformers read, whichever files the folder holds
    return VideoLLM(
        model,
        tokenizer,
        processor_config,
        model_type,
        family,
        str(folder),
        video_processor,
        chat_template,
        placement=where,
    )


__all__ = [
    "ATTENTIONS",
    "QUANTIZATIONS",
    "EncodingStopped",
    "Generation",
    "ModelError",
    "PromptInputs",
    "SUPPORTED_MODEL_TYPES",
    "VideoLLM",
    "load_videollm",
]
