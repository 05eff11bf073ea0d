"""Vision-encoder peak memory and time: all temporal groups at once against chunks of groups, in one process.

The tokens are the same up to float32 rounding (the table shows the largest difference); the peak and the time
change.

    python bench/encode_memory.py                                   # scaled-down Qwen3-VL on the CPU
    python bench/encode_memory.py --config qwen3-vl-8b --device cuda --dtype bfloat16 --frames 64
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vcast_core.models.videollm import _peak_memory_mb, _peak_memory_reset, _sync  # noqa: E402
from vcast_core.random_checkpoint import random_videollm  # noqa: E402
from vcast_core.video import VideoClip  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def synthetic_clip(frames: int, size: int) -> VideoClip:
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (frames, size, size, 3), dtype=torch.uint8, generator=generator)
    return VideoClip(
        frames=pixels,
        indices=tuple(range(frames)),
        timestamps=tuple(t / 2 for t in range(frames)),
        source_fps=2.0,
        source_frames=frames,
        path="synthetic",
        backend="none",
    )


def measure(llm, clip, groups_per_chunk: int, repeats: int):
    times, peaks, tokens = [], [], None
    for _ in range(repeats + 1):  # the first run warms up
        _peak_memory_reset(llm.device)
        start = time.perf_counter()
        tokens = llm.encode(clip, groups_per_chunk=groups_per_chunk)
        _sync(llm.device)
        times.append((time.perf_counter() - start) * 1e3)
        peaks.append(_peak_memory_mb(llm.device))
    return statistics.median(times[1:]), statistics.median(peaks[1:]), tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="qwen3_vl", help="model type of the random-weight model")
    parser.add_argument("--config", default="small", help="size: tiny, small or a full-size name (qwen3-vl-8b, ...)")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--size", type=int, default=448, help="frame side in pixels")
    parser.add_argument("--chunks", default="0,16,8,2", help="groups per chunk to compare; 0 is all at once")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=DTYPES)
    args = parser.parse_args()
    llm = random_videollm(args.family, args.config, device=args.device, dtype=DTYPES[args.dtype])
    clip = synthetic_clip(args.frames, args.size)
    rows, reference = [], None
    for groups in [int(value) for value in args.chunks.split(",")]:
        ms, peak, tokens = measure(llm, clip, groups, args.repeats)
        if reference is None:
            reference = (ms, peak, tokens)
        difference = (tokens.features.float() - reference[2].features.float()).abs().max().item()
        rows.append((groups, ms, peak, difference))
    device = torch.cuda.get_device_name(llm.device) if llm.device.type == "cuda" else "CPU"
    print(f"{args.family} {args.config}, {args.frames} frames of {args.size}x{args.size}, {args.dtype}, {device}")
    print(f"token set {tuple(reference[2].features.shape)}\n")
    print("| groups per chunk | encode ms | peak memory MB | time ratio | peak ratio | max token difference |")
    print("|---:|---:|---:|---:|---:|---:|")
    for groups, ms, peak, difference in rows:
        label = "all" if groups == 0 else str(groups)
        ratios = f"{ms / reference[0]:.3f} | {peak / reference[1]:.3f}"
        print(f"| {label} | {ms:.0f} | {peak:.0f} | {ratios} | {difference:.2g} |")


if __name__ == "__main__":
    main()
