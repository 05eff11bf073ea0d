"""End-to-end speed and memory of pruned runs against the unpruned run, in the same process.

For each frame count: video decode and vision encode (medians of --repeats after a warm-up),
then for each ratio and each allocator x selector the policy, the LLM prefill and the decode
of --new-tokens tokens with peak memory (CUDA max_memory_allocated, or on Linux the process's
peak resident memory during the run). The configurations take turns (unpruned, pruned, ...,
unpruned, pruned, ...: --repeats rounds after a warm-up round), so that a machine that speeds up
or slows down during the run moves every configuration alike; each figure is the median of the
rounds, with the spread of the prefill and the total ((max - min) / median). Every figure also as
a ratio to the unpruned run (ratio 1) of the same frame count. Prints a markdown table; --json
writes the rows. --config takes the published shapes (random weights) of vcast_core.random_checkpoint.

    python bench/speed.py                                  # scaled-down Qwen3-VL on the CPU
    python bench/speed.py --model models/LLM/Qwen3-VL-8B-Instruct --device cuda
    python bench/speed.py --config qwen3-vl-8b --device cuda --dtype bfloat16   # random weights
    python bench/speed.py --config llava-onevision-7b --device cuda --dtype bfloat16
    python bench/speed.py --family llava_onevision                 # scaled-down LLaVA-OneVision on the CPU
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vcast_core import ALLOCATION_METHODS, SELECTION_METHODS, load_video, prune  # noqa: E402
from vcast_core.random_checkpoint import CONFIG_BUILDERS, SIZES, random_videollm  # noqa: E402

PROMPT = "What happens in this video?"
TIMES = ("video_decode_ms", "encode_ms", "policy_ms", "prefill_ms", "decode_ms")
FIGURES = ("policy_ms", "prefill_ms", "decode_ms", "peak_memory_mb", "prompt_tokens", "video_tokens_kept")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
FAMILY_PREFIXES = {"qwen2.5": "qwen2_5_vl", "llava-onevision": "llava_onevision"}  # --config name -> family


def write_clip(path: Path, frames: int, side: int, fps: int = 30) -> Path:
    """A synthetic H.264 clip: drifting colour noise with a scene change every 2 seconds."""
    generator = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        scene = generator.integers(0, 256, (side, side, 3), dtype=np.uint8)
        for index in range(frames):
            if index % (2 * fps) == 0:
                scene = generator.integers(0, 256, (side, side, 3), dtype=np.uint8)
            frame = np.roll(scene, index, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def timed(run, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, (time.perf_counter() - start) * 1e3


def median_of(runs: list[dict]) -> dict:
    return {name: statistics.median(run[name] for run in runs) for name in runs[0]}


def encode_clip(llm, video: Path, frames: int, repeats: int):
    """The token set of ``frames`` sampled frames, and the median video-decode and encode times (one warm-up)."""
    runs = []
    for repeat in range(repeats + 1):
        clip, video_decode_ms = timed(lambda: load_video(video, num_frames=frames), llm.device)
        tokens = llm.encode(clip)
        if repeat:
            runs.append(dict(video_decode_ms=video_decode_ms, encode_ms=tokens.encode_ms))
    return tokens, median_of(runs)


def generate_once(llm, tokens, ratio: float, allocator: str, selector: str, args) -> dict:
    """Policy, prefill and decode figures of one run of one configuration."""
    result = llm.generate(
        prune(tokens, ratio, allocator, selector), PROMPT, max_new_tokens=args.new_tokens, stop_at_eos=False
    )
    return {name: result.stats[name] for name in FIGURES}


def spread(values: list[float]) -> float:
    """(max - min) / median: how far the rounds of one figure lie apart."""
    return (max(values) - min(values)) / statistics.median(values) if statistics.median(values) else 0.0


def interleaved(llm, tokens, configurations: list[tuple], args) -> list[dict]:
    """Median figures of each configuration, the configurations taking turns for ``args.repeats`` rounds after a
    warm-up round; with the spread of the prefill and of the generation (policy + prefill + decode)."""
    rounds = [[] for _ in configurations]
    for repeat in range(args.repeats + 1):
        for runs, (ratio, allocator, selector) in zip(rounds, configurations, strict=True):
            figures = generate_once(llm, tokens, ratio, allocator, selector, args)
            if repeat:
                runs.append(figures)
    medians = []
    for runs in rounds:
        row = median_of(runs)
        row["prefill_spread"] = spread([run["prefill_ms"] for run in runs])
        row["generation_spread"] = spread([run["policy_ms"] + run["prefill_ms"] + run["decode_ms"] for run in runs])
        medians.append(row)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", type=Path, help="a local checkpoint folder")
    source.add_argument(
        "--config",
        choices=list(SIZES),
        default="small",
        help="a random-weight configuration (default: small, a scaled-down model of --family)",
    )
    parser.add_argument(
        "--family", choices=sorted(CONFIG_BUILDERS), help="for --config (default from its name, else qwen3_vl)"
    )
    parser.add_argument("--frames", default="16,32,64", help="sampled frame counts (default 16,32,64)")
    parser.add_argument("--ratios", default="1,0.5,0.25,0.15,0.1")
    parser.add_argument("--allocators", default=",".join(ALLOCATION_METHODS))
    parser.add_argument("--selectors", default=",".join(s for s in SELECTION_METHODS if s != "keep_all"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--side", type=int, default=256, help="video frame width and height (default 256)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", choices=["auto", *DTYPES], default="auto")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device.replace("auto", "cpu")
    dtype = DTYPES.get(args.dtype, torch.bfloat16 if device.startswith("cuda") else torch.float32)

    if args.model:
        from vcast_core import load_videollm

        llm = load_videollm(args.model, device=device, dtype=str(dtype).removeprefix("torch."))
        name = args.model.name
    else:
        family = args.family or next(
            (family for prefix, family in FAMILY_PREFIXES.items() if args.config.startswith(prefix)), "qwen3_vl"
        )
        llm = random_videollm(family, args.config, device=device, dtype=dtype)
        name = f"{family} {args.config} (random weights)"
    card = (
        torch.cuda.get_device_name(llm.device)
        if llm.device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    frame_counts = [int(f) for f in args.frames.split(",")]
    ratios = [float(r) for r in args.ratios.split(",")]
    combos = list(itertools.product(args.allocators.split(","), args.selectors.split(",")))

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        video = write_clip(Path(scratch) / "clip.mp4", frames=max(frame_counts) * 15, side=args.side)
        for frames in frame_counts:
            tokens, clip_times = encode_clip(llm, video, frames, args.repeats)
            configurations = [(1.0, "unpruned", "unpruned")]
            configurations += [(r, a, s) for r in ratios if r < 1 for a, s in combos]
            policies = [
                (ratio, "curvature", "dual_anchor") if allocator == "unpruned" else (ratio, allocator, selector)
                for ratio, allocator, selector in configurations
            ]
            base = None
            for (ratio, allocator, selector), figures in zip(
                configurations, interleaved(llm, tokens, policies, args), strict=True
            ):
                row = dict(frames=frames, ratio=ratio, allocator=allocator, selector=selector, **clip_times, **figures)
                row["total_ms"] = sum(row[name] for name in TIMES)
                base = base or row
                for figure in ("prefill_ms", "total_ms", "peak_memory_mb"):
                    row[f"{figure.removesuffix('_ms').removesuffix('_mb')}_vs_unpruned"] = row[figure] / base[figure]
                rows.append(row)

    print(
        f"{name}, {card}, {args.side}x{args.side} video, {args.new_tokens} new tokens, median of {args.repeats} "
        "interleaved rounds\n"
    )
    print(
        "| frames | ratio | allocator | selector | video decode ms | encode ms | policy ms | prefill ms | decode ms "
        "| total ms | peak MB | prefill / unpruned | total / unpruned | memory / unpruned | prefill spread "
        "| generation spread |"
    )
    print("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    columns = ("video_decode_ms", "encode_ms", "policy_ms", "prefill_ms", "decode_ms", "total_ms", "peak_memory_mb")
    shares = ("prefill_vs_unpruned", "total_vs_unpruned", "peak_memory_vs_unpruned")
    for row in rows:
        figures = [f"{row[name]:.1f}" if name == "policy_ms" else f"{row[name]:.0f}" for name in columns]
        figures += [f"{row[name]:.3f}" for name in shares]
        figures += [f"{100 * row[name]:.0f}%" for name in ("prefill_spread", "generation_spread")]
        print(
            f"| {row['frames']} | {row['ratio']:g} | {row['allocator']} | {row['selector']} | {' | '.join(figures)} |"
        )
    if args.json:
        args.json.write_text(json.dumps(dict(model=name, device=card, rows=rows), indent=2))


if __name__ == "__main__":
    main()
