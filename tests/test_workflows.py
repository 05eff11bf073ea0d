"""The example workflows against the node definitions of the pack, read through the ComfyUI stand-in."""

import json
from pathlib import Path

import pytest
from workflow_api import check_workflow, to_api

WORKFLOWS = sorted((Path(__file__).resolve().parents[1] / "workflows").glob("*.json"))
CORE_NODES = {  # ComfyUI 0.3.64's /object_info for the core nodes the workflows use
    "PreviewImage": {"input": {"required": {"images": ["IMAGE", {}]}}, "output": []},
    "LoadVideo": {"input": {"required": {"file": ["COMBO", {"video_upload": True}]}}, "output": ["VIDEO"]},
    "GetVideoComponents": {"input": {"required": {"video": ["VIDEO", {}]}}, "output": ["IMAGE", "AUDIO", "FLOAT"]},
}


def definition(node) -> dict:
    """What /object_info says of a node, rebuilt from its schema as the stand-in records it."""
    schema = node.define_schema()
    groups = {"required": {}, "optional": {}}
    for item in schema.inputs:
        options = dict(item.options, **({"forceInput": True} if item.options.get("force_input") else {}))
        upload = item.options.get("upload")
        if upload is not None:
            options[upload.value] = True
        groups["optional" if item.optional else "required"][item.id] = [item.io_type, options]
    order = {group: list(spec) for group, spec in groups.items()}
    return {"input": groups, "input_order": order, "output": [output.io_type for output in schema.outputs]}


@pytest.fixture(scope="module")
def info(comfy_home):
    _, nodes = comfy_home
    return {**CORE_NODES, **{node_id: definition(node) for node_id, node in nodes.items()}}


def test_there_are_four_example_workflows_each_with_a_thumbnail_and_a_note():
    assert [path.name for path in WORKFLOWS] == [
        "Ask about frames from any node.json",
        "Compare token pruning policies.json",
        "Save and reload a pruned token set.json",
        "Video question answering with token pruning.json",
    ]
    for path in WORKFLOWS:
        assert path.with_suffix(".jpg").is_file(), f"{path.stem}: the template browser shows <name>.jpg"
        notes = [node for node in json.loads(path.read_text())["nodes"] if node["type"] == "MarkdownNote"]
        assert len(notes) == 1 and "hf download Qwen/Qwen3-VL-2B-Instruct" in notes[0]["widgets_values"][0]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_workflow_matches_the_nodes(info, path):
    workflow = json.loads(path.read_text())
    check_workflow(workflow, info)
    prompt = to_api(workflow, info)
    assert {node["class_type"] for node in prompt.values()} <= set(info)
    assert any(node["class_type"] == "VCast_PrefillGenerate" for node in prompt.values())


def test_a_broken_workflow_is_caught(info):
    workflow = json.loads(WORKFLOWS[-1].read_text())
    workflow["nodes"][0]["widgets_values"].pop()
    with pytest.raises(ValueError, match="widget values, expected"):
        check_workflow(workflow, info)
    workflow = json.loads(WORKFLOWS[-1].read_text())
    workflow["links"][0][5] = "IMAGE"
    with pytest.raises(ValueError, match="link 1"):
        check_workflow(workflow, info)
