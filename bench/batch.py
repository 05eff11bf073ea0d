"""Throughput of `python -m vcast_core batch`: items per minute without Ray and with 1, 2, ... Ray workers.

Writes a random-weight Qwen3-VL checkpoint (--size, tiny by default: valid for time, never for answers),
synthetic H.264 clips and a manifest of --items multiple-choice questions, --questions-per-video about
each clip (3 by default: the job decodes, encodes and prefills each video once for them), to a scratch
folder, then runs the job once per entry of --workers, each into a new results file: 0 runs without Ray
(one process, torch's own threads); N runs `--ray --workers N` on a new local Ray cluster (one CPU per
worker where there is no GPU, one GPU each where there are). Prints a markdown table: the wall time of the
whole command (Python, Ray and model loading included) and the job's own rate after its first video.

    python bench/batch.py                          # 120 items, 3 per video; no Ray, then 1 and 2 Ray workers
    python bench/batch.py --items 400 --workers 0,2,4
    python bench/batch.py --questions-per-video 1  # every item about its own video
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from speed import write_clip

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vcast_core.batch import read_results  # noqa: E402
from vcast_core.random_checkpoint import SIZES, write_random_checkpoint  # noqa: E402

RATE = re.compile(
    r"(\d+) items in [\d.]+ s \([\d.]+ items/min with model loading; ([\d.]+) items/min after the first video"
)
OPTIONS = ["a panning shot", "a still frame", "a talking head", "a black screen"]


QUESTIONS = ["What is shown?", "What changes over time?", "Which shot type is this?"]


def write_manifest(folder: Path, items: int, per_video: int) -> Path:
    videos = -(-items // per_video)
    clips = [write_clip(folder / f"clip{index}.mp4", frames=60 + 15 * (index % 4), side=160) for index in range(videos)]
    rows = [
        dict(
            id=f"q{index}",
            video=clips[index // per_video].name,
            question=QUESTIONS[index % per_video % len(QUESTIONS)]
            + ("" if per_video <= 3 else f" ({index % per_video})"),
            options=OPTIONS,
            answer="A",
        )
        for index in range(items)
    ]
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def run_job(manifest: Path, model: Path, out: Path, workers: int, args) -> dict:
    command = [sys.executable, "-m", "vcast_core", "batch", str(manifest), "--model", str(model), "--out", str(out)]
    command += ["--frames", str(args.frames), "--max-new-tokens", str(args.max_new_tokens), "--ratio", str(args.ratio)]
    if workers:
        command += ["--ray", "--workers", str(workers)]
    start = time.perf_counter()
    job = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if job.returncode != 0:
        raise SystemExit(f"workers={workers}: the job failed:\n{job.stderr[-3000:]}")
    done, after_first = RATE.search(job.stderr).groups()
    records = read_results(out)[0]
    return dict(
        workers=workers,
        items=int(done),
        errors=sum(record["error"] is not None for record in records),
        wall_s=wall,
        per_minute=int(done) / wall * 60,
        per_minute_after_first=float(after_first),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=120, help="questions in the manifest (default 120)")
    parser.add_argument("--workers", default="0,1,2", help="0 for no Ray, N for N Ray workers (default 0,1,2)")
    parser.add_argument("--questions-per-video", type=int, default=3, help="items about each clip (default 3)")
    parser.add_argument("--size", choices=SIZES, default="tiny", help="random checkpoint preset (default tiny)")
    parser.add_argument("--frames", type=int, default=16, help="frames sampled per video (default 16)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens decoded per item (default 32)")
    parser.add_argument("--ratio", type=float, default=0.25, help="share of visual tokens kept (default 0.25)")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        model = write_random_checkpoint(folder / "model", "qwen3_vl", size=args.size)
        manifest = write_manifest(folder, args.items, args.questions_per_video)
        rows = [
            run_job(manifest, model, folder / f"results-{workers}.jsonl", workers, args)
            for workers in map(int, args.workers.split(","))
        ]
    print(
        f"{args.size} Qwen3-VL, {args.items} items, {args.questions_per_video} per video, {args.frames} frames, "
        f"ratio {args.ratio}, "
        f"{args.max_new_tokens} new tokens\n"
    )
    print("| Ray workers | items | errors | wall s | items/min (wall) | items/min after the first video |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        workers = row["workers"] or "none (no Ray)"
        print(
            f"| {workers} | {row['items']} | {row['errors']} | {row['wall_s']:.1f} | {row['per_minute']:.0f} | "
            f"{row['per_minute_after_first']:.0f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(dict(vars(args), json=None, rows=rows), indent=2))


if __name__ == "__main__":
    main()
