"""Inside the real ComfyUI's modules (no server): load two models with the pack's nodes and report, from ComfyUI's
own memory accounting, which ones it holds loaded at each step. Run by tests/test_comfyui_memory.py:

    python tests/comfyui_memory_probe.py COMFYUI_PATH HOME

HOME holds models/LLM/first, models/VLM/second and input/clip.mp4. ComfyUI runs with --cpu and
--reserve-vram 1000, so it always believes memory is short and frees what it can, as on a full GPU.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_comfyui(comfyui: str, home: str):
    sys.argv = ["main.py", "--cpu", "--reserve-vram", "1000", "--base-directory", home]
    sys.path.insert(0, comfyui)
    import comfy.options

    comfy.options.enable_args_parsing()
    import comfy.model_management

    spec = importlib.util.spec_from_file_location(
        "comfyui_vcast", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    pack = importlib.util.module_from_spec(spec)
    sys.modules["comfyui_vcast"] = pack
    spec.loader.exec_module(pack)
    nodes = asyncio.run(asyncio.run(pack.comfy_entrypoint()).get_node_list())
    return comfy.model_management, {node.define_schema().node_id: node for node in nodes}


def main() -> None:
    management, nodes = start_comfyui(*sys.argv[1:3])
    from comfyui_vcast.nodes import comfy_memory

    names = {}

    def booked() -> dict:
        """The pack's models in ComfyUI's list of loaded models, with the bytes ComfyUI counts as loaded."""
        return {
            names[id(entry.model)]: entry.model.loaded_size()
            for entry in management.current_loaded_models
            if id(entry.model) in names
        }

    def load(entry: str, name: str):
        llm = nodes["VCast_LoadVideoLLM"].execute(model=entry, dtype="float32", device="cpu").args[0]
        names[id(comfy_memory._patchers[llm])] = name
        return llm

    report = {}
    first = load("LLM/first", "first")
    report["after loading first"] = booked()
    second = load("VLM/second", "second")
    report["after loading second"] = booked()
    report["sizes"] = {
        "first": comfy_memory._patchers[first].model_size(),
        "second": comfy_memory._patchers[second].model_size(),
    }

    video = dict(video="clip.mp4", backend="pyav", fps=2.0, frames=4, max_frames=64, start=0.0, end=0.0)
    clip = nodes["VCast_LoadVideo"].execute(**video, max_pixels=0, max_memory_gb=8.0).args[0]
    encode = nodes["VCast_EncodeVisionTokens"]
    expected = encode.execute(model=first, clip=clip).args[0]
    report["after encoding with first"] = booked()
    management.unload_all_models()  # what ComfyUI's "Unload models" (POST /free) runs
    report["after unload_all_models"] = booked()

    visual = first.model.model.visual
    forward, calls = visual.forward, []

    def short_of_memory(times):
        def flaky(*args, **kwargs):
            calls.append(1)
            if len(calls) <= times:
                raise management.OOM_EXCEPTION("CUDA out of memory. Tried to allocate 20.00 GiB (injected)")
            return forward(*args, **kwargs)

        return flaky

    load("VLM/second", "second")  # second is booked again, then first runs out of memory once
    visual.forward = short_of_memory(1)
    tokens = encode.execute(model=first, clip=clip).args[0]
    report["out of memory once"] = {
        "vision tower calls": len(calls),
        "same tokens": bool((tokens.features == expected.features).all()),
        "booked after": booked(),
    }
    calls.clear()
    visual.forward = short_of_memory(2)
    try:
        encode.execute(model=first, clip=clip)
        report["out of memory twice"] = "no error"
    except Exception as err:  # noqa: BLE001 - the probe reports what ComfyUI would see
        report["out of memory twice"] = {
            "comfyui sees out of memory": isinstance(err, management.OOM_EXCEPTION),
            "message": str(err),
            "vision tower calls": len(calls),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
