"""The pack inside a real ComfyUI, over its HTTP API: it loads, lists every node, runs every example workflow.

Needs COMFYUI_PATH (see tests/comfyui_server.py); CI sets it. Example:
COMFYUI_PATH=~/ComfyUI python -m pytest tests/test_comfyui_server.py
"""

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from comfyui_server import OTHER_MODEL, PACK_FOLDER, TINY_MODEL
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
    assert len(nodes) == 19, sorted(nodes)
    assert "IMPORT FAILED" not in "".join(line for line in comfyui.log.read_text().splitlines() if "vcast" in line)
    assert info["VCast_LoadVideoLLM"]["input"]["required"]["model"][1]["options"] == [TINY_MODEL, OTHER_MODEL]
    templates = comfyui.get("/api/workflow_templates")
    assert sorted(templates[PACK_FOLDER]) == sorted(path.stem for path in WORKFLOWS)
    assert f"/extensions/{PACK_FOLDER}/vcast_results.js" in comfyui.get("/extensions")


def test_every_node_has_a_help_page_where_the_frontend_looks(comfyui):
    """The frontend's node help fetches /extensions/<pack folder>/docs/<node id>.md."""
    for node_id in (name for name in comfyui.get("/object_info") if name.startswith("VCast_")):
        with urllib.request.urlopen(f"{comfyui.url}/extensions/{PACK_FOLDER}/docs/{node_id}.md") as response:
            page = response.read().decode()
        title = comfyui.get(f"/object_info/{node_id}")[node_id]["display_name"]
        assert page.startswith(f"# {title}\n") and "## Inputs" in page


def run_prompt(comfyui, prompt: dict) -> dict:
    """Queue ``prompt`` and wait for its history entry; it must succeed."""
    prompt_id = comfyui.post("/prompt", {"prompt": prompt, "client_id": "vcast-test"})["prompt_id"]
    for _ in range(600):
        history = comfyui.get(f"/history/{prompt_id}").get(prompt_id)
        if history and history["status"].get("completed") is not None:
            break
        time.sleep(0.5)
    assert history["status"]["status_str"] == "success", history["status"]
    return history


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_example_workflow_runs_end_to_end(comfyui, path):
    info = comfyui.get("/object_info")
    workflow = json.loads(path.read_text())
    outputs = run_prompt(comfyui, prompt_for(path, info))["outputs"]
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


def test_unload_models_releases_the_model_and_the_next_run_loads_it_again(comfyui):
    """The loaded model is one of ComfyUI's models: a run that uses it while it is loaded moves nothing, the
    "Unload models" endpoint unloads it, and the next run has ComfyUI load it again ("Requested to load")."""
    prompt = prompt_for(
        ROOT / "workflows" / "Video question answering with token pruning.json", comfyui.get("/object_info")
    )
    generate = next(node for node in prompt.values() if node["class_type"] == "VCast_PrefillGenerate")

    def loads_after_asking(question: str) -> int:
        generate["inputs"]["prompt"] = question  # only the answer runs again; the model comes from the cache
        run_prompt(comfyui, prompt)
        return comfyui.log.read_text().count("Requested to load _Weights")

    loaded = loads_after_asking("What happens first?")
    assert loads_after_asking("What happens next?") == loaded
    comfyui.post("/free", {"unload_models": True})
    time.sleep(3)  # ComfyUI's queue worker applies the flag between prompts
    assert loads_after_asking("What happens last?") == loaded + 1
