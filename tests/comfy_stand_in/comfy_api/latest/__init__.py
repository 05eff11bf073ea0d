"""Stand-in for ``comfy_api.latest``: the V3 names the V-CAST nodes use, recording what they are given."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import SimpleNamespace


class ComfyExtension:
    async def on_load(self) -> None: ...

    async def get_node_list(self) -> list: ...


# The keyword arguments ComfyUI 0.3.64's V3 inputs accept (beyond id, optional, tooltip, default).
OPTIONS = {
    "display_name",
    "lazy",
    "min",
    "max",
    "step",
    "round",
    "display_mode",
    "multiline",
    "placeholder",
    "dynamic_prompts",
    "options",
    "upload",
    "image_folder",
    "remote",
    "control_after_generate",
    "socketless",
    "force_input",
    "multiselect",
}


class _Input:
    def __init__(self, id: str, optional: bool = False, tooltip: str | None = None, default=None, **options):
        unknown = set(options) - OPTIONS
        if unknown:
            raise TypeError(f"input {id!r}: ComfyUI's V3 inputs take no {sorted(unknown)}")
        self.id, self.optional, self.tooltip, self.default, self.options = id, optional, tooltip, default, options


class _Output:
    def __init__(self, id: str | None = None, display_name: str | None = None, tooltip: str | None = None, **_):
        self.id, self.display_name, self.tooltip = id, display_name, tooltip


def _socket(io_type: str, widget: bool):
    return type(
        io_type,
        (),
        {
            "io_type": io_type,
            "widget": widget,
            "Input": type("Input", (_Input,), {"io_type": io_type, "widget": widget}),
            "Output": type("Output", (_Output,), {"io_type": io_type}),
        },
    )


class UploadType(str, enum.Enum):
    image = "image_upload"
    video = "video_upload"


@dataclass
class Schema:
    node_id: str
    display_name: str | None = None
    category: str = "sd"
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    hidden: list = field(default_factory=list)
    description: str = ""
    is_output_node: bool = False


class NodeOutput:
    def __init__(self, *values, ui=None):
        self.values, self.ui = values, ui


class ComfyNode:
    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError


io = SimpleNamespace(
    ComfyNode=ComfyNode,
    Schema=Schema,
    NodeOutput=NodeOutput,
    UploadType=UploadType,
    Custom=lambda io_type: _socket(io_type, widget=False),
    Boolean=_socket("BOOLEAN", widget=True),
    Int=_socket("INT", widget=True),
    Float=_socket("FLOAT", widget=True),
    String=_socket("STRING", widget=True),
    Combo=_socket("COMBO", widget=True),
    Image=_socket("IMAGE", widget=False),
    Mask=_socket("MASK", widget=False),
    Video=_socket("VIDEO", widget=False),
)


class _Preview:
    def __init__(self, value, **_):
        self.value = value


ui = SimpleNamespace(
    PreviewImage=type("PreviewImage", (_Preview,), {}), PreviewText=type("PreviewText", (_Preview,), {})
)


class _VideoFromFile:
    def __init__(self, file):
        self.file = file

    def get_stream_source(self):
        return self.file


class _VideoFromComponents:
    def __init__(self, components):
        self.components = components

    def get_components(self):
        return self.components


InputImpl = SimpleNamespace(VideoFromFile=_VideoFromFile, VideoFromComponents=_VideoFromComponents)
