import asyncio
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from vcast_core.random_checkpoint import write_random_checkpoint

ROOT = Path(__file__).resolve().parents[1]
STAND_IN = Path(__file__).resolve().parent / "comfy_stand_in"

settings.register_profile("default", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_report_header(config):
    import torch
    import transformers

    return f"torch {torch.__version__}, transformers {transformers.__version__}"


def pytest_sessionfinish(session, exitstatus):
    """A run in which nothing passed (no tests, or all skipped) is a failure, not a green run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if exitstatus == 0 and reporter is not None and not reporter.stats.get("passed"):
        session.exitstatus = 5


def required_or_skip(variable: str, reason: str, fix: str):
    """Skip for ``reason``, or fail where CI sets ``variable`` to say that this part must run."""
    if os.environ.get(variable):
        pytest.fail(f"{variable} is set but {reason}: {fix}")
    pytest.skip(f"{reason} ({fix})")


def torchvision_or_skip():
    """Skip where torchvision is missing (transformers' video processors need it); CI's torchvision stage sets
    VCAST_REQUIRE_TORCHVISION so that there it fails instead."""
    try:
        import torchvision  # noqa: F401
    except ImportError:
        required_or_skip(
            "VCAST_REQUIRE_TORCHVISION", "torchvision is not installed", "transformers' video processors need it"
        )


def ray_or_skip():
    """Ray, or a skip where it is not installed; CI sets VCAST_REQUIRE_RAY so that there it fails instead."""
    try:
        import ray
    except ImportError:
        required_or_skip("VCAST_REQUIRE_RAY", "ray is not installed", "pip install -r tests/requirements.txt")
    return ray


def write_square_video(path, frames=50, width=96, height=64, fps=25, keyframe_every=250):
    """An H.264 clip: a bright square moving right by one pixel a frame over a dark gradient."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = keyframe_every
        for index in range(frames):
            frame = np.tile(np.linspace(0, 80, width, dtype=np.uint8)[None, :, None], (height, 1, 3))
            frame[20:40, index % width : index % width + 20] = 230
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


SHOT_SOURCES = (  # FFmpeg's own test sources, one per shot: what a user sees in the previews
    "mandelbrot=size={size}:rate={fps}",
    "testsrc2=size={size}:rate={fps}",
    "cellauto=size={size}:rate={fps}:rule=110",
    "gradients=size={size}:rate={fps}:speed=0.02",
)


def write_shots_video(path, seconds_per_shot=2.0, width=320, height=240, fps=25):
    """An H.264 clip of four shots made by FFmpeg's test sources (through PyAV), with hard cuts between them."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for source in SHOT_SOURCES:
            name, options = source.format(size=f"{width}x{height}", fps=fps).split("=", 1)
            graph = av.filter.Graph()
            sink = graph.add("buffersink")
            graph.add(name, options).link_to(sink)
            graph.configure()
            for _ in range(round(seconds_per_shot * fps)):
                frame = av.VideoFrame.from_ndarray(sink.pull().to_ndarray(format="rgb24"), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# the widgets of VCast_PrefillGenerate, as a graph passes them (override what a test is about)
GENERATE_WIDGETS = dict(prompt="What happens?", system="", max_new_tokens=5, temperature=0.0, top_p=1.0, seed=0)


def damaged_copy(checkpoint, target, remove=(), config=None):
    """A copy of a checkpoint folder at ``target`` without the files matching ``remove``, or with another
    config.json."""
    shutil.copytree(checkpoint, target)
    for pattern in remove:
        for path in target.glob(pattern):
            path.unlink()
    if config is not None:
        (target / "config.json").write_text(json.dumps(config))
    return target


@pytest.fixture(scope="session")
def clip_path(tmp_path_factory):
    """2 seconds at 25 fps, 96x64."""
    return write_square_video(tmp_path_factory.mktemp("video") / "square.mp4")


@pytest.fixture(scope="module")
def pack():
    """The repository imported as ComfyUI imports a custom-node folder, with the stand-in as ComfyUI."""
    sys.path.insert(0, str(STAND_IN))
    spec = importlib.util.spec_from_file_location(
        "vcast_pack", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["vcast_pack"] = module
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(str(STAND_IN))
    for name in [
        name for name in sys.modules if name.split(".")[0] in ("vcast_pack", "comfy_api", "comfy", "folder_paths")
    ]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def comfy_home(pack, tmp_path_factory):
    """A ComfyUI home (a clip in input/, a tiny Qwen3-VL and LLaVA-OneVision in models/LLM/) and the nodes by id."""
    import folder_paths

    home = tmp_path_factory.mktemp("comfyui")
    folder_paths.use_base(str(home))
    write_square_video(home / "input" / "clip.mp4", frames=40, width=224, height=160)
    write_random_checkpoint(home / "models" / "LLM" / "tiny-qwen3", "qwen3_vl")
    write_random_checkpoint(home / "models" / "LLM" / "tiny-llava", "llava_onevision")
    nodes = asyncio.run(asyncio.run(pack.comfy_entrypoint()).get_node_list())
    return home, {node.define_schema().node_id: node for node in nodes}


@pytest.fixture(scope="session")
def comfyui(tmp_path_factory):
    """A real ComfyUI (``COMFYUI_PATH``) serving this pack, a tiny checkpoint and clip.mp4; one per test run.

    Skipped when COMFYUI_PATH is unset, failed instead where CI sets VCAST_REQUIRE_COMFYUI.
    """
    from comfyui_server import prepare_home, start

    path = os.environ.get("COMFYUI_PATH")
    if not path:
        required_or_skip("VCAST_REQUIRE_COMFYUI", "COMFYUI_PATH is not set", "see docs/development.md")
    home = tmp_path_factory.mktemp("comfyui-home")  # kept after the run: its comfyui.log explains failures
    prepare_home(home, write_shots_video, write_random_checkpoint)
    process, server = start(Path(path), home)
    try:
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)
