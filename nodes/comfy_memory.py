"""A loaded VideoLLM whose memory ComfyUI manages like its own models': loaded to the GPU when a node uses it,
moved to the CPU when another model needs the room, freed by ComfyUI's "Unload models"."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TypeVar

import comfy.model_management as management
import comfy.model_patcher
import torch

from ..vcast_core.models import VideoLLM
from ..vcast_core.models.placement import Placement

Result = TypeVar("Result")


class _Weights(torch.nn.Module):
    """The Hugging Face model as one module ComfyUI can move (the model's own ``device`` cannot be set)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model


_patchers: weakref.WeakKeyDictionary[VideoLLM, comfy.model_patcher.ModelPatcher] = weakref.WeakKeyDictionary()


def make_room(need: int, where: Placement) -> None:
    """Ask ComfyUI to unload models until ``need`` bytes (and its working reserve) are free where the weights go."""
    every_gpu = [torch.device("cuda", index) for index in range(torch.cuda.device_count())]
    devices = [where.single_device] if where.single_device else every_gpu
    for device in devices:
        management.free_memory(need + management.minimum_inference_memory(), device)


def register(llm: VideoLLM) -> None:
    """Hand ``llm``'s weights to ComfyUI's model management, where they can move: one device, not quantized by
    bitsandbytes (whose layers cannot move). Models spread over GPUs or quantized stay where they loaded."""
    device = llm.placement.single_device
    if device is None or llm.placement.quantization != "none":
        return
    offload = management.text_encoder_offload_device() if device.type == "cuda" else device
    weights = _Weights(llm.model)
    weights.device = device
    tensors = {id(t): t for t in (*llm.model.parameters(), *llm.model.buffers())}.values()  # tied weights once
    size = sum(t.numel() * t.element_size() for t in tensors)
    patcher = comfy.model_patcher.ModelPatcher(weights, load_device=device, offload_device=offload, size=size)
    _patchers[llm] = patcher
    management.load_models_gpu([patcher], force_full_load=True)  # already there: this only books it


def _load(llm: VideoLLM) -> None:
    patcher = _patchers.get(llm)
    if patcher is not None:
        management.load_models_gpu([patcher], force_full_load=True)


def run(llm: VideoLLM, work: Callable[[], Result]) -> Result:
    """``work()`` with ``llm`` loaded where it runs; when the device runs out of memory, ComfyUI unloads its other
    models and ``work()`` runs once more (a second out-of-memory goes to ComfyUI, which unloads everything)."""
    _load(llm)
    try:
        return work()
    except management.OOM_EXCEPTION:
        pass
    patcher = _patchers.get(llm)
    keep = [management.LoadedModel(patcher)] if patcher is not None else []
    management.free_memory(float("inf"), llm.device, keep_loaded=keep)
    management.soft_empty_cache()
    _load(llm)
    return work()
