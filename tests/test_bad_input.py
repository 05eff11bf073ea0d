"""The "Limits and errors" table of docs/limits.md, case by case: the Python API raises the documented
VCastError subclass, the command line prints one line and exits with code 2, and the node
raises the same error for ComfyUI to show. Token-set files and save paths have their own
files (test_token_files.py, test_nodes.py); the policy's argument checks are in test_arguments.py.
"""

import json
import os
import re
import subprocess
import sys

import pytest
import torch
from conftest import GENERATE_WIDGETS, ROOT, damaged_copy, write_square_video

from vcast_core import (
    InputError,
    MemoryLimitError,
    ModelError,
    TokenSetError,
    VCastError,
    VideoError,
    allocate_budget,
    load_video,
    load_videollm,
    prune,
)
from vcast_core.cli import main
from vcast_core.video import decord_available


@pytest.fixture(scope="module")
def home(comfy_home):
    """ComfyUI's home from conftest, its nodes, a 30-frame clip and a tiny model in its folders."""
    folder, nodes = comfy_home
    video = write_square_video(folder / "input" / "good.mp4", frames=30, width=128, height=96)
    return folder, nodes, video, folder / "models" / "LLM" / "tiny-qwen3"


def as_node_sees(error):
    """The same error class in the pack's own copy of vcast_core (ComfyUI imports the pack under its folder name)."""
    return getattr(sys.modules["vcast_pack.vcast_core.errors"], error.__name__)


def cli_error(argv, capsys) -> str:
    """The one line the command line prints for ``argv``, after checking it exits with code 2."""
    assert main([str(arg) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def header_only_mp4(path):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()
    return path


def stts_flipped(good, path):
    """The clip with its time-to-sample table claiming 9 entries instead of 1 (see test_decoder_fuzz.py)."""
    data = bytearray(good.read_bytes())
    data[data.find(b"stts") + 11] ^= 0b1000
    path.write_bytes(bytes(data))
    return path


# case -> (make the file from (input folder, good clip), sampling asked, error type, message)
VIDEO_CASES = {
    "missing file": (lambda folder, good: folder / "missing.mp4", {}, VideoError, "does not exist"),
    "a directory": (lambda folder, good: folder, {}, VideoError, "is not a file"),
    "not a video": (
        lambda folder, good: (folder / "notes.mp4").write_text("not a video") and folder / "notes.mp4",
        {},
        VideoError,
        "is not a readable video",
    ),
    "truncated mp4": (
        lambda folder, good: (folder / "cut.mp4").write_bytes(good.read_bytes()[:2000]) and folder / "cut.mp4",
        {},
        VideoError,
        "is not a readable video",
    ),
    "zero frames": (
        lambda folder, good: header_only_mp4(folder / "empty.mp4"),
        {},
        VideoError,
        "holds no video frames",
    ),
    "damaged header": (
        lambda folder, good: stts_flipped(good, folder / "stts.mp4"),
        {},
        VideoError,
        r"has a damaged header: it claims 1\d{9} frames, but \d+ by its duration and frame rate; re-encode it",
    ),
    "fewer frames than asked": (
        lambda folder, good: good,
        {"frames": 100},
        VideoError,
        "asked for 100 frames, but the video has only 30 between 0 s and 1.2 s; ask for at most 30",
    ),
    "start past the end": (
        lambda folder, good: good,
        {"start": 5.0},
        VideoError,
        r"start=5 s and end=1.2 s leave nothing to sample in a video of 1.20 s",
    ),
    "too large to decode": (
        lambda folder, good: good,
        {"frames": 8, "max_memory_gb": 1e-4},
        MemoryLimitError,
        r"8 frames of 128x96 from good.mp4 need 0.000275 GB, above the 0.0001 GB limit; sample at most 2",
    ),
}
# the node's limit also counts the float copy on its frames output: 4 bytes a value more
NODE_MESSAGES = {
    "too large to decode": r"8 frames of 128x96 from good.mp4 and their float copy need 0.00137 GB, above the "
    r"0.0001 GB limit; sample at most 0 frames",
}


@pytest.mark.parametrize("case", VIDEO_CASES)
@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_bad_videos(home, capsys, case, backend):
    if backend == "decord" and not decord_available():
        pytest.skip("decord is not installed on this platform")
    folder, nodes, good, model = home
    make, ask, error, message = VIDEO_CASES[case]
    path = make(folder / "input", good)
    frames, start, limit = ask.get("frames"), ask.get("start", 0.0), ask.get("max_memory_gb", 8.0)
    with pytest.raises(error, match=message):
        load_video(
            path, fps=None if frames else 2.0, num_frames=frames, start=start, backend=backend, max_memory_gb=limit
        )
    argv = ["run", path, "--model", model, "--backend", backend, "--start", start, "--max-memory-gb", limit]
    assert re.search(message, cli_error(argv + (["--frames", frames] if frames else []), capsys))
    widgets = dict(fps=2.0, frames=frames or 0, max_frames=64, start=start, end=0.0, max_pixels=0)
    with pytest.raises(as_node_sees(error), match=NODE_MESSAGES.get(case, message)):
        nodes["VCast_LoadVideo"].execute(
            video="clip.mp4", backend=backend, max_memory_gb=limit, path=str(path), **widgets
        )


def test_odd_numbers_on_the_command_line(home, capsys, tmp_path):
    _, _, good, model = home
    run = ["run", good, "--model", model]
    assert "fps must be a number in (0, 1000] (frames sampled per second), got inf" in cli_error(
        [*run, "--fps", "inf"], capsys
    )
    assert "fps must be a number in (0, 1000]" in cli_error([*run, "--fps", "1e300"], capsys)
    assert "max_memory_gb must be a finite number >= 1e-06, got -1.0" in cli_error(
        [*run, "--max-memory-gb", "-1"], capsys
    )
    assert "max_memory_gb must be a finite number" in cli_error([*run, "--max-memory-gb", "nan"], capsys)
    for flag, value, message in [
        ("--temperature", "nan", "temperature must be 0 (greedy) or a number in [0.001, 100], got nan"),
        ("--temperature", "1e-300", "temperature must be 0 (greedy) or a number in [0.001, 100], got 1e-300"),
        ("--top-p", "1e-300", "top_p must be a number in [1e-06, 1], got 1e-300"),
        ("--seed", str(2**70), "seed must be an integer in [0, 9223372036854775807]"),
        ("--max-new-tokens", "0", "max_new_tokens must be an integer in [1, inf), got 0"),
        ("--prompt", "caf\udce9", "prompt is not valid UTF-8 text (position 3)"),
        ("--max-frame-pixels", "0", "max_frame_pixels must be an integer in [1, inf), got 0"),
    ]:
        nothing = ["run", tmp_path / "absent.mp4", "--model", tmp_path / "absent"]  # checked before either is read
        assert message in cli_error([*nothing, "--frames", 4, flag, value], capsys)
    missing = tmp_path / "no" / "such" / "folder" / "out.safetensors"
    assert f"folder {missing.parent} does not exist" in cli_error(["policy", "--save", missing], capsys)
    assert not missing.parent.exists()


def test_the_prompt_and_the_context_are_checked_before_the_video_is_encoded(home, capsys, monkeypatch):
    from vcast_core.models.videollm import VideoLLM

    def no_encoding(*_, **__):
        raise AssertionError("the vision tower ran")

    monkeypatch.setattr(VideoLLM, "encode", no_encoding)
    _, _, good, model = home
    run = ["run", good, "--model", model, "--frames", 4]
    assert "this model has 32768" in cli_error([*run, "--max-new-tokens", 40000], capsys)
    assert "the prompt holds the control token '<|im_end|>'" in cli_error([*run, "--prompt", "a<|im_end|>b"], capsys)


def test_without_decord_auto_decodes_with_pyav_and_says_so_once(home, monkeypatch, caplog):
    from vcast_core import video as video_module

    _, _, good, _ = home
    monkeypatch.setitem(sys.modules, "decord", None)  # what an interpreter without decord sees on import
    video_module._say_pyav_fallback.cache_clear()
    with caplog.at_level("WARNING", logger="vcast_core.video"):
        clips = [load_video(good, num_frames=4) for _ in range(3)]
    assert {clip.backend for clip in clips} == {"pyav"}
    notices = [record.message for record in caplog.records if "decord is not installed" in record.message]
    assert len(notices) == 1 and "PyAV" in notices[0]
    with pytest.raises(VideoError, match="decord is not installed; pip install decord, or use the pyav backend"):
        load_video(good, num_frames=4, backend="decord")


# case -> (damage to a copy of the tiny model, message)
MODEL_CASES = {
    "no config.json": (dict(remove=["config.json"]), "has no config.json: it is not a Hugging Face model folder"),
    "unsupported model_type": (dict(config={"model_type": "llama"}), "holds a 'llama' model; supported model types"),
    "pickle weights only": (dict(remove=["*.safetensors"]), "has only pickle .bin weights; V-CAST loads .safetensors"),
    "no tokenizer": (dict(remove=["tokenizer.json", "vocab.json", "merges.txt"]), "has no tokenizer"),
    "no processor config": (dict(remove=["*preprocessor_config.json"]), "has no video processor settings"),
}


@pytest.mark.parametrize("case", MODEL_CASES)
def test_bad_model_folders(home, capsys, case):
    folder, nodes, good, model = home
    damage, message = MODEL_CASES[case]
    name = "broken-" + case.replace(" ", "-").replace(".", "")
    broken = damaged_copy(model, folder / "models" / "LLM" / name, **damage)
    if case == "pickle weights only":
        (broken / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ModelError, match=message):
        load_videollm(broken, device="cpu")
    assert re.search(message, cli_error(["run", good, "--model", broken, "--frames", 4], capsys))
    listed = case != "no config.json"  # the node lists only folders that hold a config.json
    with pytest.raises(as_node_sees(ModelError), match=message if listed else "no checkpoint folder 'broken-no-con"):
        nodes["VCast_LoadVideoLLM"].execute(model=name, dtype="float32", device="cpu", attention="sdpa")


def test_missing_model_folder_and_old_transformers(home, capsys, monkeypatch, tmp_path):
    import transformers

    folder, nodes, good, model = home
    message = "does not exist; download a checkpoint into it"
    with pytest.raises(ModelError, match=message):
        load_videollm(tmp_path / "nowhere", device="cpu")
    assert message in cli_error(["run", good, "--model", tmp_path / "nowhere", "--frames", 4], capsys)
    with pytest.raises(as_node_sees(ModelError), match="no checkpoint folder 'nowhere' .*; put the checkpoint there"):
        nodes["VCast_LoadVideoLLM"].execute(model="nowhere", dtype="float32", device="cpu", attention="sdpa")
    monkeypatch.setattr(transformers, "__version__", "4.51.3")
    message = r"transformers 4.51.3 is too old; V-CAST needs transformers >= 4.57"
    with pytest.raises(ModelError, match=message):
        load_videollm(model, device="cpu")
    assert "transformers 4.51.3 is too old" in cli_error(["run", good, "--model", model, "--frames", 4], capsys)


# case -> (features [T, P, D], allocator options, message); the node and the CLI get the same
POLICY_CASES = {
    "ratio 0": (torch.randn(4, 6, 8), dict(ratio=0.0), r"ratio must be a number in \(0, 1\]"),
    "ratio above 1": (torch.randn(4, 6, 8), dict(ratio=1.5), r"ratio must be a number in \(0, 1\]"),
    "tau 0": (torch.randn(4, 6, 8), dict(ratio=0.25, tau=0.0), "tau must be a finite number >= 1e-06"),
    "NaN in the features": (
        torch.randn(4, 6, 8).index_fill(0, torch.tensor([2]), float("nan")),
        dict(ratio=0.25),
        r"features contain NaN or Inf .* in frame\(s\) \[2\]",
    ),
    "Inf in the features": (
        torch.randn(4, 6, 8).index_fill(0, torch.tensor([1]), float("inf")),
        dict(ratio=0.25),
        r"in frame\(s\) \[1\]",
    ),
    "no frames (T = 0)": (torch.randn(0, 6, 8), dict(ratio=0.25), r"features must have T \(frames\) >= 1"),
}


@pytest.mark.parametrize("case", POLICY_CASES)
def test_bad_policy_input(home, capsys, tmp_path, case):
    from safetensors.torch import save_file

    _, nodes, _, _ = home
    features, options, message = POLICY_CASES[case]
    with pytest.raises(InputError, match=message):
        allocate_budget(features, **options)
    save_file({"features": features}, tmp_path / "features.safetensors")
    argv = ["policy", "--features", tmp_path / "features.safetensors", "--ratio", options["ratio"]]
    assert re.search(message, cli_error(argv + (["--tau", options["tau"]] if "tau" in options else []), capsys))
    if features.shape[0]:  # a token set cannot be built without frames
        tokens = token_set_of(features)
        with pytest.raises(as_node_sees(InputError), match=message):
            nodes["VCast_CurvatureAllocator"].execute(
                tokens=tokens, rounding="largest_remainder", min_per_frame=1, **{"tau": 0.7, **options}
            )


def token_set_of(features):
    from vcast_core import TokenSet

    frames, tokens, _ = features.shape
    return TokenSet(
        model_type="qwen3_vl",
        features=features,
        grid=(frames, 2, tokens * 2),
        deepstack=(),
        timestamps=tuple(float(t) for t in range(frames)),
        frame_indices=tuple(range(frames)),
        seconds_per_group=1.0,
        encode_ms=0.0,
    )


def test_a_token_set_from_another_model_is_refused(home):
    _, nodes, good, model = home
    llm = nodes["VCast_LoadVideoLLM"].execute(model="tiny-qwen3", dtype="float32", device="cpu", attention="sdpa")
    foreign = token_set_of(torch.randn(2, 4, 8))
    with pytest.raises(as_node_sees(TokenSetError), match="has width 8, this model's hidden size is"):
        nodes["VCast_PrefillGenerate"].execute(model=llm.values[0], tokens=foreign, **GENERATE_WIDGETS)


class Fault(Exception):
    """Raised from inside a model's forward, where an interruption or an allocation would fail."""


def fail_once(module, error):
    """Make the next forward of ``module`` raise ``error``; returns the hook to remove."""

    def hook(*_):
        handle.remove()
        raise error

    handle = module.register_forward_pre_hook(hook)
    return handle


@pytest.fixture(scope="module")
def fresh_answer(home):
    """What a fresh process answers: the command line, run once, in a child process."""
    _, _, good, model = home
    argv = [sys.executable, "-m", "vcast_core", "run", str(good), "--model", str(model), "--frames", "8"]
    result = subprocess.run([*argv, "--max-new-tokens", "6", "--json"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["token_ids"]


def answer(llm, good, **generate):
    token_set = prune(llm.encode(load_video(good, num_frames=8)), 0.25)
    return llm.generate(token_set, "Describe this video.", max_new_tokens=6, **generate)


@pytest.mark.parametrize(
    "fault",
    [
        Fault("interrupted"),
        KeyboardInterrupt(),
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
    ],
    ids=["interruption", "ctrl-c", "out of memory"],
)
def test_a_fault_in_encoding_or_decoding_leaves_the_model_usable(home, fresh_answer, fault):
    _, _, good, model = home
    llm = load_videollm(model, device="cpu")
    clip = load_video(good, num_frames=8)
    expected = MemoryLimitError if isinstance(fault, torch.OutOfMemoryError) else type(fault)
    fail_once(llm.model.model.visual.blocks[0], fault)
    with pytest.raises(expected) as raised:
        llm.encode(clip)
    if expected is MemoryLimitError:
        assert "ran out of memory encoding 8 frames of 128x96" in str(raised.value)
        assert "lower the frames (fps, frames or max_frames), max_frame_pixels or max_clip_pixels" in str(raised.value)
    token_set = prune(llm.encode(clip), 0.25)
    layers = llm.model.model.language_model.layers
    calls = {"n": 0}

    def count(*_):
        calls["n"] += 1
        if calls["n"] == 4:  # the prefill, then the third decoding step
            raise fault

    handle = layers[-1].register_forward_pre_hook(count)
    with pytest.raises(expected) as raised:
        llm.generate(token_set, "Describe this video.", max_new_tokens=6)
    handle.remove()
    if expected is MemoryLimitError:
        assert "lower the ratio, the frames" in str(raised.value)
    assert answer(llm, good).token_ids == fresh_answer


def test_out_of_memory_releases_what_the_failed_step_held(home):
    import weakref

    _, _, good, model = home
    llm = load_videollm(model, device="cpu")
    held = []

    def allocate_then_fail(*_):
        handle.remove()
        scratch = torch.empty(1 << 20)  # what a failing step holds when the allocator gives up
        held.append(weakref.ref(scratch))
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    handle = llm.model.model.visual.blocks[0].register_forward_pre_hook(allocate_then_fail)
    with pytest.raises(MemoryLimitError) as raised:
        llm.encode(load_video(good, num_frames=8))
    assert raised.value.__context__ is None and held[0]() is None


def test_comfyui_interruption_mid_generation_stops_cleanly(home, fresh_answer):
    _, _, good, model = home
    llm = load_videollm(model, device="cpu")
    asked = {"n": 0}

    def should_stop():
        asked["n"] += 1
        return asked["n"] >= 2

    stopped = answer(llm, good, should_stop=should_stop, stop_at_eos=False)
    assert stopped.stopped and len(stopped.token_ids) == 2
    assert answer(llm, good).token_ids == fresh_answer


NO_NETWORK = """
import json, socket, sys
# what reaching another host takes (urllib3 binds a local socket to probe for IPv6, which reaches nothing)
REACHING_OUT = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
                "socket.sendto", "socket.sendmsg"}
opened = []
def audit(event, args):
    if event in REACHING_OUT:
        opened.append([event, repr(args)[:200]])
sys.addaudithook(audit)
from vcast_core import load_video, load_videollm, prune
llm = load_videollm(sys.argv[1], device="cpu")
token_set = prune(llm.encode(load_video(sys.argv[2], num_frames=4)), 0.25)
llm.generate(token_set, "What happens?", max_new_tokens=3)
print(json.dumps(opened))
"""


def test_loading_and_the_whole_pipeline_open_no_network_connection(home):
    _, _, good, model = home
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    result = subprocess.run(
        [sys.executable, "-c", NO_NETWORK, str(model), str(good)], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_every_error_is_a_vcast_error_and_the_value_ones_are_value_errors():
    for error in (InputError, VideoError, ModelError, TokenSetError):
        assert issubclass(error, VCastError) and issubclass(error, ValueError)
    assert issubclass(MemoryLimitError, VCastError) and issubclass(MemoryLimitError, MemoryError)
