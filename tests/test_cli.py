import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from vcast_core import allocate_budget
from vcast_core.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_default_run_prunes_the_bundled_synthetic_clip(capsys):
    assert main(["policy"]) == 0
    out = capsys.readouterr().out
    assert "T=48 frames x P=64 tokens" in out
    assert "768 of 3072 tokens kept" in out
    assert len([line for line in out.splitlines() if line.strip()[:1].isdigit()]) == 48


def test_features_file_and_save(tmp_path, capsys):
    features = torch.randn(6, 10, 4, generator=torch.Generator().manual_seed(3))
    source, saved = tmp_path / "feats.safetensors", tmp_path / "out.safetensors"
    save_file({"features": features}, source)
    argv = ["policy", "--features", str(source), "--ratio", "0.5", "--allocator", "segment", "--min-segments", "3"]
    assert main([*argv, "--save", str(saved)]) == 0
    result = load_file(saved)
    expected = allocate_budget(features, 0.5, "segment", min_segments=3)
    assert torch.equal(result["budget"], expected)
    assert result["kept"].sum(dim=1).tolist() == expected.tolist()
    assert main([*argv, "--save", str(saved)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys):
    not_safetensors = tmp_path / "clip.safetensors"
    not_safetensors.write_bytes(b"\x00garbage")
    cases = [
        (["policy", "--ratio", "0"], "ratio must be a number in (0, 1]"),
        (["policy", "--features", str(tmp_path / "missing.safetensors")], "does not exist"),
        (["policy", "--features", str(not_safetensors)], "is not a readable .safetensors file"),
        (["policy", "--allocator", "uniform", "--tau", "0.5"], "--tau applies to method 'curvature'"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_module_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "vcast_core", "policy", "--selector", "divprune"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "selector divprune" in result.stdout
