"""LLM prefill time with V-CAST pruning against the unpruned prefill, on random-weight Qwen models.

Builds scaled-down Qwen3-VL and Qwen2.5-VL checkpoints (random weights: valid for timing,
not for answers), encodes one synthetic clip, then times the language-model prefill at each
ratio in the same process: median of --repeats runs after a warm-up. Prints a markdown table.

    python bench/prefill.py [--size small] [--frames 32] [--ratios 1,0.5,0.25] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vcast_core.models import load_videollm  # noqa: E402
from vcast_core.random_checkpoint import SIZES, write_random_checkpoint  # noqa: E402
from vcast_core.tokens import prune  # noqa: E402
from vcast_core.video import VideoClip  # noqa: E402

PROMPT = "What happens in this video?"


def synthetic_clip(frames: int, side: int) -> VideoClip:
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (frames, side, side, 3), dtype=torch.uint8, generator=generator)
    times = tuple(i / 2 for i in range(frames))
    return VideoClip(pixels, tuple(range(frames)), times, 2.0, frames, "synthetic", "none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=tuple(SIZES), default="small")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--side", type=int, default=320, help="frame width and height in pixels (default 320)")
    parser.add_argument("--ratios", default="1,0.5,0.25", help="comma-separated keep ratios (default 1,0.5,0.25)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    ratios = [float(r) for r in args.ratios.split(",")]
    clip = synthetic_clip(args.frames, args.side)
    size = SIZES[args.size]
    print(
        f"{args.size} models (hidden {size['hidden']}, {size['layers']} layers), {args.frames} frames of "
        f"{args.side}x{args.side}, {args.device}; median of {args.repeats} prefills after a warm-up\n"
    )
    print("| model | ratio | prompt tokens | prefill ms | prefill / unpruned |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        for model_type in ("qwen3_vl", "qwen2_5_vl"):
            folder = write_random_checkpoint(Path(scratch) / model_type, model_type, args.size)
            llm = load_videollm(folder, device=args.device, dtype="float32")
            token_set = llm.encode(clip)
            baseline = None
            for ratio in ratios:
                pruned = prune(token_set, ratio)
                llm.prefill(pruned, PROMPT)  # warm-up
                runs = [llm.prefill(pruned, PROMPT) for _ in range(args.repeats)]
                ms = statistics.median(run.milliseconds for run in runs)
                baseline = ms if ratio == 1.0 else baseline
                share = f"{ms / baseline:.3f}" if baseline else "n/a"
                length = runs[0].positions.shape[-1]
                print(f"| {model_type} | {ratio:g} | {length} | {ms:.1f} | {share} |")


if __name__ == "__main__":
    main()
