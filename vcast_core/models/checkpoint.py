"""A checkpoint folder checked before anything is built from it: its files, its settings, and whether its config
fits its weights and the memory at hand."""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import MemoryLimitError, ModelError
from .placement import QUANTIZED_BYTES


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


@dataclass(frozen=True)
class ModelShape:
    """What a config describes, counted on the meta device (nothing allocated)."""

    parameters: int
    embedding: int  # the input embedding's size (a checkpoint may store a tied output layer again)
    quantizable: int  # parameters in the linear layers quantization converts
    quantized_as: str | None  # the method of a checkpoint stored quantized (fp8, awq, gptq, bitsandbytes...)
    stored_bytes: int = 0  # the safetensors files' size

    def weight_bytes(self, dtype: torch.dtype, quantization: str) -> int:
        """Memory the weights take once loaded in ``dtype`` and ``quantization``."""
        if self.quantized_as:
            return self.stored_bytes
        element = torch.empty((), dtype=dtype).element_size()
        if quantization == "none":
            return self.parameters * element
        quantized = QUANTIZED_BYTES[quantization] * self.quantizable
        return int(quantized + (self.parameters - self.quantizable) * element)


def describe_model(config, full_precision: tuple[str, ...], folder: Path | None = None) -> ModelShape:
    """The config's model, with the linear layers outside ``full_precision`` (module name prefixes) and the output
    layer counted as quantizable, and the size of the weights in ``folder``."""
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    output = model.get_output_embeddings()
    quantizable = sum(
        module.weight.numel()
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
        and module is not output
        and not any(name == prefix or name.startswith(prefix + ".") for prefix in full_precision)
    )
    quantization = getattr(config, "quantization_config", None)
    method = quantization.get("quant_method") if isinstance(quantization, dict) else None
    return ModelShape(
        parameters=sum(p.numel() for p in model.parameters()),
        embedding=model.get_input_embeddings().weight.numel(),
        quantizable=quantizable,
        quantized_as=(str(method) if method else "quantized") if quantization is not None else None,
        stored_bytes=sum(path.stat().st_size for path in folder.glob("*.safetensors")) if folder else 0,
    )


def check_config_fits_weights(folder: Path, config, full_precision: tuple[str, ...]) -> ModelShape:
    """The model's shape, once the config is shown to describe the weights on disk (within a tied embedding and
    1%); ModelError naming config.json otherwise. Quantized checkpoints store packed weights and scales, so their
    count is not compared (the load itself checks every tensor)."""
    shape = describe_model(config, full_precision, folder)
    described, embedding = shape.parameters, shape.embedding
    stored = stored_parameters(folder)
    fits = described - embedding - described // 100 <= stored <= described + embedding + described // 100
    if not (fits or shape.quantized_as):
        raise ModelError(
            f"{folder / 'config.json'} describes a model of {described:,} parameters, but the weights hold "
            f"{stored:,}: the config does not belong to these weights; download the checkpoint again"
        )
    return shape


def check_memory(name: str, need: int, what: str, free_bytes: int, where: str) -> None:
    """MemoryLimitError when the weights alone (``need`` bytes, loaded as ``what``) need more than ``free_bytes``
    of ``where``."""
    if need > free_bytes:
        raise MemoryLimitError(
            f"{name} needs {need / 2**30:.1f} GiB for its weights in {what}; {where} has {free_bytes / 2**30:.1f} GiB "
            "free. Use a smaller checkpoint, quantization 8bit or 4bit, a 16-bit dtype, or device balanced to spread "
            "it over several GPUs"
        )
