"""Command line: ``python -m vcast_core policy`` prunes a features file, or a bundled synthetic clip."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from .allocation import ALLOCATION_METHODS, ROUNDINGS
from .curvature import frame_curvature
from .policy import prune_tokens
from .selection import SELECTION_METHODS
from .synthetic import shot_clip

BAR_WIDTH = 40

# Method options the command line exposes, and the method each belongs to.
ALLOCATION_FLAGS = {"tau": "curvature", "temperature": "vidcom2", "threshold": "segment", "min_segments": "segment"}
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
    policy.add_argument("--temperature", type=float, help="vidcom2: softmax temperature (default 0.01)")
    policy.add_argument("--threshold", type=float, help="segment: cut below this cosine similarity (default 0.84)")
    policy.add_argument("--min-segments", type=int, help="segment: at least this many segments (default 8)")
    policy.add_argument("--seed", type=int, help="random: seed (default 0)")
    policy.add_argument("--save", type=Path, help="write curvature, budget and kept mask to this new .safetensors file")
    return parser


def _load_features(path: Path | None) -> tuple[torch.Tensor, str]:
    if path is None:
        features, starts = shot_clip()
        cuts = ", ".join(str(start) for start in starts[1:])
        return features, f"synthetic clip ({len(starts)} panning shots; new shots start at frames {cuts})"
    if not path.is_file():
        raise ValueError(f"features file {path} does not exist or is not a file")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path} is not a readable .safetensors file: {err}") from None
    if "features" in tensors:
        return tensors["features"], str(path)
    if len(tensors) == 1:
        return next(iter(tensors.values())), str(path)
    raise ValueError(f"{path} holds tensors {sorted(tensors)}; name the [T, P, D] one 'features'")


def _method_options(args: argparse.Namespace, flags: dict[str, str], method: str) -> dict:
    options = {}
    for name, owner in flags.items():
        value = getattr(args, name)
        if value is None:
            continue
        if owner != method:
            raise ValueError(f"--{name.replace('_', '-')} applies to method {owner!r}, not {method!r}")
        options[name] = value
    return options


def run_policy(args: argparse.Namespace) -> None:
    features, source = _load_features(args.features)
    if args.save is not None and args.save.exists():
        raise ValueError(f"{args.save} already exists; choose a new file name (nothing is overwritten)")
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
    curvature = frame_curvature(features)
    frames, tokens = kept.shape
    print(f"{source}: T={frames} frames x P={tokens} tokens, D={features.shape[2]}")
    print(
        f"allocator {args.allocator}, selector {args.selector}, ratio {args.ratio}: "
        f"{int(kept.sum())} of {frames * tokens} tokens kept\n"
    )
    print("frame  curvature  budget  kept")
    for t in range(frames):
        bar = "#" * round(BAR_WIDTH * int(budget[t]) / tokens)
        print(f"{t:5d}  {float(curvature[t]):9.3f}  {int(budget[t]):6d}  {int(kept[t].sum()):4d}  {bar}")
    if args.save is not None:
        from safetensors.torch import save_file

        save_file({"curvature": curvature.cpu(), "budget": budget.cpu(), "kept": kept.cpu()}, args.save)
        print(f"\nwrote {args.save}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        run_policy(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
