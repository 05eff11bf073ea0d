"""vLLM model classes that prune video tokens with V-CAST (registered by :mod:`vcast_core.vllm_plugin`).

Each is vLLM's own class with one change: where vLLM would call EVS or VidCom2 for a video's kept-token mask,
V-CAST decides, keeping exactly the number of tokens vLLM put in the prompt. The policy comes from the
``vcast`` key of the model config, e.g. ``--hf-overrides '{"architectures": [...], "vcast": {"allocator":
"curvature", "selector": "dual_anchor", "tau": 0.7}}'`` (every vLLM process, every node, reads the same config).
"""

from __future__ import annotations

import torch
from vllm.model_executor.models.qwen2_5_vl import Qwen2_5_VLForConditionalGeneration
from vllm.model_executor.models.qwen3_vl import Qwen3VLForConditionalGeneration
from vllm.model_executor.models.qwen3_vl_moe import Qwen3VLMoeForConditionalGeneration
from vllm.multimodal.video_prune.evs import compute_mrope_for_media
from vllm.multimodal.video_prune.evs import compute_retained_tokens_count as evs_count
from vllm.multimodal.video_prune.vidcom2 import compute_retained_tokens_count as vidcom2_count

from .errors import InputError
from .policy import policy_settings, prune_tokens_to_total


def settings_from(config) -> dict:
    """The V-CAST policy of a model config's ``vcast`` entry (defaults: curvature + dual_anchor), checked when the
    model is built so that a bad policy stops the server at start-up rather than its first video request."""
    where = "the model config's 'vcast' entry (--hf-overrides)"
    entry = getattr(config, "vcast", None) or {}
    if not isinstance(entry, dict):
        raise InputError(f'{where} must be a JSON object such as {{"allocator": "curvature"}}, got {entry!r}')
    options = dict(entry)
    settings = policy_settings(
        options.pop("allocator", "curvature"), options.pop("selector", "dual_anchor"), options, where
    )
    if settings["selector"] == "keep_all":
        raise InputError(
            f"{where}: keep_all keeps every token, not the count vLLM sized the prompt for; to keep all "
            "tokens, leave --video-pruning-rate unset"
        )
    prune_tokens_to_total(torch.randn(2, 4, 8), 4, **settings)  # raises the policy's own error for bad values
    return settings


def kept_mask(model, embeddings: torch.Tensor, grid: list[int], width: int) -> torch.Tensor:
    """The flat kept mask of one video's merged tokens, ``[T*h*w]`` in vLLM's (frame, row, column) order, keeping
    the count vLLM's ``--video-pruning-method`` formula gave the prompt. Scores the main merger output (the first
    ``width`` features), not the DeepStack levels vLLM appends."""
    frames, height, width_patches = grid
    merge = model.visual.spatial_merge_size
    tokens_per_frame = (height // merge) * (width_patches // merge)
    # Qwen2.5-VL's vLLM class has no method attribute: vLLM sizes it with EVS's formula
    count = vidcom2_count if getattr(model, "video_pruning_method", "evs") == "vidcom2" else evs_count
    total = count(tokens_per_frame, frames, model.video_pruning_rate)
    features = embeddings[:, :width].reshape(frames, tokens_per_frame, width)
    _, kept = prune_tokens_to_total(features, total, **model.vcast)
    return kept.flatten().to(embeddings.device)


def hide_outer_vision_starts(input_ids, vision_start: int, vision_end: int, image: int, video: int):
    """``input_ids`` with each ``<|vision_start|>`` that opens no image or frame (the chat template's outer one,
    which transformers >= 5.10 keeps around a Qwen3-VL video) replaced by -1, so that vLLM's position
    recompute, which takes the first ``<|vision_start|>`` for frame 0's, lays the video where it is."""
    ids = torch.as_tensor(input_ids)
    starts = (ids[:-1] == vision_start).nonzero().flatten()
    following = ids[starts + 1]
    opens_nothing = (following != vision_end) & (following != image) & (following != video)
    hidden = ids.clone()
    hidden[starts[opens_nothing]] = -1
    return hidden if isinstance(input_ids, torch.Tensor) else hidden.tolist()


class _Qwen3VLVCast:
    """V-CAST's mask in Qwen3-VL's per-frame layout (timestamps and markers between frames, as vLLM builds it)."""

    def __init__(self, *, vllm_config, prefix: str = "model"):
        super().__init__(vllm_config=vllm_config, prefix=prefix)
        self.vcast = settings_from(vllm_config.model_config.hf_config)

    def _postprocess_video_embeds_evs(self, video_embeds_split, video_input):
        grids = video_input["video_grid_thw"].tolist()
        pruned = []
        for index, (embeddings, grid) in enumerate(zip(video_embeds_split, grids, strict=True)):
            mask = kept_mask(self, embeddings, grid, self.visual_dim)
            per_frame = mask.reshape(grid[0], -1).sum(dim=1).tolist()
            pruned.append(
                self._create_final_video_embeddings(
                    video_embeddings=embeddings[mask],
                    num_tokens_per_frame=per_frame,
                    timestamps=video_input.timestamps[index],
                    video_grid_thw=grid,
                    retention_mask=mask,
                )
            )
        return tuple(pruned)

    def recompute_mrope_positions(self, input_ids, multimodal_embeddings, mrope_positions, num_computed_tokens):
        config = self.config
        ids = hide_outer_vision_starts(
            input_ids,
            config.vision_start_token_id,
            config.vision_end_token_id,
            config.image_token_id,
            config.video_token_id,
        )
        return super().recompute_mrope_positions(ids, multimodal_embeddings, mrope_positions, num_computed_tokens)


class Qwen3VLVCastForConditionalGeneration(_Qwen3VLVCast, Qwen3VLForConditionalGeneration):
    pass


class Qwen3VLMoeVCastForConditionalGeneration(_Qwen3VLVCast, Qwen3VLMoeForConditionalGeneration):
    pass


class Qwen2_5_VLVCastForConditionalGeneration(Qwen2_5_VLForConditionalGeneration):
    """V-CAST's mask in Qwen2.5-VL's contiguous video block (vLLM sizes it with EVS's formula only)."""

    def __init__(self, *, vllm_config, prefix: str = "model"):
        super().__init__(vllm_config=vllm_config, prefix=prefix)
        self.vcast = settings_from(vllm_config.model_config.hf_config)

    def _postprocess_video_embeds_evs(self, video_embeds_split, video_input):
        seconds_per_group = video_input.get("second_per_grid_ts")
        if seconds_per_group is None:
            raise ValueError("V-CAST in vLLM needs second_per_grid_ts for Qwen2.5-VL videos (pass video metadata)")
        merge = self.visual.spatial_merge_size
        tokens_per_second = self.config.vision_config.tokens_per_second
        pruned = []
        for embeddings, grid, seconds in zip(
            video_embeds_split, video_input["video_grid_thw"].tolist(), seconds_per_group.long(), strict=True
        ):
            mask = kept_mask(self, embeddings, grid, embeddings.shape[-1])
            positions = compute_mrope_for_media(
                grid, merge, tokens_per_second=tokens_per_second, video_second_per_grid=seconds.item()
            ).to(embeddings.device)
            pruned.append(torch.cat([embeddings[mask], positions[mask].to(embeddings.dtype)], dim=1))
        return tuple(pruned)
