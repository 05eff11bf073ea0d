"""Command line: ``python -m vcast_core policy | run | batch`` (a pruning policy, one video, a manifest of videos)."""

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
from .tokens import GROUPS_PER_CHUNK, MAX_CLIP_PIXELS, MAX_FRAME_PIXELS, POSITIONS
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
    run.add_argument(
        "--prompt",
        action="append",
        help="a question (default: describe the video); repeat it to ask several, answered together",
    )
    run.add_argument("--prompts", type=Path, help="a UTF-8 text file of questions, one per line (blank lines skipped)")
    run.add_argument("--system", help="a system prompt")
    _add_sampling(run)
    run.add_argument("--start", type=float, default=0.0, help="start time in seconds")
    run.add_argument("--end", type=float, help="end time in seconds")
    run.add_argument("--ratio", type=float, default=0.25, help="share of visual tokens kept, in (0, 1] (default 0.25)")
    _add_model_options(run)
    run.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    batch = commands.add_parser(
        "batch",
        help="answer a manifest of questions about videos, here or on a Ray cluster, into a resumable results file",
        description="Answer every item of a manifest (JSONL or CSV: id, video, question, optional options and "
        "answer; video paths relative to the manifest's folder) and append one JSON line per item and ratio to "
        "--out as items finish. A rerun skips what --out holds already. Prints a per-ratio summary and writes it "
        "beside --out as .summary.json.",
    )
    batch.add_argument("manifest", type=Path, help="a .jsonl or .csv manifest")
    batch.add_argument("--model", type=Path, required=True, help="a local checkpoint folder, the same on every node")
    batch.add_argument(
        "--out", type=Path, required=True, help="the results file (.jsonl), appended to, never rewritten"
    )
    batch.add_argument("--system", help="a system prompt")
    _add_sampling(batch)
    ratios = batch.add_mutually_exclusive_group()
    ratios.add_argument("--ratio", type=float, default=0.25, help="share of visual tokens kept (default 0.25)")
    ratios.add_argument(
        "--compare-ratios",
        type=_ratio_list,
        help="run every item at each of these ratios, e.g. 1,0.25, and compare them with ratio 1",
    )
    _add_model_options(batch)
    batch.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="spread items over Ray workers: on the cluster at ADDRESS (e.g. 10.0.0.1:6379), or a new local one",
    )
    batch.add_argument("--workers", type=int, help="Ray workers (default: one per GPU of the cluster; 1 without GPUs)")
    batch.add_argument("--gpus-per-worker", type=float, help="GPUs each Ray worker reserves, in (0, 1] (default 1)")
    return parser


def _add_sampling(parser: argparse.ArgumentParser) -> None:
    sampling = parser.add_mutually_exclusive_group()
    sampling.add_argument("--fps", type=float, help="frames sampled per second (default 2)")
    sampling.add_argument("--frames", type=int, help="sample this many frames evenly instead")
    parser.add_argument("--max-frames", type=int, default=64, help="at most this many frames (default 64)")
    parser.add_argument(
        "--backend", choices=BACKENDS, default="auto", help="video decoder (default: decord if installed)"
    )
    parser.add_argument(
        "--max-memory-gb",
        type=float,
        default=MAX_MEMORY_GB,
        help=f"refuse to decode more than this many GB of frames (default {MAX_MEMORY_GB:g})",
    )


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """Policy, decoding and where the model runs: the same for ``run`` and ``batch``."""
    parser.add_argument("--allocator", choices=ALLOCATION_METHODS, default="curvature")
    parser.add_argument("--selector", choices=SELECTION_METHODS, default="dual_anchor")
    parser.add_argument(
        "--positions",
        choices=POSITIONS,
        default="original",
        help="original: kept tokens keep their positions (V-CAST, default); compact: renumber the kept "
        "sequence 0..n-1 as LLaVA-centric pruners do (1-D RoPE models: LLaVA-OneVision)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 decodes greedily (default)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda[:n] or balanced (over every GPU)")
    parser.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16")
    parser.add_argument(
        "--attention",
        default="auto",
        help="auto (default: FlashAttention 2 where installed and usable, else sdpa), sdpa, eager or flash_attention_2",
    )
    parser.add_argument(
        "--quantization",
        default="none",
        help="none (default), 8bit or 4bit (NF4): the language model's linear layers, by bitsandbytes",
    )
    parser.add_argument(
        "--max-frame-pixels",
        type=int,
        default=MAX_FRAME_PIXELS,
        help=f"the vision tower sees at most this many pixels per frame (default {MAX_FRAME_PIXELS:,}: 768 "
        "tokens' worth of 28-pixel patches), within the checkpoint's own limits",
    )
    parser.add_argument(
        "--max-clip-pixels",
        type=int,
        default=MAX_CLIP_PIXELS,
        help=f"and at most this many for the whole clip (default {MAX_CLIP_PIXELS:,}: 64 such frames)",
    )
    parser.add_argument(
        "--groups-per-chunk",
        type=int,
        default=GROUPS_PER_CHUNK,
        help=f"temporal groups encoded at once, 0 for all (default {GROUPS_PER_CHUNK}; same tokens, lower peak memory)",
    )


def _ratio_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"give ratios separated by commas, e.g. 1,0.25; got {text!r}") from None


def _sampled_fps(args: argparse.Namespace) -> float | None:
    """--fps, or 2 frames per second when neither --fps nor --frames is given."""
    if args.frames is not None:
        return None
    return 2.0 if args.fps is None else args.fps


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
    stats = FrameStats(features)
    curvature = trajectory_signal(stats.descriptors, signal, stats.still)
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

    from ._checks import check_int, check_ratio, check_sampling, check_text
    from .models import load_videollm
    from .models.placement import Machine, placement
    from .tokens import prune
    from .video import load_video

    # every setting before the slow steps (the video, the model)
    placement(args.device, args.dtype, args.attention, args.quantization, Machine.this())
    check_ratio(args.ratio)
    check_int("max_new_tokens", args.max_new_tokens, 1)
    check_sampling(args.temperature, args.top_p, args.seed)
    questions = _questions(args)
    check_text("system", args.system)
    check_int("groups_per_chunk", args.groups_per_chunk, 0)
    check_int("max_frame_pixels", args.max_frame_pixels, 1)
    check_int("max_clip_pixels", args.max_clip_pixels, 1)

    clip = load_video(
        args.video,
        fps=_sampled_fps(args),
        num_frames=args.frames,
        max_frames=args.max_frames,
        start=args.start,
        end=args.end,
        backend=args.backend,
        max_memory_gb=args.max_memory_gb,
    )
    transformers_logging.disable_progress_bar()
    llm = load_videollm(
        args.model, device=args.device, dtype=args.dtype, attention=args.attention, quantization=args.quantization
    )
    llm.check_positions(args.positions)  # before the slow steps
    video_tokens = llm.video_token_count(clip, args.max_frame_pixels, args.max_clip_pixels)
    for question in questions:
        llm.check_prompt(question, args.system)
        llm.check_context(max(1, round(video_tokens * args.ratio)), question, args.system, args.max_new_tokens)
    token_set = prune(
        llm.encode(
            clip,
            groups_per_chunk=args.groups_per_chunk,
            max_frame_pixels=args.max_frame_pixels,
            max_clip_pixels=args.max_clip_pixels,
        ),
        args.ratio,
        args.allocator,
        args.selector,
    )
    results = llm.generate(
        token_set,
        questions if len(questions) > 1 else questions[0],
        system=args.system,
        positions=args.positions,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
    )
    results = results if len(questions) > 1 else [results]
    if args.json:
        where = dict(video=clip.describe(), model=repr(llm))
        reports = [
            dict(
                question=question,
                text=result.text,
                token_ids=result.token_ids,
                stats={name: value for name, value in result.stats.items() if name != "kept_per_frame"},
                kept_per_frame=result.stats["kept_per_frame"],
                **where,
            )
            for question, result in zip(questions, results, strict=True)
        ]
        print(json.dumps(reports[0] if len(reports) == 1 else reports))
        return
    for question, result in zip(questions, results, strict=True):
        print(result.text if len(questions) == 1 else f"Q: {question}\nA: {result.text}\n")
    policy = f"{args.allocator} + {args.selector}, ratio {args.ratio}, {args.positions} positions"
    print(f"\n{clip.describe()}\n{llm!r}\n{policy}\n{results[-1].summary()}")


def _questions(args: argparse.Namespace) -> list[str]:
    """The questions of ``--prompt`` (each) and ``--prompts`` (one a line), checked as text."""
    from ._checks import check_text

    questions = list(args.prompt or [])
    if args.prompts is not None:
        try:
            lines = args.prompts.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"could not read questions from {args.prompts}: {err}") from None
        questions += [line.strip() for line in lines if line.strip()]
        if not questions:
            raise InputError(f"{args.prompts} holds no question (one per line)")
    questions = questions or ["Describe this video."]
    for question in questions:
        check_text("prompt", question)
    return questions


def run_batch_job(args: argparse.Namespace) -> None:
    from .batch import BatchSettings, run_batch, summary_path, summary_table

    if args.ray is None and (args.workers is not None or args.gpus_per_worker is not None):
        raise InputError("--workers and --gpus-per-worker apply to Ray jobs; add --ray")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be >= 1, got {args.workers}")
    gpus_per_worker = 1.0 if args.gpus_per_worker is None else args.gpus_per_worker
    if not 0 < gpus_per_worker <= 1:
        raise InputError(
            f"--gpus-per-worker must be in (0, 1] (a worker runs its model on one GPU), got {gpus_per_worker}"
        )
    settings = BatchSettings(
        model=str(args.model.expanduser().absolute()),
        device=args.device,
        dtype=args.dtype,
        attention=args.attention,
        quantization=args.quantization,
        fps=_sampled_fps(args),
        frames=args.frames,
        max_frames=args.max_frames,
        backend=args.backend,
        max_memory_gb=args.max_memory_gb,
        groups_per_chunk=args.groups_per_chunk,
        max_frame_pixels=args.max_frame_pixels,
        max_clip_pixels=args.max_clip_pixels,
        allocator=args.allocator,
        selector=args.selector,
        positions=args.positions,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        system=args.system,
    )
    summary = run_batch(
        args.manifest,
        args.out,
        settings,
        args.compare_ratios or (args.ratio,),
        ray=args.ray is not None,
        address=args.ray or None,
        workers=args.workers,
        gpus_per_worker=gpus_per_worker,
    )
    print(summary_table(summary))
    print(f"\nwrote {summary_path(args.out)}")


COMMANDS = {"policy": run_policy, "run": run_video, "batch": run_batch_job}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except VCastError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
