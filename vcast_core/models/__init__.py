"""Load a video LLM from a local checkpoint folder: offline, safetensors only, no remote code."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import ModelError
from . import llava_onevision, qwen2_5_vl, qwen3_vl
from ._hf import load_video_processor
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
    for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
        if (folder / name).is_file():
            return model_type, _read_json(folder / name)
    raise ModelError(
        f"{folder} has no video_preprocessor_config.json or preprocessor_config.json; download the full checkpoint"
    )


def _check_transformers() -> None:
    import transformers

    version = tuple(int(part) for part in transformers.__version__.split(".")[:2])
    if version < MIN_TRANSFORMERS:
        raise ModelError(
            f"transformers {transformers.__version__} is too old; V-CAST needs transformers >= "
            f"{'.'.join(map(str, MIN_TRANSFORMERS))} (pip install 'transformers>=4.57,<6')"
        )


def _resolve(device: str, dtype: str) -> tuple[torch.device, torch.dtype]:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ModelError(f"device must be auto, cpu or cuda[:n]; got {device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError("device cuda was asked for, but this torch sees no CUDA GPU; use device auto or cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ModelError(f"there is no {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type not in ("cpu", "cuda"):
        raise ModelError(f"device must be auto, cpu or cuda[:n]; got {device}")
    if dtype == "auto":
        return device, torch.bfloat16 if device.type == "cuda" else torch.float32
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in dtypes:
        raise ModelError(f"dtype must be auto or one of {', '.join(dtypes)}; got {dtype!r}")
    return device, dtypes[dtype]


def load_videollm(path: str | Path, device: str = "auto", dtype: str = "auto", attention: str = "sdpa") -> VideoLLM:
    """Load the checkpoint in folder ``path`` (``config.json``, safetensors weights, tokenizer, processor config).

    Offline only, safetensors only, no remote code. ``device`` is ``auto`` (CUDA when present),
    ``cpu`` or ``cuda[:n]``; ``dtype`` is ``auto`` (bfloat16 on CUDA, float32 on the CPU),
    ``float32``, ``bfloat16`` or ``float16``; ``attention`` is ``sdpa``, ``eager`` or
    ``flash_attention_2``.
    """
    folder = Path(path).expanduser()
    model_type, processor_config = _check_folder(folder)
    _check_transformers()
    if attention not in ATTENTIONS:
        raise ModelError(f"attention must be one of {', '.join(ATTENTIONS)}; got {attention!r}")
    torch_device, torch_dtype = _resolve(device, dtype)
    from safetensors import SafetensorError
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    try:
        model = AutoModelForImageTextToText.from_pretrained(
            folder,
            dtype=torch_dtype,
            attn_implementation=attention,
            local_files_only=True,
            use_safetensors=True,
            trust_remote_code=False,
        )
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        video_processor = load_video_processor(folder)
    except ImportError as err:  # e.g. flash_attention_2 without the flash-attn package
        raise ModelError(f"loading {folder.name} needs a package that is not installed: {err}") from None
    except (OSError, ValueError, KeyError, SafetensorError, json.JSONDecodeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(
            f"{folder} could not be loaded ({first}); its files may be incomplete or damaged: download the "
            "checkpoint again"
        ) from None
    model = model.to(torch_device).eval()
    family = FAMILIES[model_type]
    return VideoLLM(model, tokenizer, processor_config, model_type, family, str(folder), video_processor)


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
