"""The pack inside a real ComfyUI, over its HTTP API: it loads, lists every node, runs every example workflow.

Needs COMFYUI_PATH (see tests/comfyui_server.py); CI sets it. Example:
COMFYUI_PATH=~/ComfyUI python -m pytest tests/test_comfyui_server.py
"""

import json
import time
import urllib.error
from pathlib import Path

import pytest
from comfyui_server import PACK_FOLDER, TINY_MODEL
from workflow_api import check_workflow, to_api

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))


def prompt_for(path: Path, info: dict) -> dict:
    """The API prompt of a shipped workflow, with the tiny checkpoint picked in Load VideoLLM."""
    workflow = json.loads(path.read_text())
    check_workflow(workflow, info)
    prompt = to_api(workflow, info)
    for node in prompt.values():
        if node["class_type"] == "VCast_LoadVideoLLM":
            node["inputs"]["model"] = TINY_MODEL
    return prompt


def test_pack_loads_and_lists_every_node(comfyui):
    info = comfyui.get("/object_info")
    nodes = {name for name in info if name.startswith("VCast_")}
    assert len(nodes) == 16, sorted(nodes)
    assert "IMPORT FAILED" not in "".join(line for line in comfyui.log.read_text().splitlines() if "vcast" in line)
    assert info["VCast_LoadVideoLLM"]["input"]["required"]["model"][1]["options"] == [TINY_MODEL]
    templates = comfyui.get("/api/workflow_templates")
    assert sorted(templates[PACK_FOLDER]) == sorted(path.stem for path in WORKFLOWS)
    assert f"/extensions/{PACK_FOLDER}/vcast_results.js" in comfyui.get("/extensions")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_example_workflow_runs_end_to_end(comfyui, path):
    info = comfyui.get("/object_info")
    workflow = json.loads(path.read_text())
    prompt_id = comfyui.post("/prompt", {"prompt": prompt_for(path, info), "client_id": "vcast-test"})["prompt_id"]
    for _ in range(600):
        history = comfyui.get(f"/history/{prompt_id}").get(prompt_id)
        if history and history["status"].get("completed") is not None:
            break
        time.sleep(0.5)
    assert history["status"]["status_str"] == "success", history["status"]
    outputs = history["outputs"]
    types = {str(node["id"]): node["type"] for node in workflow["nodes"]}
    answers = [out["text"] for node_id, out in outputs.items() if types[node_id] == "VCast_PrefillGenerate"]
    assert answers and all(len(text) == 2 and "video tokens kept" in text[1] for text in answers)
    previews = [out["images"] for node_id, out in outputs.items() if types[node_id].endswith(("Allocator", "Selector"))]
    assert previews and all(images and images[0]["filename"].endswith(".png") for images in previews)


def test_a_video_outside_comfyuis_folders_is_refused_before_running(comfyui):
    info = comfyui.get("/object_info")
    prompt = prompt_for(ROOT / "workflows" / "Video question answering with token pruning.json", info)
    loader = next(node for node in prompt.values() if node["class_type"] == "VCast_LoadVideo")
    loader["inputs"]["video"] = "../../../etc/hostname"
    with pytest.raises(urllib.error.HTTPError) as refused:
        comfyui.post("/prompt", {"prompt": prompt})
    assert refused.value.code == 400 and "outside ComfyUI's input folders" in refused.value.read().decode()
