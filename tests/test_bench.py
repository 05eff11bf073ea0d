"""The benchmark scripts run and report what they promise (figures are theirs to print, not ours to assert)."""

import json
import subprocess
import sys
from pathlib import Path

from conftest import ray_or_skip

ROOT = Path(__file__).resolve().parents[1]


def test_batch_benchmark_reports_each_worker_count(tmp_path):
    ray_or_skip()
    out = tmp_path / "batch.json"
    command = [sys.executable, "bench/batch.py", "--items", "6", "--workers", "0,1", "--frames", "4"]
    command += ["--max-new-tokens", "2", "--json", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(row["workers"], row["items"], row["errors"]) for row in rows] == [(0, 6, 0), (1, 6, 0)]
    assert all(row["per_minute"] > 0 and row["per_minute_after_first"] > 0 for row in rows)
    assert "| none (no Ray) | 6 | 0 |" in result.stdout and "| 1 | 6 | 0 |" in result.stdout
    assert "6 items, 3 per video" in result.stdout


def test_questions_benchmark_compares_together_with_one_by_one(tmp_path):
    out = tmp_path / "questions.json"
    command = [sys.executable, "bench/questions.py", "--config", "tiny", "--frames", "4", "--counts", "1,3"]
    command += ["--ratios", "1,0.5", "--repeats", "1", "--new-tokens", "2", "--side", "64", "--json", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(row["ratio"], row["questions"]) for row in rows] == [(1.0, 1), (1.0, 3), (0.5, 1), (0.5, 3)]
    for row in rows:
        assert row["together_ms"] > 0 and row["one_by_one_ms"] > 0
        assert row["per_answer_together_ms"] == row["together_ms"] / row["questions"]
    assert "| one by one / together |" in result.stdout


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
    assert all(row["prefill_spread"] >= 0 and row["generation_spread"] >= 0 for row in rows)
    assert result.stdout.count("\n| 4 |") + result.stdout.count("\n| 6 |") == 6  # the markdown table
    assert "interleaved rounds" in result.stdout


def test_memory_estimate_counts_the_published_shapes():
    """Weights from the meta-device parameter count; video tokens by the processors' frame-size rule."""
    result = subprocess.run(
        [sys.executable, "bench/memory_estimate.py"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("| Qwen2.5-VL-7B")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    rows, by_quantization = rows[:4], rows[4]
    assert [row[3] for row in rows] == ["23040"] * 4  # 32 groups of 720 tokens, 720p and 1080p, both ratios
    weights, total_unpruned, total_pruned = float(rows[0][4]), float(rows[0][9]), float(rows[1][9])
    assert weights == 16.58 and weights < total_pruned < total_unpruned
    # none, 8bit, 4bit: weights and total at ratio 0.25; quantizing only the language model's linear layers
    assert [float(cell) for cell in by_quantization[1:]] == [16.58, total_pruned, 10.06, 11.39, 7.2, 8.53]


def test_speed_benchmark_takes_the_llava_onevision_family(tmp_path):
    out = tmp_path / "speed.json"
    command = [sys.executable, "bench/speed.py", "--config", "tiny", "--family", "llava_onevision", "--frames", "2"]
    command += ["--ratios", "1,0.5", "--allocators", "curvature", "--selectors", "dual_anchor", "--repeats", "1"]
    command += ["--new-tokens", "2", "--side", "64", "--json", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["model"] == "llava_onevision tiny (random weights)"
    assert [row["video_tokens_kept"] for row in report["rows"]] == [2 * 196, 196]


def fidelity_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fidelity", ROOT / "bench" / "fidelity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fidelity_proxies_by_hand():
    import torch

    fidelity = fidelity_module()
    # sampled source frames 0, 10, 20, 30, 40; cuts at 15 and 40: frames 1|2 and 3|4 straddle them
    assert fidelity.frames_at_cuts((0, 10, 20, 30, 40), (15, 40)) == [1, 2, 3, 4]
    assert fidelity.frames_at_cuts((0, 10), (5,)) == [0, 1]
    kept = torch.zeros(1, 196, dtype=torch.bool)
    kept[0, 0] = True  # only the top-left patch kept: the mean distance to it over the other 195 patches
    rows, cols = torch.meshgrid(torch.arange(14.0), torch.arange(14.0), indexing="ij")
    expected = (rows**2 + cols**2).sqrt().flatten()[1:].mean().item()
    assert abs(fidelity.coverage(kept) - expected) < 1e-5
    assert fidelity.coverage(torch.ones(2, 196, dtype=torch.bool)) == 0.0
    features = torch.randn(3, 196, 8)
    assert fidelity.fidelity(features, torch.ones(3, 196, dtype=torch.bool)) < 1e-6


def test_semantic_retention_by_hand():
    import torch

    fidelity = fidelity_module()
    # sampled source frames 0, 10, 20, 30, 40 and cuts at 15 and 35: shots {0, 1}, {2, 3}, {4}
    assert fidelity.shots_of((0, 10, 20, 30, 40), (15, 35)) == [[0, 1], [2, 3], [4]]
    full = torch.log_softmax(torch.tensor([[4.0, 0, 0], [4, 0, 0], [0, 4, 0], [0, 4, 0], [0, 0, 4]]), dim=-1)
    same = fidelity.semantic_retention(full, full, [[0, 1], [2, 3], [4]])
    assert same == dict(top1_agreement=1.0, kl_divergence=0.0, shot_recall=1.0)
    # frame 1 keeps its shot's class through frame 0's flip; shot {4} loses its only frame's class
    pruned = full[[2, 0, 2, 3, 0]]
    scores = fidelity.semantic_retention(full, pruned, [[0, 1], [2, 3], [4]])
    assert abs(scores["top1_agreement"] - 0.6) < 1e-6 and scores["shot_recall"] == 2 / 3
    expected_kl = (full.exp() * (full - pruned)).sum(dim=-1).mean().item()
    assert abs(scores["kl_divergence"] - expected_kl) < 1e-6
    assert fidelity.semantic_retention(full, pruned, [])["shot_recall"] is None
    kept = torch.tensor([[True, False], [False, False]])  # a frame keeping nothing averages to zero, not NaN
    model = torch.nn.Module()
    model._fc = torch.nn.Linear(3, 4)
    assert torch.isfinite(fidelity.class_log_probs(model, torch.randn(2, 2, 3), kept)).all()
