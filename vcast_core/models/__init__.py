"""Load a video LLM from a local checkpoint folder: offline, safetensors only, no remote code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import MemoryLimitError, ModelError
from . import llava_onevision, qwen2_5_vl, qwen3_vl
from ._hf import load_video_processor
from .chat import read_chat_template
from .checkpoint import check_config_fits_weights, check_folder, check_memory
from .videollm import EncodingStopped, Generation, PromptInputs, VideoLLM

FAMILIES = {
    model_type: family for family in (qwen3_vl, qwen2_5_vl, llava_onevision) for model_type in family.MODEL_TYPES
}
SUPPORTED_MODEL_TYPES = tuple(FAMILIES)
MIN_TRANSFORMERS = (4, 57)
ATTENTIONS = ("sdpa", "eager", "flash_attention_2")


def _check_transformers() -> None:
    import transformers

    version = tuple(int(part) for part in transformers.__version__.split(".")[:2])
    if version < MIN_TRANSFORMERS:
        raise ModelError(
            f"transformers {transformers.__version__} is too old; V-CAST needs transformers >= "
            f"{'.'.join(map(str, MIN_TRANSFORMERS))} (pip install 'transformers>=4.57,<6')"
        )


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
BALANCED = "balanced"  # the model spread over every CUDA GPU, and CPU memory when they are full


@dataclass(frozen=True)
class Placement:
    """Where a model's weights go: one device, or spread over the GPUs (``device_map="auto"``); in what dtype."""

    device_map: dict | str  # {"": device} or "auto"
    dtype: torch.dtype
    attention: str


def _placement(device: str, dtype: str, attention: str, *, gpus: int, bf16: bool) -> Placement:
    """Check ``device``, ``dtype`` and ``attention`` against a machine with ``gpus`` CUDA GPUs (``bf16``: whether
    they all support bfloat16); ModelError says what to use instead."""
    if attention not in ATTENTIONS:
        raise ModelError(f"attention must be one of {', '.join(ATTENTIONS)}; got {attention!r}")
    if device == "auto":
        device = "cuda" if gpus else "cpu"
    if device == BALANCED:
        if not gpus:
            raise ModelError("device balanced spreads the model over CUDA GPUs, and this torch sees none; use cpu")
        on_cuda, device_map = True, "auto"
    else:
        try:
            target = torch.device(device)
        except RuntimeError:
            target = None
        if target is None or target.type not in ("cpu", "cuda"):
            raise ModelError(f"device must be auto, cpu, cuda, cuda:N or {BALANCED}; got {device!r}")
        if target.type == "cuda" and not gpus:
            raise ModelError(f"device {device} was asked for, but this torch sees no CUDA GPU; use device auto or cpu")
        if target.type == "cuda" and (target.index or 0) >= gpus:
            raise ModelError(f"there is no {target}: this machine has {gpus} CUDA device(s), cuda:0 to cuda:{gpus - 1}")
        on_cuda, device_map = target.type == "cuda", {"": str(target)}
    if dtype == "auto":
        dtype = ("bfloat16" if bf16 else "float16") if on_cuda else "float32"
    if dtype not in DTYPES:
        raise ModelError(f"dtype must be auto or one of {', '.join(DTYPES)}; got {dtype!r}")
    if dtype == "bfloat16" and on_cuda and not bf16:
        raise ModelError("this GPU does not support bfloat16; use dtype float16 (or auto, which picks it)")
    if attention == "flash_attention_2" and not (on_cuda and dtype in ("bfloat16", "float16")):
        raise ModelError(
            "flash_attention_2 runs on CUDA GPUs in bfloat16 or float16 only; use attention sdpa, or a CUDA device "
            "with dtype auto"
        )
    return Placement(device_map, DTYPES[dtype], attention)


def _machine_placement(device: str, dtype: str, attention: str) -> Placement:
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    # bfloat16 needs compute capability 8 (Ampere) or later, on every GPU the model may use
    bf16 = gpus > 0 and all(torch.cuda.get_device_capability(index)[0] >= 8 for index in range(gpus))
    return _placement(device, dtype, attention, gpus=gpus, bf16=bf16)


def _free_memory(placement: Placement) -> tuple[int, str]:
    """Bytes free where the weights go, and where that is."""
    import psutil

    host = psutil.virtual_memory().available
    if placement.device_map == "auto":
        gpus = sum(torch.cuda.mem_get_info(index)[0] for index in range(torch.cuda.device_count()))
        return gpus + host, "every GPU and the CPU memory together"
    device = torch.device(placement.device_map[""])
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0], str(device)
    return host, "the CPU memory"


def _load_parts(folder: Path, placement: Placement):
    """The model, straight onto its device(s) in its dtype, its tokenizer and its video processor (None without
    torchvision). Before anything is built: the config must describe the weights and they must fit the memory
    free; after: no weight may be missing or left over. Files that cannot be read raise ModelError."""
    from safetensors import SafetensorError
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        parameters = check_config_fits_weights(folder, config)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        config_path = folder / "config.json"
        raise ModelError(f"{config_path} does not describe a model transformers can build: {first}") from None
    check_memory(folder.name, parameters, placement.dtype, *_free_memory(placement))
    try:
        model, info = AutoModelForImageTextToText.from_pretrained(
            folder,
            config=config,
            dtype=placement.dtype,
            device_map=placement.device_map,
            attn_implementation=placement.attention,
            local_files_only=True,
            use_safetensors=True,
            trust_remote_code=False,
            output_loading_info=True,
        )
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        video_processor = load_video_processor(folder)
    except ImportError as err:  # e.g. flash_attention_2 without the flash-attn package
        raise ModelError(f"loading {folder.name} needs a package that is not installed: {err}") from None
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError, json.JSONDecodeError) as err:
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


def load_videollm(path: str | Path, device: str = "auto", dtype: str = "auto", attention: str = "sdpa") -> VideoLLM:
    """Load the checkpoint in folder ``path`` (``config.json``, safetensors weights, tokenizer, processor config).

    Offline only, safetensors only, no remote code. ``device`` is ``auto`` (the first CUDA GPU when
    there is one, else the CPU), ``cpu``, ``cuda``, ``cuda:N``, or ``balanced``: spread over every
    CUDA GPU, and CPU memory when they are full (for models larger than one GPU). The weights go
    straight to their device, shard by shard, in their dtype: the host never holds a second copy.
    ``dtype`` is ``auto`` (bfloat16 on a CUDA GPU that supports it, else float16; float32 on the
    CPU), ``float32``, ``bfloat16`` or ``float16``; ``attention`` is ``sdpa``, ``eager`` or
    ``flash_attention_2`` (CUDA, 16-bit dtypes).
    """
    folder = Path(path).expanduser()
    model_type, processor_config = check_folder(folder, SUPPORTED_MODEL_TYPES)
    chat_template = read_chat_template(folder)
    _check_transformers()
    placement = _machine_placement(device, dtype, attention)
    try:
        model, tokenizer, video_processor = _load_parts(folder, placement)
    except torch.cuda.OutOfMemoryError as err:  # torch.OutOfMemoryError from torch 2.5 on
        detail = str(err).splitlines()[0]
    else:
        detail = None
    if detail is not None:  # here the failed load's tensors are no longer referenced, so they can be freed
        torch.cuda.empty_cache()
        if placement.device_map == "auto":
            advice = "it does not fit every GPU and the CPU memory together: use a smaller checkpoint"
        else:
            advice = "use device balanced to spread it over every GPU (and CPU memory), or a smaller checkpoint"
        raise MemoryLimitError(f"{folder.name} does not fit in GPU memory at {placement.dtype} ({detail}); {advice}")
    if video_processor is not None:
        processor_config = video_processor.to_dict()  # what transformers read, whichever files the folder holds
    family = FAMILIES[model_type]
    return VideoLLM(model, tokenizer, processor_config, model_type, family, str(folder), video_processor, chat_template)


__all__ = [
    "ATTENTIONS",
    "EncodingStopped",
    "Generation",
    "ModelError",
    "PromptInputs",
    "SUPPORTED_MODEL_TYPES",
    "VideoLLM",
    "load_videollm",
]
