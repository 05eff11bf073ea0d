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
from .videollm import EncodingStopped, Generation, PromptInputs, VideoLLM

FAMILIES = {
    model_type: family for family in (qwen3_vl, qwen2_5_vl, llava_onevision) for model_type in family.MODEL_TYPES
}
SUPPORTED_MODEL_TYPES = tuple(FAMILIES)
MIN_TRANSFORMERS = (4, 57)
ATTENTIONS = ("sdpa", "eager", "flash_attention_2")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ModelError(f"{path} is not readable JSON: {err}") from None


def _check_folder(folder: Path) -> tuple[str, dict]:
    """The folder's model_type and video processor configuration, or a ModelError naming what is wrong."""
    if not folder.is_dir():
        raise ModelError(
            f"model folder {folder} does not exist; download a checkpoint into it, e.g. "
            f"hf download Qwen/Qwen3-VL-2B-Instruct --local-dir {folder}"
        )
    if not (folder / "config.json").is_file():
        raise ModelError(f"{folder} has no config.json: it is not a Hugging Face model folder")
    model_type = _read_json(folder / "config.json").get("model_type")
    if model_type not in FAMILIES:
        raise ModelError(
            f"{folder} holds a {model_type!r} model; supported model types: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    if not any(folder.glob("*.safetensors")):
        found = "only pickle .bin weights" if any(folder.glob("*.bin")) else "no weights"
        raise ModelError(
            f"{folder} has {found}; V-CAST loads .safetensors weights only (pickle files can run code). "
            "Download the safetensors version of the checkpoint."
        )
    if not (folder / "tokenizer.json").is_file() and not (folder / "vocab.json").is_file():
        raise ModelError(f"{folder} has no tokenizer (tokenizer.json or vocab.json); download the full checkpoint")
    return model_type, _video_processor_config(folder)


def _video_processor_config(folder: Path) -> dict:
    """The video processor's settings: ``video_preprocessor_config.json``, else the image processor's
    ``preprocessor_config.json`` (Qwen2.5-VL publishes no video config), else the ``video_processor`` section of
    the single ``processor_config.json`` that transformers 5.x saves. Where transformers' own video processor
    loads (with torchvision), its settings are used instead, so both pixel paths agree."""
    for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
        if (folder / name).is_file():
            return _read_json(folder / name)
    if (folder / "processor_config.json").is_file():
        nested = _read_json(folder / "processor_config.json").get("video_processor")
        if isinstance(nested, dict):
            return nested
    raise ModelError(
        f"{folder} has no video processor settings (video_preprocessor_config.json, preprocessor_config.json, or a "
        "processor_config.json with a video_processor section); download the full checkpoint"
    )


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


def _load_parts(folder: Path, placement: Placement):
    """The model, straight onto its device(s) in its dtype, its tokenizer and its video processor (None without
    torchvision); files that cannot be read raise ModelError."""
    from safetensors import SafetensorError
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    try:
        model = AutoModelForImageTextToText.from_pretrained(
            folder,
            dtype=placement.dtype,
            device_map=placement.device_map,
            attn_implementation=placement.attention,
            local_files_only=True,
            use_safetensors=True,
            trust_remote_code=False,
        )
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        return model.eval(), tokenizer, load_video_processor(folder)
    except ImportError as err:  # e.g. flash_attention_2 without the flash-attn package
        raise ModelError(f"loading {folder.name} needs a package that is not installed: {err}") from None
    except (OSError, ValueError, KeyError, SafetensorError, json.JSONDecodeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(
            f"{folder} could not be loaded ({first}); its files may be incomplete or damaged: download the "
            "checkpoint again"
        ) from None


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
    model_type, processor_config = _check_folder(folder)
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
