"""Where a model's weights go, in what dtype, with which attention kernel and quantization: checked against the
machine before anything is loaded."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch

from ..errors import ModelError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ATTENTIONS = ("auto", "sdpa", "eager", "flash_attention_2")
QUANTIZATIONS = ("none", "8bit", "4bit")  # bitsandbytes int8 and NF4, of the language model's linear layers
BALANCED = "balanced"  # the model spread over every CUDA GPU, and CPU memory when they are full
# bytes a quantized weight takes: int8, or NF4 with one float32 scale per block of 64
QUANTIZED_BYTES = {"8bit": 1.0, "4bit": 0.5 + 4 / 64}


@dataclass(frozen=True)
class Machine:
    """The facts a placement depends on."""

    gpus: int  # CUDA devices torch sees
    bf16: bool  # every one of them supports bfloat16
    flash_attn: bool  # the flash-attn package is installed
    bitsandbytes: bool  # the bitsandbytes package is installed

    @classmethod
    def this(cls) -> Machine:
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return cls(
            gpus=gpus,
            # bfloat16 needs compute capability 8 (Ampere) or later, on every GPU the model may use
            bf16=gpus > 0 and all(torch.cuda.get_device_capability(index)[0] >= 8 for index in range(gpus)),
            flash_attn=importlib.util.find_spec("flash_attn") is not None,
            bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
        )


@dataclass(frozen=True)
class Placement:
    """Where the weights go (one device, or ``device_map="auto"`` over the GPUs), in what dtype, with which
    attention implementation, and quantized how."""

    device_map: dict | str  # {"": device} or "auto"
    dtype: torch.dtype
    attention: str
    quantization: str = "none"

    @property
    def single_device(self) -> torch.device | None:
        return None if self.device_map == "auto" else torch.device(self.device_map[""])


def _device_map(device: str, gpus: int) -> tuple[dict | str, bool]:
    """The device map for ``device``, and whether it puts weights on CUDA."""
    if device == "auto":
        device = "cuda" if gpus else "cpu"
    if device == BALANCED:
        if not gpus:
            raise ModelError("device balanced spreads the model over CUDA GPUs, and this torch sees none; use cpu")
        return "auto", True
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
    return {"": str(target)}, target.type == "cuda"


def placement(device: str, dtype: str, attention: str, quantization: str, machine: Machine) -> Placement:
    """Check the four choices against ``machine``; ModelError says what to use instead."""
    if attention not in ATTENTIONS:
        raise ModelError(f"attention must be one of {', '.join(ATTENTIONS)}; got {attention!r}")
    if quantization not in QUANTIZATIONS:
        raise ModelError(f"quantization must be one of {', '.join(QUANTIZATIONS)}; got {quantization!r}")
    device_map, on_cuda = _device_map(device, machine.gpus)
    if dtype == "auto":
        dtype = ("bfloat16" if machine.bf16 else "float16") if on_cuda else "float32"
    if dtype not in DTYPES:
        raise ModelError(f"dtype must be auto or one of {', '.join(DTYPES)}; got {dtype!r}")
    if dtype == "bfloat16" and on_cuda and not machine.bf16:
        raise ModelError("this GPU does not support bfloat16; use dtype float16 (or auto, which picks it)")
    flash_fits = on_cuda and dtype in ("bfloat16", "float16")
    if attention == "auto":
        attention = "flash_attention_2" if flash_fits and machine.flash_attn else "sdpa"
    if attention == "flash_attention_2" and not flash_fits:
        raise ModelError(
            "flash_attention_2 runs on CUDA GPUs in bfloat16 or float16 only; use attention auto or sdpa, or a CUDA "
            "device with dtype auto"
        )
    if attention == "flash_attention_2" and not machine.flash_attn:
        raise ModelError(
            "attention flash_attention_2 needs the flash-attn package (pip install flash-attn); or use auto"
        )
    if quantization != "none" and not machine.bitsandbytes:
        raise ModelError(f"quantization {quantization} needs bitsandbytes: pip install bitsandbytes (or use none)")
    return Placement(device_map, DTYPES[dtype], attention, quantization)


def attention_choices(machine: Machine) -> list[str]:
    """The attention implementations that can run here (FlashAttention 2 only with a GPU and the package)."""
    return [name for name in ATTENTIONS if name != "flash_attention_2" or (machine.gpus and machine.flash_attn)]
