"""Many questions about one video: answered together (the video prefilled once, the questions decoded as one
batch) against asked one by one, in the same process.

One clip of --frames sampled frames is encoded once; for each ratio it is pruned once; then for each
question count in --counts, the first N of 16 questions of different lengths are answered together
(``llm.generate(tokens, questions)``) and one by one (``llm.generate(tokens, question)`` N times),
each decoding --new-tokens tokens (no early stop). The two take turns for --repeats rounds after a
warm-up round; each figure is the median. Prints a markdown table: the total and per-answer times
of both, their ratio, and the per-answer time against one question's.

    python bench/questions.py                                   # scaled-down Qwen3-VL on the CPU
    python bench/questions.py --config qwen3-vl-8b --device cuda --dtype bfloat16   # random weights
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch
from speed import DTYPES, FAMILY_PREFIXES, timed, write_clip

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vcast_core import load_video, prune  # noqa: E402
from vcast_core.random_checkpoint import CONFIG_BUILDERS, SIZES, random_videollm  # noqa: E402

QUESTIONS = [
    "What happens in this video?",
    "How many scene changes are there?",
    "Describe the colours you see.",
    "Is there any text on screen?",
    "What moves, and in which direction?",
    "Summarise the video in one sentence.",
    "Does the camera move or stay still?",
    "What is in the background?",
    "Which part of the video is the brightest, and when does it appear?",
    "Is this a natural scene or generated noise?",
    "List the objects you can see.",
    "What happens at the end?",
    "Would this video be suitable as a screensaver? Why or why not?",
    "How long does each scene last?",
    "Describe the texture of the image in detail, frame by frame, as a careful observer would.",
    "Why?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=list(SIZES), default="small", help="random-weight configuration")
    parser.add_argument("--family", choices=sorted(CONFIG_BUILDERS), help="default from --config, else qwen3_vl")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--counts", default="1,4,16", help="question counts (at most 16; default 1,4,16)")
    parser.add_argument("--ratios", default="1,0.25")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", choices=["auto", *DTYPES], default="auto")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args()
    counts = [int(count) for count in args.counts.split(",")]
    if args.repeats < 1 or not all(1 <= count <= len(QUESTIONS) for count in counts):
        parser.error(f"--repeats must be >= 1 and each count in 1..{len(QUESTIONS)}")
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device.replace("auto", "cpu")
    dtype = DTYPES.get(args.dtype, torch.bfloat16 if device.startswith("cuda") else torch.float32)
    family = args.family or next(
        (family for prefix, family in FAMILY_PREFIXES.items() if args.config.startswith(prefix)), "qwen3_vl"
    )
    llm = random_videollm(family, args.config, device=device, dtype=dtype)
    card = (
        torch.cuda.get_device_name(llm.device)
        if llm.device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    with tempfile.TemporaryDirectory() as scratch:
        video = write_clip(Path(scratch) / "clip.mp4", frames=args.frames * 15, side=args.side)
        tokens = llm.encode(load_video(video, num_frames=args.frames))

    def together(token_set, questions):
        return llm.generate(token_set, questions, max_new_tokens=args.new_tokens, stop_at_eos=False)

    def one_by_one(token_set, questions):
        return [llm.generate(token_set, q, max_new_tokens=args.new_tokens, stop_at_eos=False) for q in questions]

    rows = []
    for ratio in (float(value) for value in args.ratios.split(",")):
        pruned = prune(tokens, ratio)
        times = {(count, way): [] for count in counts for way in ("together", "one_by_one")}
        for repeat in range(args.repeats + 1):
            for count in counts:
                for way, ask in (("together", together), ("one_by_one", one_by_one)):
                    asked = QUESTIONS[:count]
                    _, milliseconds = timed(lambda ask=ask, asked=asked, pruned=pruned: ask(pruned, asked), llm.device)
                    if repeat:
                        times[(count, way)].append(milliseconds)
        single = statistics.median(times[(counts[0], "one_by_one")]) / counts[0]
        for count in counts:
            joint, apart = (statistics.median(times[(count, way)]) for way in ("together", "one_by_one"))
            rows.append(
                dict(
                    ratio=ratio,
                    questions=count,
                    video_tokens_kept=int(pruned.kept_mask.sum()),
                    together_ms=joint,
                    one_by_one_ms=apart,
                    per_answer_together_ms=joint / count,
                    per_answer_one_by_one_ms=apart / count,
                    one_by_one_vs_together=apart / joint,
                    per_answer_vs_one_question=joint / count / single,
                )
            )
    print(
        f"{family} {args.config} (random weights), {card}, {args.frames} frames of {args.side}x{args.side}, "
        f"{args.new_tokens} new tokens per answer, median of {args.repeats} interleaved rounds\n"
    )
    print(
        "| ratio | questions | video tokens kept | together ms | one by one ms | per answer together ms "
        "| per answer one by one ms | one by one / together | per answer / one question's |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['ratio']:g} | {row['questions']} | {row['video_tokens_kept']} | {row['together_ms']:.0f} "
            f"| {row['one_by_one_ms']:.0f} | {row['per_answer_together_ms']:.0f} "
            f"| {row['per_answer_one_by_one_ms']:.0f} | {row['one_by_one_vs_together']:.2f} "
            f"| {row['per_answer_vs_one_question']:.2f} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps(dict(vars(args), json=None, model=f"{family} {args.config}", rows=rows), indent=2)
        )


if __name__ == "__main__":
    main()
