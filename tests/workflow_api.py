"""UI-format workflows (version 0.4) read against node definitions, and converted to ComfyUI's API format.

``info`` maps a node type to its definition as ComfyUI's ``/object_info`` gives it (``input``,
``input_order``, ``output``). A node's ``widgets_values`` are positional, in the order the frontend
(comfyui-frontend-package 1.27.10, ComfyUI 0.3.64's) creates its widgets:

1. one widget per input of ``input_order``, required then optional, unless it is a link-only type or
   ``forceInput``; an INT with ``control_after_generate`` (or, when that is unset, named ``seed`` or
   ``noise_seed``) is followed by its control widget ("fixed", "randomize", ...);
2. then the upload button of a required combo with an upload flag, whose value is the label
   ``"image"``: the frontend adds it as an extra required input ``upload``, which is not in
   ``input_order``, so it comes after every optional input.

``tests/test_comfyui_frontend.py`` checks this rule against freshly created nodes in that frontend.
The frontend does the conversion in JavaScript; ComfyUI's server only runs the API format.
"""

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UPLOAD_FLAGS = ("video_upload", "image_upload", "animated_image_upload")
CONTROL = "control_after_generate"
UPLOAD = "upload"
VIRTUAL_NODES = {"Note", "MarkdownNote"}  # drawn by the frontend only, never sent to the server


def node_inputs(definition: dict) -> list[tuple[str, str, bool, dict]]:
    """(name, type, is_widget, options) of every input, in ``input_order``: required, then optional."""
    order = definition.get("input_order") or {group: list(spec) for group, spec in definition["input"].items()}
    inputs = []
    for group in ("required", "optional"):
        for name in order.get(group, []):
            kind, options = ([*definition["input"][group][name], {}])[:2]
            kind = "COMBO" if isinstance(kind, list) else kind
            inputs.append((name, kind, kind in WIDGET_TYPES and not options.get("forceInput"), options))
    return inputs


def widget_names(definition: dict) -> list[str]:
    """The names of a node's serialised widgets, in the frontend's order (see the module docstring)."""
    names, upload = [], False
    for name, kind, is_widget, options in node_inputs(definition):
        if not is_widget:
            continue
        names.append(name)
        if kind == "INT" and options.get(CONTROL, name in ("seed", "noise_seed")):
            names.append(CONTROL)
        upload |= name in definition["input"].get("required", {}) and any(options.get(f) for f in UPLOAD_FLAGS)
    return names + [UPLOAD] * upload


def widget_values(node: dict, definition: dict) -> dict:
    """The node's widget values by name (the control and upload values included)."""
    names, values = widget_names(definition), node.get("widgets_values", [])  # a node without widgets has none
    if len(names) != len(values):
        raise ValueError(f"node {node['id']} ({node['type']}) has {len(values)} widget values, expected {names}")
    return dict(zip(names, values, strict=True))


def input_values(node: dict, definition: dict) -> dict:
    """What the server receives for the node's widgets: its inputs by name, without control and upload values."""
    values = widget_values(node, definition)
    return {name: value for name, value in values.items() if name not in (CONTROL, UPLOAD)}


def check_workflow(workflow: dict, info: dict) -> None:
    """Raise ValueError for unknown node types, wrong widget counts or links between mismatched types."""
    assert workflow["version"] == 0.4
    nodes = {node["id"]: node for node in workflow["nodes"]}
    for node in nodes.values():
        if node["type"] in VIRTUAL_NODES:
            continue
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
        if node["type"] in VIRTUAL_NODES:
            continue
        inputs = input_values(node, info[node["type"]])
        for socket in node["inputs"]:
            if socket["link"] is not None:
                _, source, source_slot, *_ = links[socket["link"]]
                inputs[socket["name"]] = [str(source), source_slot]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt
