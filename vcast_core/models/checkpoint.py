"""A checkpoint folder checked before anything is built from it: its files, its settings, and whether its config
fits its weights and the memory at hand."""

from __future__ import annotations

import json
import numbers
from pathlib import Path

import torch

from ..errors import MemoryLimitError, ModelError


def read_json(path: Path) -> dict:
    """A JSON object from ``path``; ModelError naming the file when it is unreadable or not an object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ModelError(f"{path} is not readable JSON: {err}") from None
    if not isinstance(value, dict):
        raise ModelError(f"{path} holds a JSON {type(value).__name__}, not the object of settings it should")
    return value


def check_folder(folder: Path, supported: tuple[str, ...]) -> tuple[str, dict]:
    """The folder's model_type and video processor settings, or a ModelError naming what is wrong."""
    if not folder.is_dir():
        raise ModelError(
            f"model folder {folder} does not exist; download a checkpoint into it, e.g. "
            f"hf download Qwen/Qwen3-VL-2B-Instruct --local-dir {folder}"
        )
    if not (folder / "config.json").is_file():
        raise ModelError(f"{folder} has no config.json: it is not a Hugging Face model folder")
    model_type = read_json(folder / "config.json").get("model_type")
    if model_type not in supported:
        raise ModelError(f"{folder} holds a {model_type!r} model; supported model types: {', '.join(supported)}")
    if not any(folder.glob("*.safetensors")):
        found = "only pickle .bin weights" if any(folder.glob("*.bin")) else "no weights"
        raise ModelError(
            f"{folder} has {found}; V-CAST loads .safetensors weights only (pickle files can run code). "
            "Download the safetensors version of the checkpoint."
        )
    if not (folder / "tokenizer.json").is_file() and not (folder / "vocab.json").is_file():
        raise ModelError(f"{folder} has no tokenizer (tokenizer.json or vocab.json); download the full checkpoint")
    path, settings = video_processor_config(folder)
    check_processor_settings(path, settings, model_type)
    return model_type, settings


def video_processor_config(folder: Path) -> tuple[Path, dict]:
    """The file and the video processor's settings: ``video_preprocessor_config.json``, else the image processor's
    ``preprocessor_config.json`` (Qwen2.5-VL publishes no video config), else the ``video_processor`` section of
    the single ``processor_config.json`` that transformers 5.x saves. Where transformers' own video processor
    loads (with torchvision), its settings are used instead, so both pixel paths agree."""
    for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
        if (folder / name).is_file():
            return folder / name, read_json(folder / name)
    if (folder / "processor_config.json").is_file():
        nested = read_json(folder / "processor_config.json").get("video_processor")
        if isinstance(nested, dict):
            return folder / "processor_config.json", nested
    raise ModelError(
        f"{folder} has no video processor settings (video_preprocessor_config.json, preprocessor_config.json, or a "
        "processor_config.json with a video_processor section); download the full checkpoint"
    )


def _positive_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def check_processor_settings(path: Path, settings: dict, model_type: str) -> None:
    """The settings the pixel paths read are present and usable: positive sizes, three normalisation values with
    no zero spread."""
    if model_type.startswith("qwen"):
        for key in ("patch_size", "merge_size", "temporal_patch_size"):
            if not _positive_int(settings.get(key)):
                raise ModelError(f"{path}: {key} is {settings.get(key)!r}; it must be a positive integer")
        size = settings.get("size") or {}
        low = settings.get("min_pixels") or size.get("shortest_edge")
        high = settings.get("max_pixels") or size.get("longest_edge")
        if not (_positive_int(low) and _positive_int(high)):
            raise ModelError(f"{path}: the pixel bounds (size or min/max_pixels) are {low!r} and {high!r}")
    else:
        size = settings.get("size") or {}
        if not (_positive_int(size.get("height")) and _positive_int(size.get("width"))):
            raise ModelError(f"{path}: size is {size!r}; it must give a positive height and width")
    for key in ("image_mean", "image_std"):
        values = settings.get(key)
        if not (isinstance(values, list) and len(values) == 3 and all(isinstance(v, int | float) for v in values)):
            raise ModelError(f"{path}: {key} is {values!r}; it must be three numbers")
    if any(v == 0 for v in settings["image_std"]):
        raise ModelError(f"{path}: image_std holds 0, which would divide by zero")


def stored_parameters(folder: Path) -> int:
    """Numbers held by the folder's safetensors files, read from their headers (nothing is loaded)."""
    from safetensors import SafetensorError, safe_open

    total = 0
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(path, framework="pt") as handle:
                for key in handle.keys():
                    shape = handle.get_slice(key).get_shape()
                    count = 1
                    for side in shape:
                        count *= side
                    total += count
        except (SafetensorError, OSError) as err:
            raise ModelError(f"{path} is not a readable .safetensors file ({err}); download it again") from None
    return total


def described_parameters(config) -> tuple[int, int]:
    """Parameters the config describes, counted on the meta device (nothing allocated), and the size of the
    input embedding (a checkpoint may store a tied output layer again)."""
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    return sum(p.numel() for p in model.parameters()), model.get_input_embeddings().weight.numel()


def check_config_fits_weights(folder: Path, config) -> int:
    """The number of parameters, once the config is shown to describe the weights on disk (within a tied
    embedding and 1%); ModelError naming config.json otherwise."""
    described, embedding = described_parameters(config)
    stored = stored_parameters(folder)
    if not described - embedding - described // 100 <= stored <= described + embedding + described // 100:
        raise ModelError(
            f"{folder / 'config.json'} describes a model of {described:,} parameters, but the weights hold "
            f"{stored:,}: the config does not belong to these weights; download the checkpoint again"
        )
    return described


def check_memory(name: str, parameters: int, dtype: torch.dtype, free_bytes: int, where: str) -> None:
    """MemoryLimitError when the weights alone need more than ``free_bytes`` of ``where``."""
    need = parameters * torch.empty((), dtype=dtype).element_size()
    if need > free_bytes:
        raise MemoryLimitError(
            f"{name} needs {need / 2**30:.1f} GiB for its weights in {dtype}; {where} has {free_bytes / 2**30:.1f} "
            "GiB free. Use a smaller checkpoint, a 16-bit dtype, or device balanced to spread it over several GPUs"
        )
