"""The benchmark scripts run and report what they promise (figures are theirs to print, not ours to assert)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_speed_benchmark_reports_every_configuration_against_the_unpruned_run(tmp_path):
    out = tmp_path / "speed.json"
    command = [
        sys.executable,
        "bench/speed.py",
        "--config",
        "tiny",
        "--frames",
        "4,6",
        "--ratios",
        "1,0.5",
        "--allocators",
        "curvature,uniform",
        "--selectors",
        "dual_anchor",
        "--repeats",
        "1",
        "--new-tokens",
        "3",
        "--side",
        "64",
        "--json",
        str(out),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(r["frames"], r["ratio"], r["allocator"]) for r in rows] == [
        (4, 1.0, "unpruned"),
        (4, 0.5, "curvature"),
        (4, 0.5, "uniform"),
        (6, 1.0, "unpruned"),
        (6, 0.5, "curvature"),
        (6, 0.5, "uniform"),
    ]
    for row in rows:
        assert row["total_ms"] > row["prefill_ms"] > 0 and row["peak_memory_mb"] > 0
        base = next(r for r in rows if r["frames"] == row["frames"] and r["ratio"] == 1.0)
        assert row["prefill_vs_unpruned"] == row["prefill_ms"] / base["prefill_ms"]
        assert row["video_tokens_kept"] <= base["video_tokens_kept"]
    assert rows[1]["video_tokens_kept"] == rows[0]["video_tokens_kept"] // 2
    assert result.stdout.count("\n| 4 |") + result.stdout.count("\n| 6 |") == 6  # the markdown table
