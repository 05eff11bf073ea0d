"""UI-format workflows (version 0.4) read against node definitions, and converted to ComfyUI's API format.

``info`` maps a node type to its definition as ComfyUI's ``/object_info`` gives it (``input``,
``input_order``, ``output``). The frontend does this conversion in JavaScript; ComfyUI's server
only runs the API format.
"""

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UPLOAD_FLAGS = ("video_upload", "image_upload")


def node_inputs(definition: dict) -> list[tuple[str, str, bool, dict]]:
    """(name, type, is_widget, options) of every input, in the order the frontend lays widgets out."""
    order = definition.get("input_order") or {group: list(spec) for group, spec in definition["input"].items()}
    inputs = []
    for group in ("required", "optional"):
        for name in order.get(group, []):
            kind, options = ([*definition["input"][group][name], {}])[:2]
            kind = "COMBO" if isinstance(kind, list) else kind
            inputs.append((name, kind, kind in WIDGET_TYPES and not options.get("forceInput"), options))
    return inputs


def widget_values(node: dict, definition: dict) -> dict:
    """The node's widget values by input name.

    An upload button after a combo and a "control after generate" choice after a seed each add
    one more value that belongs to no input.
    """
    slots, position = {}, 0
    for name, _, is_widget, options in node_inputs(definition):
        if is_widget:
            slots[name] = position
            position += 1 + any(options.get(flag) for flag in (*UPLOAD_FLAGS, "control_after_generate"))
    if position != len(node["widgets_values"]):
        count = len(node["widgets_values"])
        raise ValueError(f"node {node['id']} ({node['type']}) has {count} widget values, expected {position}")
    return {name: node["widgets_values"][slot] for name, slot in slots.items()}


def check_workflow(workflow: dict, info: dict) -> None:
    """Raise ValueError for unknown node types, wrong widget counts or links between mismatched types."""
    assert workflow["version"] == 0.4
    nodes = {node["id"]: node for node in workflow["nodes"]}
    for node in nodes.values():
        if node["type"] not in info:
            raise ValueError(f"node {node['id']} has unknown type {node['type']}")
        widget_values(node, info[node["type"]])
    for link_id, source, source_slot, target, target_slot, kind in workflow["links"]:
        produced = info[nodes[source]["type"]]["output"][source_slot]
        wanted = nodes[target]["inputs"][target_slot]
        declared = {name: k for name, k, _, _ in node_inputs(info[nodes[target]["type"]])}
        if not (produced == kind == wanted["type"] == declared[wanted["name"]]) or wanted["link"] != link_id:
            raise ValueError(f"link {link_id}: {produced} into {wanted['name']} ({declared[wanted['name']]})")


def to_api(workflow: dict, info: dict) -> dict:
    """The API-format prompt of a UI workflow."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        inputs = widget_values(node, info[node["type"]])
        for socket in node["inputs"]:
            if socket["link"] is not None:
                _, source, source_slot, *_ = links[socket["link"]]
                inputs[socket["name"]] = [str(source), source_slot]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt
