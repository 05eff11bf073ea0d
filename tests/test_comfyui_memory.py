"""The pack's models under the real ComfyUI's memory management (COMFYUI_PATH; see tests/comfyui_memory_probe.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import required_or_skip, write_square_video

from vcast_core.random_checkpoint import write_random_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    comfyui = os.environ.get("COMFYUI_PATH")
    if not comfyui:
        required_or_skip("VCAST_REQUIRE_COMFYUI", "COMFYUI_PATH is not set", "see docs/development.md")
    home = tmp_path_factory.mktemp("comfyui-memory")
    write_random_checkpoint(home / "models" / "LLM" / "first", "qwen3_vl")
    write_random_checkpoint(home / "models" / "VLM" / "second", "llava_onevision")
    (home / "input").mkdir()
    write_square_video(home / "input" / "clip.mp4")
    probe = [sys.executable, str(ROOT / "tests" / "comfyui_memory_probe.py"), comfyui, str(home)]
    environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")  # COMFYUI_PATH may be read-only
    result = subprocess.run(probe, cwd=home, capture_output=True, text=True, env=environment, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_loading_a_second_model_releases_the_first(report):
    sizes = report["sizes"]
    assert report["after loading first"] == {"first": sizes["first"]}
    assert report["after loading second"] == {"second": sizes["second"]}


def test_a_node_that_uses_a_model_has_comfyui_load_it_and_unload_models_releases_it(report):
    assert report["after encoding with first"] == {
        "first": report["sizes"]["first"],
        "second": report["sizes"]["second"],
    }
    assert report["after unload_all_models"] == {}


def test_out_of_memory_unloads_the_other_models_and_runs_again(report):
    once = report["out of memory once"]
    assert once == {"vision tower calls": 2, "same tokens": True, "booked after": {"first": report["sizes"]["first"]}}
    twice = report["out of memory twice"]
    assert twice["comfyui sees out of memory"] and twice["vision tower calls"] == 2
    assert "ran out of memory encoding 4 frames" in twice["message"]
