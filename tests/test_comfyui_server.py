"""The pack inside a real ComfyUI: load, list every node, run the example workflows over HTTP.

Skipped unless COMFYUI_PATH points at a ComfyUI checkout whose requirements are installed in
this Python (ComfyUI is not on PyPI). Example:
COMFYUI_PATH=~/ComfyUI python -m pytest tests/test_comfyui_server.py
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import write_square_video
from workflow_api import check_workflow, to_api

from vcast_core.random_checkpoint import write_random_checkpoint

COMFYUI = os.environ.get("COMFYUI_PATH")
ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))
pytestmark = pytest.mark.skipif(not COMFYUI, reason="set COMFYUI_PATH to a ComfyUI checkout to run these")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def post(url: str, body: dict):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """ComfyUI on the CPU with this repository mounted as a custom-node folder and a tiny model in models/LLM."""
    home = tmp_path_factory.mktemp("comfyui-home")
    (home / "custom_nodes").mkdir()
    (home / "custom_nodes" / "comfyui-vcast").symlink_to(ROOT, target_is_directory=True)
    write_random_checkpoint(home / "models" / "LLM" / "tiny-qwen3", "qwen3_vl")
    (home / "input").mkdir()
    write_square_video(home / "input" / "clip.mp4", frames=40, width=224, height=160)
    config = home / "extra_model_paths.yaml"
    config.write_text(f"vcast:\n  base_path: {home}\n  custom_nodes: custom_nodes\n  LLM: models/LLM\n")
    port = free_port()
    command = [
        sys.executable,
        "main.py",
        "--cpu",
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--extra-model-paths-config",
        str(config),
        "--input-directory",
        str(home / "input"),
        "--output-directory",
        str(home / "output"),
        "--temp-directory",
        str(home / "temp"),
    ]
    log = open(home / "comfyui.log", "w")
    process = subprocess.Popen(command, cwd=COMFYUI, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                get(f"{base}/system_stats")
                break
            except OSError:
                assert process.poll() is None, (home / "comfyui.log").read_text()[-3000:]
                time.sleep(0.5)
        yield base, home
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_pack_loads_and_lists_every_node(server):
    base, home = server
    info = get(f"{base}/object_info")
    nodes = {name for name in info if name.startswith("VCast_")}
    assert len(nodes) == 16, sorted(nodes)
    assert "IMPORT FAILED" not in "".join(
        line for line in (home / "comfyui.log").read_text().splitlines() if "vcast" in line
    )
    assert info["VCast_LoadVideoLLM"]["input"]["required"]["model"][1]["options"] == ["tiny-qwen3"]
    templates = get(f"{base}/api/workflow_templates")
    assert sorted(templates["comfyui-vcast"]) == sorted(path.stem for path in WORKFLOWS)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_example_workflow_runs_end_to_end(server, path):
    base, _ = server
    info = get(f"{base}/object_info")
    workflow = json.loads(path.read_text())
    check_workflow(workflow, info)
    prompt_id = post(f"{base}/prompt", {"prompt": to_api(workflow, info), "client_id": "vcast-test"})["prompt_id"]
    for _ in range(600):
        history = get(f"{base}/history/{prompt_id}").get(prompt_id)
        if history and history["status"].get("completed") is not None:
            break
        time.sleep(0.5)
    assert history["status"]["status_str"] == "success", history["status"]
    outputs = history["outputs"]
    types = {str(node["id"]): node["type"] for node in workflow["nodes"]}
    answers = [out["text"] for node_id, out in outputs.items() if types[node_id] == "VCast_PrefillGenerate"]
    assert answers and all(text and "video tokens kept" in text[0] for text in answers)
    previews = [out["images"] for node_id, out in outputs.items() if types[node_id].endswith(("Allocator", "Selector"))]
    assert previews and all(images and images[0]["filename"].endswith(".png") for images in previews)


def test_a_video_outside_comfyuis_folders_is_refused_before_running(server):
    base, _ = server
    info = get(f"{base}/object_info")
    workflow = json.loads((ROOT / "workflows" / "vcast_video_qa.json").read_text())
    prompt = to_api(workflow, info)
    loader = next(node for node in prompt.values() if node["class_type"] == "VCast_LoadVideo")
    loader["inputs"]["video"] = "../../../etc/hostname"
    with pytest.raises(urllib.error.HTTPError) as refused:
        post(f"{base}/prompt", {"prompt": prompt})
    assert refused.value.code == 400 and "outside ComfyUI's input folders" in refused.value.read().decode()
