"""V-CAST inside vLLM, as a ``vllm.general_plugins`` entry point (``pip install .[vllm]``).

vLLM sizes a video's prompt before its encoder runs, from ``--video-pruning-rate`` and the formula of
``--video-pruning-method`` (``evs``: ``max(P, int(T*P*(1-q)))``; ``vidcom2``: at least one token per frame);
the model then decides which tokens fill it. :func:`register` adds architectures that decide with V-CAST
(:mod:`vcast_core.vllm_models`), chosen per deployment with
``--hf-overrides '{"architectures": ["Qwen3VLVCastForConditionalGeneration"]}'``. It also makes vLLM's CPU
worker run the pruning path, which vLLM 0.32 enables on GPUs only.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

SUPPORTED_VLLM = ((0, 32), (0, 33))  # tested releases: >= 0.32, < 0.33
ARCHITECTURES = {
    "Qwen3VLVCastForConditionalGeneration": "vcast_core.vllm_models:Qwen3VLVCastForConditionalGeneration",
    "Qwen3VLMoeVCastForConditionalGeneration": "vcast_core.vllm_models:Qwen3VLMoeVCastForConditionalGeneration",
    "Qwen2_5_VLVCastForConditionalGeneration": "vcast_core.vllm_models:Qwen2_5_VLVCastForConditionalGeneration",
}


def vllm_release(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def register() -> None:
    """Called by vLLM in every process it starts; registering twice is harmless."""
    import vllm
    from vllm import ModelRegistry

    low, high = SUPPORTED_VLLM
    if not low <= vllm_release(vllm.__version__) < high:
        logger.error(
            "V-CAST's vLLM plugin supports vLLM >= %d.%d, < %d.%d; this is vLLM %s, so its V-CAST architectures "
            "are not registered (install a supported vLLM, or uninstall the plugin)",
            *low,
            *high,
            vllm.__version__,
        )
        return
    for name, target in ARCHITECTURES.items():
        ModelRegistry.register_model(name, target)
    _enable_pruning_on_cpu_workers()


def _enable_pruning_on_cpu_workers() -> None:
    """vLLM 0.32's CPU model runner replaces the GPU runner's ``load_model`` without the lines that switch the
    pruning path on, so every pruned video request fails on the CPU; set the flags the GPU runner sets."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    from vllm.model_executor.models.interfaces import supports_multimodal_pruning
    from vllm.v1.worker.cpu_model_runner import CPUModelRunner

    if getattr(CPUModelRunner.load_model, "vcast_patched", False):
        return
    load_model = CPUModelRunner.load_model

    def load_model_with_pruning(self, *args, **kwargs):
        load_model(self, *args, **kwargs)
        config = self.model_config.multimodal_config
        self.is_multimodal_pruning_enabled = (
            supports_multimodal_pruning(self.get_model())
            and config is not None
            and config.is_multimodal_pruning_enabled()
        )
        self.requires_sequential_video_encoding = hasattr(self.get_model(), "requires_sequential_video_encoding")

    load_model_with_pruning.vcast_patched = True
    CPUModelRunner.load_model = load_model_with_pruning
