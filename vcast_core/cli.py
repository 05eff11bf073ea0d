"""Command line: ``python -m vcast_core policy`` prunes a features file, or a bundled synthetic clip."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from .allocation import ALLOCATION_METHODS, ROUNDINGS
from .curvature import SIGNALS, trajectory_signal
from .errors import InputError, VCastError
from .frames import FrameStats
from .policy import prune_tokens
from .selection import SELECTION_METHODS
from .synthetic import shot_clip
from .tokens import GROUPS_PER_CHUNK, POSITIONS
from .video import BACKENDS, MAX_MEMORY_GB

BAR_WIDTH = 40

# Method options the command line exposes, and the method each belongs to.
ALLOCATION_FLAGS = {
    "tau": "curvature",
    "signal": "curvature",
    "temperature": "vidcom2",
    "threshold": "segment",
    "min_segments": "segment",
}
SELECTION_FLAGS = {"seed": "random"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vcast_core", description="V-CAST video token pruning.")
    commands = parser.add_subparsers(dest="command", required=True)
    policy = commands.add_parser(
        "policy",
        help="per-frame curvature, budget and kept tokens for a [T, P, D] feature tensor",
        description="Run a pruning policy on features [T, P, D] from a .safetensors file (the tensor named "
        "'features', or its only tensor), or on a synthetic clip of five panning shots when no file is given.",
    )
    policy.add_argument("--features", type=Path, help="a .safetensors file holding features [T, P, D]")
    policy.add_argument("--ratio", type=float, default=0.25, help="share of tokens kept, in (0, 1] (default 0.25)")
    policy.add_argument("--allocator", choices=ALLOCATION_METHODS, default="curvature")
    policy.add_argument("--selector", choices=SELECTION_METHODS, default="dual_anchor")
    policy.add_argument("--min-per-frame", type=int, default=1, help="tokens every frame keeps (default 1)")
    policy.add_argument("--rounding", choices=ROUNDINGS, default="largest_remainder")
    policy.add_argument("--tau", type=float, help="curvature: softmax temperature (default 0.7)")
    policy.add_argument("--signal", choices=SIGNALS, help="curvature: routing signal (default turn, the published)")
    policy.add_argument("--temperature", type=float, help="vidcom2: softmax temperature (default 0.01)")
    policy.add_argument("--threshold", type=float, help="segment: cut below this cosine similarity (default 0.84)")
    policy.add_argument("--min-segments", type=int, help="segment: at least this many segments (default 8)")
    policy.add_argument("--seed", type=int, help="random: seed (default 0)")
    policy.add_argument("--save", type=Path, help="write curvature, budget and kept mask to this new .safetensors file")

    run = commands.add_parser(
        "run",
        help="answer a prompt about a video with a pruned video LLM",
        description="Decode a video, encode it with the model's vision tower, prune the visual tokens with the "
        "chosen policy, then prefill and generate. Prints the answer and the run's statistics.",
    )
    run.add_argument("video", type=Path, help="the video file")
    run.add_argument(
        "--model", type=Path, required=True, help="a local checkpoint folder (Qwen3-VL, Qwen2.5-VL or LLaVA-OneVision)"
    )
    run.add_argument("--prompt", default="Describe this video.", help="the question (default: describe the video)")
    run.add_argument("--system", help="a system prompt")
    sampling = run.add_mutually_exclusive_group()
    sampling.add_argument("--fps", type=float, help="frames sampled per second (default 2)")
    sampling.add_argument("--frames", type=int, help="sample this many frames evenly instead")
    run.add_argument("--max-frames", type=int, default=64, help="at most this many frames (default 64)")
    run.add_argument("--start", type=float, default=0.0, help="start time in seconds")
    run.add_argument("--end", type=float, help="end time in seconds")
    run.add_argument(
        "--max-memory-gb",
        type=float,
        default=MAX_MEMORY_GB,
        help=f"refuse to decode more than this many GB of frames (default {MAX_MEMORY_GB:g})",
    )
    run.add_argument("--backend", choices=BACKENDS, default="auto", help="video decoder (default: decord if installed)")
    run.add_argument("--ratio", type=float, default=0.25, help="share of visual tokens kept, in (0, 1] (default 0.25)")
    run.add_argument("--allocator", choices=ALLOCATION_METHODS, default="curvature")
    run.add_argument("--selector", choices=SELECTION_METHODS, default="dual_anchor")
    run.add_argument(
        "--positions",
        choices=POSITIONS,
        default="original",
        help="original: kept tokens keep their positions (V-CAST, default); compact: renumber the kept "
        "sequence 0..n-1 as LLaVA-centric pruners do (1-D RoPE models: LLaVA-OneVision)",
    )
    run.add_argument("--max-new-tokens", type=int, default=128)
    run.add_argument("--temperature", type=float, default=0.0, help="0 decodes greedily (default)")
    run.add_argument("--top-p", type=float, default=1.0)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default="auto", help="auto, cpu or cuda[:n]")
    run.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16")
    run.add_argument("--attention", default="sdpa", help="sdpa (default), eager or flash_attention_2")
    run.add_argument(
        "--groups-per-chunk",
        type=int,
        default=GROUPS_PER_CHUNK,
        help=f"temporal groups encoded at once, 0 for all (default {GROUPS_PER_CHUNK}; same tokens, lower peak memory)",
    )
    run.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return parser


def _load_features(path: Path | None) -> tuple[torch.Tensor, str]:
    if path is None:
        features, starts = shot_clip()
        cuts = ", ".join(str(start) for start in starts[1:])
        return features, f"synthetic clip ({len(starts)} panning shots; new shots start at frames {cuts})"
    if not path.is_file():
        raise InputError(f"features file {path} does not exist or is not a file")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as err:
        raise InputError(f"{path} is not a readable .safetensors file: {err}") from None
    if "features" in tensors:
        return tensors["features"], str(path)
    if len(tensors) == 1:
        return next(iter(tensors.values())), str(path)
    raise InputError(f"{path} holds tensors {sorted(tensors)}; name the [T, P, D] one 'features'")


def _method_options(args: argparse.Namespace, flags: dict[str, str], method: str) -> dict:
    options = {}
    for name, owner in flags.items():
        value = getattr(args, name)
        if value is None:
            continue
        if owner != method:
            raise InputError(f"--{name.replace('_', '-')} applies to method {owner!r}, not {method!r}")
        options[name] = value
    return options


def run_policy(args: argparse.Namespace) -> None:
    features, source = _load_features(args.features)
    if args.save is not None and args.save.exists():
        raise InputError(f"{args.save} already exists; choose a new file name (nothing is overwritten)")
    if args.save is not None and not args.save.parent.is_dir():
        raise InputError(f"folder {args.save.parent} does not exist; create it or save elsewhere")
    allocation = _method_options(args, ALLOCATION_FLAGS, args.allocator)
    allocation.update(min_per_frame=args.min_per_frame, rounding=args.rounding)
    selection = _method_options(args, SELECTION_FLAGS, args.selector)
    budget, kept = prune_tokens(
        features,
        args.ratio,
        args.allocator,
        args.selector,
        allocation_options=allocation,
        selection_options=selection,
    )
    signal = allocation.get("signal", "turn") if args.allocator == "curvature" else "turn"
    curvature = trajectory_signal(FrameStats(features).descriptors, signal)
    name = "curvature" if signal == "turn" else signal
    frames, tokens = kept.shape
    print(f"{source}: T={frames} frames x P={tokens} tokens, D={features.shape[2]}")
    print(
        f"allocator {args.allocator}, selector {args.selector}, ratio {args.ratio}: "
        f"{int(kept.sum())} of {frames * tokens} tokens kept\n"
    )
    print(f"frame  {name:>11}  budget  kept")
    for t in range(frames):
        bar = "#" * round(BAR_WIDTH * int(budget[t]) / tokens)
        print(f"{t:5d}  {float(curvature[t]):11.3f}  {int(budget[t]):6d}  {int(kept[t].sum()):4d}  {bar}")
    if args.save is not None:
        from safetensors.torch import save_file

        try:
            save_file({name: curvature.cpu(), "budget": budget.cpu(), "kept": kept.cpu()}, args.save)
        except OSError as err:
            raise InputError(f"could not write {args.save}: {err.strerror or err}") from None
        print(f"\nwrote {args.save}")


def run_video(args: argparse.Namespace) -> None:
    from transformers.utils import logging as transformers_logging

    from ._checks import check_ratio
    from .models import load_videollm
    from .tokens import prune
    from .video import load_video

    check_ratio(args.ratio)  # before the slow steps

    fps = args.fps if args.fps is not None or args.frames is not None else 2.0
    clip = load_video(
        args.video,
        fps=fps if args.frames is None else None,
        num_frames=args.frames,
        max_frames=args.max_frames,
        start=args.start,
        end=args.end,
        backend=args.backend,
        max_memory_gb=args.max_memory_gb,
    )
    transformers_logging.disable_progress_bar()
    llm = load_videollm(args.model, device=args.device, dtype=args.dtype, attention=args.attention)
    llm.check_positions(args.positions)  # before the slow steps
    token_set = prune(
        llm.encode(clip, groups_per_chunk=args.groups_per_chunk), args.ratio, args.allocator, args.selector
    )
    result = llm.generate(
        token_set,
        args.prompt,
        system=args.system,
        positions=args.positions,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
    )
    if args.json:
        stats = {name: value for name, value in result.stats.items() if name != "kept_per_frame"}
        report = dict(text=result.text, token_ids=result.token_ids, stats=stats)
        print(json.dumps(dict(report, kept_per_frame=result.stats["kept_per_frame"], video=clip.describe())))
        return
    print(result.text)
    policy = f"{args.allocator} + {args.selector}, ratio {args.ratio}, {args.positions} positions"
    print(f"\n{clip.describe()}\n{llm!r}\n{policy}\n{result.summary()}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        run_policy(args) if args.command == "policy" else run_video(args)
    except VCastError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
