"""The few transformers calls whose signatures differ between 4.57 and 5.x, behind one interface.

Branches test what the installed classes accept, not the version string, where they can.
"""

from __future__ import annotations

import inspect

import torch
import transformers
from torch import Tensor

TRANSFORMERS_V5 = int(transformers.__version__.split(".")[0]) >= 5


def video_features(model, pixel_values: Tensor, grid_thw: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Run the vision tower once: ``(embeds [N, D], deepstack levels [N, D] each)`` for one video."""
    out = model.model.get_video_features(pixel_values, grid_thw)
    if hasattr(out, "pooler_output"):  # 5.x model outputs
        levels = getattr(out, "deepstack_features", None) or []
        return torch.cat(list(out.pooler_output)), [torch.cat(list(level)) for level in levels]
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], list):  # 4.57 Qwen3-VL
        return torch.cat(list(out[0])), list(out[1])
    return (out if torch.is_tensor(out) else torch.cat(list(out))), []  # 4.57 Qwen2.5-VL


def rope_index(model, input_ids: Tensor, mm_token_type_ids: Tensor, grid_thw: Tensor, **extra) -> Tensor:
    """Position ids ``[3, 1, L]`` of the full sequence from the model's own ``get_rope_index``."""
    accepted = inspect.signature(model.model.get_rope_index).parameters
    kwargs = dict(video_grid_thw=grid_thw, attention_mask=torch.ones_like(input_ids))
    if "mm_token_type_ids" in accepted:
        kwargs["mm_token_type_ids"] = mm_token_type_ids
    kwargs.update({name: value for name, value in extra.items() if name in accepted})
    positions, _ = model.model.get_rope_index(input_ids, **kwargs)
    return positions


def new_cache(model):
    from transformers import DynamicCache

    try:
        return DynamicCache(config=model.model.language_model.config)
    except TypeError:
        return DynamicCache()


def language_model_step(model, embeds, positions, attention_mask, cache, visual_mask=None, deepstack=None):
    """One forward of the language model; returns ``(last-position logits [1, V], cache)``."""
    kwargs = dict(inputs_embeds=embeds, position_ids=positions, attention_mask=attention_mask, use_cache=True)
    kwargs["cache" if TRANSFORMERS_V5 else "past_key_values"] = cache
    if deepstack:
        kwargs.update(visual_pos_masks=visual_mask, deepstack_visual_embeds=deepstack)
    out = model.model.language_model(**kwargs)
    logits = model.lm_head(out.last_hidden_state[:, -1:]).squeeze(1)
    return logits, (out.cache if TRANSFORMERS_V5 else out.past_key_values)


def load_video_processor(folder):
    """The checkpoint's own Hugging Face video processor, or None where torchvision is missing (it needs it)."""
    try:
        import torchvision  # noqa: F401
    except ImportError:
        return None
    from transformers import AutoVideoProcessor

    processor = AutoVideoProcessor.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    if getattr(processor, "cap_pixels_per_frame", False) is None:
        processor.cap_pixels_per_frame = False  # 5.x: keep the uncapped whole-clip budget, without a warning
    return processor


def processor_pixels(processor, frames: Tensor, fps: float, indices) -> tuple[Tensor, tuple[int, int, int] | None]:
    """Pixels and grid from the Hugging Face video processor, for frames already sampled.

    Qwen's processors give pixel rows and ``video_grid_thw``; LLaVA-OneVision's gives frames
    ``[1, T, 3, H, W]`` and no grid (None). ``fps`` and ``indices`` only fill the processor's
    metadata; they do not change the pixels.
    """
    from transformers.video_utils import VideoMetadata

    metadata = VideoMetadata(total_num_frames=len(indices), fps=fps, frames_indices=list(indices))
    out = processor(videos=[frames.numpy()], return_tensors="pt", do_sample_frames=False, video_metadata=[metadata])
    grid = out.get("video_grid_thw")
    return out["pixel_values_videos"], None if grid is None else tuple(int(v) for v in grid[0])
