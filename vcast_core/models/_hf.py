"""The few transformers calls whose signatures differ between 4.57 and 5.x, behind one interface.

Branches test what the installed classes accept, never the version string.
"""

from __future__ import annotations

import inspect

import torch
from torch import Tensor


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


def cache_name(language_model) -> str:
    """What the language model calls its KV cache, in its arguments and its output: ``cache`` from 5.24 on,
    ``past_key_values`` before (5.0 to 5.23 silently ignore a ``cache`` argument)."""
    return "cache" if "cache" in inspect.signature(language_model.forward).parameters else "past_key_values"


def language_model_step(model, embeds, positions, attention_mask, cache, visual_mask=None, deepstack=None, last=None):
    """One forward of the language model; returns ``(logits [B, V], cache)``: at the last position, or at index
    ``last[b]`` of each row ``b``."""
    language_model = model.model.language_model
    name = cache_name(language_model)
    kwargs = dict(inputs_embeds=embeds, position_ids=positions, attention_mask=attention_mask, use_cache=True)
    kwargs[name] = cache
    if deepstack:
        kwargs.update(visual_pos_masks=visual_mask, deepstack_visual_embeds=deepstack)
    out = language_model(**kwargs)
    hidden = out.last_hidden_state
    rows = torch.arange(len(hidden), device=hidden.device)
    picked = hidden[:, -1:] if last is None else hidden[rows, last.to(hidden.device)][:, None]
    return model.lm_head(picked).squeeze(1), out[name]


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


def processor_pixels(
    processor, frames: Tensor, fps: float, indices, size: dict | None = None
) -> tuple[Tensor, tuple[int, int, int] | None]:
    """Pixels and grid from the Hugging Face video processor, for frames already sampled, within ``size``.

    Qwen's processors give pixel rows and ``video_grid_thw``; LLaVA-OneVision's gives frames
    ``[1, T, 3, H, W]`` and no grid (None). ``fps`` and ``indices`` only fill the processor's
    metadata; they do not change the pixels.
    """
    from transformers.video_utils import VideoMetadata

    metadata = VideoMetadata(total_num_frames=len(indices), fps=fps, frames_indices=list(indices))
    options = {} if size is None else {"size": size}
    out = processor(
        videos=[frames.numpy()], return_tensors="pt", do_sample_frames=False, video_metadata=[metadata], **options
    )
    grid = out.get("video_grid_thw")
    return out["pixel_values_videos"], None if grid is None else tuple(int(v) for v in grid[0])


def qwen3_vl_keeps_outer_vision_tokens() -> bool:
    """Whether the installed Qwen3-VL processor keeps the chat template's outer ``<|vision_start|>`` and
    ``<|vision_end|>`` around the per-group blocks it writes for a video (5.10 on: it only replaces the
    ``<|video_pad|>``, through its own ``replace_video_token``), or replaces that outer pair (before)."""
    from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor

    return "replace_video_token" in vars(Qwen3VLProcessor)


def truncates_time_positions(model) -> bool:
    """Whether the installed Qwen2.5-VL ``get_rope_index`` truncates fractional seconds per temporal group to an
    integer (4.57 to 5.10 do): a probe of two temporal groups 0.5 s apart, which then share a time position."""
    config = model.config
    merge = config.vision_config.spatial_merge_size
    ids = [config.vision_start_token_id, config.video_token_id, config.video_token_id, config.vision_end_token_id]
    input_ids = torch.tensor([ids], device=model.device)
    grid = torch.tensor([[2, merge, merge]], device=model.device)
    placeholders = (input_ids == config.video_token_id).long() * 2
    half_second = torch.tensor([0.5], device=model.device)
    positions = rope_index(model, input_ids, placeholders, grid, second_per_grid_ts=half_second)
    return bool(positions[0, 0, 1] == positions[0, 0, 2])


def qwen2_5_vl_frame_rate(clip) -> float:
    """The frame rate Qwen2.5-VL's processor divides the temporal patch size by, for the sampled frames:
    the rate transformers' video metadata gives them (5.x), or its ``fps`` argument (4.57), which is the
    rate asked for when the frames were sampled by rate."""
    from transformers.video_utils import VideoMetadata

    if hasattr(VideoMetadata, "sampled_fps"):
        return clip.sampled_fps
    return clip.sampling_fps or clip.sampled_fps
