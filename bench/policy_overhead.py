"""How much the V-CAST policy costs next to one D x D linear layer over the same tokens.

One linear layer over all T*P visual tokens is a small unit of LLM prefill work (a real
prefill runs several per layer, over dozens of layers); the target is a policy costing at
most 2% of it. The policy is ``prune_tokens`` (curvature + allocation + selection sharing
one frame-mean pass); the separate ``allocate_budget`` and ``select_tokens`` calls, as the
ComfyUI nodes make them, are timed too. Prints a markdown table; median of --repeats runs
after a warm-up.

    python bench/policy_overhead.py [--device cuda] [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vcast_core import allocate_budget, frame_curvature, prune_tokens, select_tokens  # noqa: E402

SHAPES = ((32, 256, 3584), (64, 256, 4096))


def median_ms(run, device: torch.device, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure(shape: tuple[int, int, int], device: torch.device, dtype: torch.dtype, ratio: float, repeats: int) -> str:
    """One table row for features of ``shape``."""
    frames, tokens, width = shape
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(frames, tokens, width, generator=generator).to(device, dtype)
    weight = (torch.randn(width, width, generator=generator) / width**0.5).to(device, dtype)
    budget = allocate_budget(features, ratio)
    curvature_ms = median_ms(lambda: frame_curvature(features), device, repeats)
    allocation_ms = median_ms(lambda: allocate_budget(features, ratio), device, repeats)
    selection_ms = median_ms(lambda: select_tokens(features, budget), device, repeats)
    policy_ms = median_ms(lambda: prune_tokens(features, ratio), device, repeats)
    linear_ms = median_ms(lambda: F.linear(features.view(-1, width), weight), device, repeats)
    return (
        f"| [{frames}, {tokens}, {width}] | {curvature_ms:.2f} | {allocation_ms:.2f} | {selection_ms:.2f} "
        f"| {policy_ms:.2f} | {linear_ms:.1f} | {100 * policy_ms / linear_ms:.2f}% "
        f"| {100 * (allocation_ms + selection_ms) / linear_ms:.2f}% |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per figure (default 7)")
    parser.add_argument("--ratio", type=float, default=0.25, help="share of tokens kept (default 0.25)")
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; dtype {args.dtype}; ratio {args.ratio}; median of {args.repeats} after a warm-up\n")
    print(
        "| [T, P, D] | frame_curvature ms | allocate_budget ms | select_tokens ms "
        "| policy (prune_tokens) ms | linear D×D ms | policy / linear | separate calls / linear |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for shape in SHAPES:
        print(measure(shape, device, dtype, args.ratio, args.repeats))


if __name__ == "__main__":
    main()
