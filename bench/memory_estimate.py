"""GPU memory a clip needs, estimated from each checkpoint's published shapes (no GPU, no weights needed).

For a 64-frame clip at 720p and 1080p with the default pixel limits (``MAX_FRAME_PIXELS``,
``MAX_CLIP_PIXELS``), at bfloat16, unpruned and at 25%: the weights (parameters counted on the meta
device), the video tokens (by the same frame-size rule the processors use), the KV cache of the
prompt, the token set, and the largest transient of the two stages, the vision tower over one
chunk of 8 temporal groups or the language model's prefill (its MLP activations). A second table
gives the weights and total with the language model's linear layers quantized to 8-bit and 4-bit
NF4 (bitsandbytes). An estimate: CUDA's own context, the allocator's slack and the kernels'
workspaces come on top.

    python bench/memory_estimate.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vcast_core.models import llava_onevision, qwen2_5_vl, qwen3_vl  # noqa: E402
from vcast_core.models.checkpoint import ModelShape, describe_model  # noqa: E402
from vcast_core.models.placement import QUANTIZATIONS  # noqa: E402
from vcast_core.random_checkpoint import CONFIG_BUILDERS, EXTRA_TOKENS, SIZES, processor_config, write_tokenizer  # noqa: E402
from vcast_core.tokens import GROUPS_PER_CHUNK, MAX_CLIP_PIXELS, MAX_FRAME_PIXELS  # noqa: E402

CHECKPOINTS = {  # published shapes in vcast_core.random_checkpoint.SIZES
    "Qwen3-VL-2B-Instruct": ("qwen3-vl-2b", "qwen3_vl", qwen3_vl),
    "Qwen3-VL-8B-Instruct": ("qwen3-vl-8b", "qwen3_vl", qwen3_vl),
    "Qwen2.5-VL-7B-Instruct": ("qwen2.5-vl-7b", "qwen2_5_vl", qwen2_5_vl),
    "llava-onevision-qwen2-7b-ov-hf": ("llava-onevision-7b", "llava_onevision", llava_onevision),
}
BYTES = 2  # bfloat16
GB = 1e9


def model_shape(shape: str, model_type: str, family) -> ModelShape:
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = write_tokenizer(Path(folder), EXTRA_TOKENS.get(model_type, ()))
    return describe_model(CONFIG_BUILDERS[model_type](tokenizer, SIZES[shape]), family.FULL_PRECISION_MODULES)


def video_tokens(model_type: str, family, frames: int, height: int, width: int) -> tuple[int, int, int]:
    """(video tokens, temporal groups, vision patches per group) for ``frames`` of ``height`` x ``width``."""
    if model_type == "llava_onevision":
        return frames * 196, frames, 27 * 27
    config = processor_config(model_type)
    temporal = config["temporal_patch_size"]
    frames = max(frames, temporal)  # a clip shorter than a temporal group is padded to one
    size = family.pixel_size(config, frames, MAX_FRAME_PIXELS, MAX_CLIP_PIXELS)
    tokens = family.video_tokens(None, frames, height, width, config, size)
    groups = -(-frames // temporal)
    return tokens, groups, tokens // groups * config["merge_size"] ** 2


def estimate(
    name: str, frames: int, height: int, width: int, ratios: list[float], quantization: str = "none"
) -> list[dict]:
    shape, model_type, family = CHECKPOINTS[name]
    size = SIZES[shape]
    weights = model_shape(shape, model_type, family).weight_bytes(torch.bfloat16, quantization)
    tokens, groups, patches = video_tokens(model_type, family, frames, height, width)
    head_dim = size["hidden"] // size["heads"]
    kv_per_token = 2 * size["layers"] * size["kv_heads"] * head_dim * BYTES
    levels = len(size.get("deepstack", [])) if model_type == "qwen3_vl" else 0
    token_set = tokens * size["hidden"] * BYTES * (1 + levels)
    chunk = min(groups, GROUPS_PER_CHUNK) * patches
    vision = chunk * (3 * size["vision_intermediate"] + 4 * size["vision_hidden"]) * BYTES
    rows = []
    for ratio in ratios:
        kept = round(tokens * ratio) + 64  # the chat template, timestamps and question: about 64 text tokens
        prefill = kept * (3 * size["intermediate"] + 4 * size["hidden"]) * BYTES
        total = weights + kept * kv_per_token + token_set + max(vision, prefill)
        rows.append(
            dict(
                checkpoint=name,
                quantization=quantization,
                clip=f"{frames} x {width}x{height}",
                ratio=ratio,
                video_tokens=tokens,
                weights_gb=weights / GB,
                kv_gb=kept * kv_per_token / GB,
                token_set_gb=token_set / GB,
                vision_chunk_gb=vision / GB,
                prefill_gb=prefill / GB,
                total_gb=total / GB,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--ratios", default="1,0.25")
    args = parser.parse_args()
    ratios = [float(value) for value in args.ratios.split(",")]
    columns = "| checkpoint | clip | ratio | video tokens | weights GB | KV cache GB | token set GB | vision chunk GB |"
    print(columns + " prefill GB | total GB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in CHECKPOINTS:
        for height, width in ((720, 1280), (1080, 1920)):
            for row in estimate(name, args.frames, height, width, ratios):
                values = [row[key] for key in ("weights_gb", "kv_gb", "token_set_gb", "vision_chunk_gb")]
                numbers = " | ".join(f"{value:.2f}" for value in [*values, row["prefill_gb"], row["total_gb"]])
                print(f"| {row['checkpoint']} | {row['clip']} | {row['ratio']:g} | {row['video_tokens']} | {numbers} |")
    print(f"\nWeights and total GB by quantization ({args.frames} frames of 1280x720, ratio {ratios[-1]:g}):\n")
    print("| checkpoint | " + " | ".join(f"{name} weights | {name} total" for name in QUANTIZATIONS) + " |")
    print("|---|" + "---:|---:|" * len(QUANTIZATIONS))
    for name in CHECKPOINTS:
        rows = [estimate(name, args.frames, 720, 1280, ratios[-1:], quantization)[0] for quantization in QUANTIZATIONS]
        print(f"| {name} | " + " | ".join(f"{row['weights_gb']:.2f} | {row['total_gb']:.2f}" for row in rows) + " |")


if __name__ == "__main__":
    main()
