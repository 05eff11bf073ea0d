"""Per-ratio summary of a results file: accuracy, agreement with ratio 1, and time and memory against ratio 1.

Everything is computed per id and summed in id order, so the order of the records does not matter.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path

from ..errors import InputError
from .answers import answer_key

TIME_PARTS = ("video_ms", "encode_ms", "policy_ms", "prefill_ms", "decode_ms")


def summary_path(results: str | Path) -> Path:
    """``RESULTS.summary.json`` beside ``RESULTS.jsonl``."""
    return Path(results).with_suffix(".summary.json")


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _total_ms(stats: dict) -> float:
    return sum(stats[part] for part in TIME_PARTS)


def summarize(records: list[dict]) -> dict:
    """One row per ratio, largest first (see the module docstring); ratio-1 comparisons pair records by id."""
    by_ratio: dict[float, dict[str, dict]] = defaultdict(dict)
    for record in records:
        by_ratio[record["ratio"]][record["id"]] = record
    answered = {ratio: {i: r for i, r in rows.items() if r["error"] is None} for ratio, rows in by_ratio.items()}
    baseline = answered.get(1.0, {})
    rows = []
    for ratio in sorted(by_ratio, reverse=True):
        ok = answered[ratio]
        scored = [ok[i]["correct"] for i in sorted(ok) if ok[i]["correct"] is not None]
        paired = [(ok[i], baseline[i]) for i in sorted(ok) if i in baseline]
        agree = [
            answer_key(r["prediction"], r["choice"]) == answer_key(b["prediction"], b["choice"]) for r, b in paired
        ]
        stats = [(r["stats"], b["stats"]) for r, b in paired]
        rows.append(
            dict(
                ratio=ratio,
                items=len(by_ratio[ratio]),
                errors=len(by_ratio[ratio]) - len(ok),
                scored=len(scored),
                accuracy=_mean([float(correct) for correct in scored]),
                paired_with_ratio_1=len(paired),
                agreement_with_ratio_1=_mean([float(same) for same in agree]),
                prefill_vs_ratio_1=_mean([s["prefill_ms"] / b["prefill_ms"] for s, b in stats]),
                total_time_vs_ratio_1=_mean([_total_ms(s) / _total_ms(b) for s, b in stats]),
                peak_memory_vs_ratio_1=_mean([s["peak_memory_mb"] / b["peak_memory_mb"] for s, b in stats]),
                mean_total_ms=_mean([_total_ms(ok[i]["stats"]) for i in sorted(ok)]),
            )
        )
    return dict(records=len(records), ratios=rows)


def _cell(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_table(summary: dict) -> str:
    """The summary as an aligned text table."""
    head = (
        "ratio",
        "items",
        "errors",
        "accuracy",
        "agreement with 1",
        "prefill / 1",
        "total time / 1",
        "peak memory / 1",
        "mean total ms",
    )
    lines = []
    for row in summary["ratios"]:
        accuracy = _cell(row["accuracy"])
        if row["scored"]:
            accuracy += f" ({round(row['accuracy'] * row['scored'])}/{row['scored']})"
        lines.append(
            (
                f"{row['ratio']:g}",
                str(row["items"]),
                str(row["errors"]),
                accuracy,
                _cell(row["agreement_with_ratio_1"]),
                _cell(row["prefill_vs_ratio_1"]),
                _cell(row["total_time_vs_ratio_1"]),
                _cell(row["peak_memory_vs_ratio_1"]),
                _cell(row["mean_total_ms"], 0),
            )
        )
    widths = [max(len(cells[c]) for cells in [head, *lines]) for c in range(len(head))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True)) for cells in [head, *lines]
    )


SUMMARY_FORMAT = "vcast-batch-summary"


def write_summary(path: Path, summary: dict) -> None:
    """Write ``summary`` to ``path`` whole or not at all: to a temporary file beside it, renamed over it. Never
    through a link, never over a file that is not such a summary."""
    if path.is_symlink():
        raise InputError(f"{path} is a link; the summary is not written through links (remove it and resume)")
    if path.exists():
        try:
            earlier = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            earlier = None
        if not (isinstance(earlier, dict) and earlier.get("format") == SUMMARY_FORMAT):
            raise InputError(
                f"{path} exists and is not a batch summary; move it away, then resume to write the summary"
            )
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(json.dumps({"format": SUMMARY_FORMAT, **summary}, indent=2) + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as err:
        Path(temporary).unlink(missing_ok=True)
        raise InputError(f"could not write the summary {path}: {err.strerror}; the results are complete") from None
