"""A batch job: the manifest's items not yet in the results file, answered here or on Ray, appended as they finish."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .._checks import check_ratio
from ..errors import InputError
from .manifest import Item, read_manifest
from .results import ResultsFile, read_results
from .summary import summarize, summary_path, write_summary
from .work import BatchSettings, ItemRunner

BAR_WIDTH = 30


def check_ratios(ratios: tuple[float, ...]) -> tuple[float, ...]:
    ratios = tuple(check_ratio(ratio) for ratio in ratios)
    if not ratios or len(set(ratios)) != len(ratios):
        raise InputError(f"give each ratio once, at least one; got {', '.join(map(str, ratios)) or 'none'}")
    return ratios


class Progress:
    """Done/total, items per minute and ETA: redrawn in place on a terminal, a line per video otherwise.

    The rate counts from the first finished video on, so model loading does not drag the ETA.
    """

    def __init__(self, total: int, stream):
        self.total, self.done, self.failed, self.stream = total, 0, 0, stream
        self.start = time.monotonic()
        self.first = self.last = self.start  # when the first and the latest video's items finished
        self.first_items = 0  # items of the first video

    def per_minute(self) -> float:
        """Items per minute since the first video's items finished (before that: since the start)."""
        if self.done > self.first_items:
            return (self.done - self.first_items) / max(self.last - self.first, 1e-9) * 60
        return self.done / max(self.last - self.start, 1e-9) * 60

    def advance(self, items: int, failed: int) -> None:
        """``items`` more finished (one video's), ``failed`` of them with errors."""
        self.done += items
        self.failed += failed
        self.last = time.monotonic()
        if not self.first_items:
            self.first, self.first_items = self.last, items
        rate = self.per_minute()
        eta = round((self.total - self.done) / rate * 60)
        filled = round(BAR_WIDTH * self.done / self.total)
        line = (
            f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {self.done}/{self.total} items, "
            f"{rate:.1f} items/min, ETA {eta // 3600}:{eta // 60 % 60:02d}:{eta % 60:02d}"
        )
        if self.failed:
            line += f", {self.failed} with errors"
        if self.stream.isatty():
            self.stream.write(f"\r{line}" + ("\n" if self.done == self.total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finished(self) -> str:
        seconds = self.last - self.start
        return (
            f"{self.done} items in {seconds:.1f} s ({self.done / seconds * 60:.1f} items/min with model loading; "
            f"{self.per_minute():.1f} items/min after the first video)"
        )


Pending = list[tuple[Item, tuple[float, ...]]]  # items with the ratios they still need


VIDEO_GROUP = 16  # items of one video answered in one go: its records are written (and resumable) together


def by_video(pending: Pending) -> list[Pending]:
    """``pending`` grouped by video, in the manifest's order of each video's first item, at most VIDEO_GROUP
    items a group: one group is decoded, encoded and prefilled once (a video with more items, once a group)."""
    by_path: dict[str, Pending] = {}
    for item, ratios in pending:
        by_path.setdefault(item.video, []).append((item, ratios))
    return [
        items[start : start + VIDEO_GROUP] for items in by_path.values() for start in range(0, len(items), VIDEO_GROUP)
    ]


def _local_answers(settings: BatchSettings, groups: list[Pending]) -> Iterator[list[list[dict]]]:
    runner = ItemRunner(settings)
    for group in groups:
        yield runner.answer(group)


def run_batch(
    manifest: str | Path,
    out: str | Path,
    settings: BatchSettings,
    ratios: tuple[float, ...],
    *,
    ray: bool = False,
    address: str | None = None,
    workers: int | None = None,
    gpus_per_worker: float = 1.0,
    log=None,
) -> dict:
    """Answer every item of ``manifest`` at every ratio that ``out`` does not hold yet, appending to ``out``;
    then summarise ``out`` into ``RESULTS.summary.json``. ``ray`` spreads the items over Ray actors: on the
    connected cluster, else the one at ``address``, else a new local one. Progress goes to ``log`` (default
    stderr). Returns the summary."""
    log = log or sys.stderr
    ratios = check_ratios(ratios)
    items = read_manifest(manifest)
    results = ResultsFile(out, settings.recorded(), manifest)  # held open and locked until the job ends
    try:
        if results.broken:
            print(
                f"{out}: lines {results.broken} are incomplete (an interrupted write); their items run again", file=log
            )
        pending = []
        for item in items:
            missing = tuple(ratio for ratio in ratios if (item.id, ratio) not in results.done)
            if missing:
                pending.append((item, missing))
        print(f"{len(items)} items, {len(items) - len(pending)} already in {out}, {len(pending)} to run", file=log)
        if pending:
            if ray:
                from .on_ray import ray_answers

                answers = ray_answers(settings, by_video(pending), address, workers, gpus_per_worker, log)
            else:
                answers = _local_answers(settings, by_video(pending))
            progress = Progress(len(pending), log)
            for group in answers:
                for records in group:
                    results.append(records)
                failed = sum(any(record["error"] is not None for record in records) for records in group)
                progress.advance(len(group), failed)
            print(progress.finished(), file=log)
        summary = summarize(read_results(out)[0])
        write_summary(summary_path(out), summary)
    finally:
        results.close()
    return summary
