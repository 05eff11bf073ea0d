"""The node pack run through a stand-in for ComfyUI (tests/comfy_stand_in), as ComfyUI imports it."""

import shutil
from pathlib import Path

import pytest
import torch
from conftest import GENERATE_WIDGETS, write_square_video

from vcast_core.previews import kept_overlay

ROOT = Path(__file__).resolve().parents[1]


def test_every_node_is_prefixed_categorised_and_explained(comfy_home):
    _, nodes = comfy_home
    assert set(nodes) == {
        f"VCast_{name}"
        for name in (
            "LoadVideo",
            "ImagesToClip",
            "LoadVideoLLM",
            "EncodeVisionTokens",
            "PrefillGenerate",
            "CurvatureAllocator",
            "UniformAllocator",
            "VidCom2Allocator",
            "SegmentAllocator",
            "EVSAllocator",
            "DualAnchorSelector",
            "RandomSelector",
            "DivPruneSelector",
            "NormSelector",
            "EVSSelector",
            "KeepAllSelector",
            "SaveTokenSet",
            "LoadTokenSet",
            "TokenSetInfo",
        )
    }
    for node_id, node in nodes.items():
        schema = node.define_schema()
        assert node_id.startswith("VCast_") and schema.category.startswith("V-CAST/") and schema.description
        for item in schema.inputs:
            assert item.tooltip, f"{node_id}.{item.id} has no tooltip"
        assert len({item.id for item in schema.inputs}) == len(schema.inputs)


def run(nodes, node_id, **inputs):
    return nodes[node_id].execute(**inputs)


@pytest.fixture(scope="module")
def pipeline(comfy_home):
    _, nodes = comfy_home
    loaded = run(
        nodes,
        "VCast_LoadVideo",
        video="clip.mp4",
        backend="pyav",
        fps=2.0,
        frames=8,
        max_frames=64,
        start=0.0,
        end=0.0,
        max_pixels=0,
        max_memory_gb=8.0,
    )
    clip, images, info = loaded.values
    model = run(
        nodes, "VCast_LoadVideoLLM", model="tiny-qwen3", dtype="float32", device="cpu", attention="sdpa"
    ).values[0]
    tokens = run(nodes, "VCast_EncodeVisionTokens", model=model, clip=clip).values[0]
    return dict(clip=clip, images=images, info=info, model=model, tokens=tokens)


def test_encode_passes_its_pixel_limits_on(comfy_home, pipeline):
    _, nodes = comfy_home
    model, clip = pipeline["model"], pipeline["clip"]
    limited = run(nodes, "VCast_EncodeVisionTokens", model=model, clip=clip, max_frame_pixels=64 * 64).values[0]
    assert limited.tokens_per_frame < pipeline["tokens"].tokens_per_frame
    assert limited.grid == model.encode(clip, max_frame_pixels=64 * 64).grid


def test_load_video_outputs(pipeline):
    assert pipeline["images"].shape == (8, 160, 224, 3) and pipeline["images"].max() <= 1
    assert "40 frames" in pipeline["info"] and "sampled 8 frames" in pipeline["info"]


def test_the_whole_graph_answers_and_previews(comfy_home, pipeline):
    _, nodes = comfy_home
    tokens, clip, model = pipeline["tokens"], pipeline["clip"], pipeline["model"]
    features_before = tokens.features.clone()
    allocated = run(
        nodes,
        "VCast_CurvatureAllocator",
        tokens=tokens,
        ratio=0.25,
        tau=0.7,
        rounding="largest_remainder",
        min_per_frame=1,
    )
    budget = allocated.values[0]
    assert int(budget.per_frame.sum()) == round(0.25 * tokens.frames * tokens.tokens_per_frame)
    assert allocated.ui.value.shape == (1, 320, 640, 3)  # the budget chart
    selected = run(nodes, "VCast_DualAnchorSelector", tokens=tokens, budget=budget, clip=clip)
    pruned = selected.values[0]
    assert pruned.kept_mask.sum(dim=1).tolist() == budget.per_frame.tolist()
    assert selected.ui.value.shape == (8, 40 + 366, 512, 3)  # each sampled frame at 512 wide, under its title
    assert torch.equal(tokens.features, features_before) and tokens.kept is None  # inputs untouched
    answered = run(nodes, "VCast_PrefillGenerate", model=model, tokens=pruned, **GENERATE_WIDGETS)
    answer = answered.values[0]
    shown_answer, shown_stats = answered.ui["text"]  # the node's two text boxes
    assert isinstance(answer, str) and shown_answer == answer and "video tokens kept" in shown_stats
    info = run(nodes, "VCast_TokenSetInfo", tokens=pruned).values[0]
    assert f"kept {int(pruned.kept_mask.sum())} of {tokens.frames * tokens.tokens_per_frame}" in info


def test_a_llava_onevision_checkpoint_runs_through_the_same_nodes(comfy_home, pipeline):
    _, nodes = comfy_home
    clip = pipeline["clip"]
    model = run(
        nodes, "VCast_LoadVideoLLM", model="tiny-llava", dtype="float32", device="cpu", attention="sdpa"
    ).values[0]
    tokens = run(nodes, "VCast_EncodeVisionTokens", model=model, clip=clip).values[0]
    assert tokens.features.shape[:2] == (8, 196) and tokens.frames_per_group == 1
    budget = run(nodes, "VCast_UniformAllocator", tokens=tokens, ratio=0.25, min_per_frame=1).values[0]
    selected = run(nodes, "VCast_DualAnchorSelector", tokens=tokens, budget=budget, clip=clip)
    pruned, preview = selected.values[0], selected.ui.value
    expected = kept_overlay(
        clip.frames,
        pruned.kept_mask,
        (14, 14),
        frames_per_group=1,
        title="uniform + dual_anchor, ratio 0.25",
        timestamps=clip.timestamps,
    )
    assert torch.equal(preview, expected)  # each sampled frame shows its own kept tokens on a 14x14 grid
    for positions in ("original", "compact"):
        widgets = dict(GENERATE_WIDGETS, max_new_tokens=3, positions=positions)
        answered = run(nodes, "VCast_PrefillGenerate", model=model, tokens=pruned, **widgets)
        assert "video tokens kept: 392 of 1568" in answered.ui["text"][1]
    with pytest.raises(ValueError, match="renumbers a 1-D RoPE sequence"):
        widgets = dict(GENERATE_WIDGETS, max_new_tokens=1, positions="compact")
        run(nodes, "VCast_PrefillGenerate", model=pipeline["model"], tokens=pipeline["tokens"], **widgets)


@pytest.mark.parametrize(
    ("node_id", "options"),
    [
        ("VCast_UniformAllocator", {}),
        ("VCast_VidCom2Allocator", {"temperature": 0.01}),
        ("VCast_SegmentAllocator", {"threshold": 0.84, "min_segments": 2}),
        ("VCast_EVSAllocator", {}),
    ],
)
def test_peer_allocators_and_selectors_swap_in(comfy_home, pipeline, node_id, options):
    _, nodes = comfy_home
    tokens = pipeline["tokens"]
    budget = run(nodes, node_id, tokens=tokens, ratio=0.5, min_per_frame=1, **options).values[0]
    for selector, extra in (
        ("VCast_RandomSelector", {"seed": 3}),
        ("VCast_DivPruneSelector", {}),
        ("VCast_NormSelector", {}),
        ("VCast_EVSSelector", {}),
    ):
        pruned = run(nodes, selector, tokens=tokens, budget=budget, **extra).values[0]
        assert pruned.kept_mask.sum(dim=1).tolist() == budget.per_frame.tolist()
    assert run(nodes, "VCast_KeepAllSelector", tokens=tokens).values[0].kept_mask.all()


def test_a_budget_from_another_token_set_is_refused(comfy_home, pipeline):
    _, nodes = comfy_home
    tokens = pipeline["tokens"]
    budget = run(nodes, "VCast_UniformAllocator", tokens=tokens, ratio=0.5, min_per_frame=1).values[0]
    other = tokens.with_kept(tokens.kept_mask)
    shorter = type(tokens)(**{**other.__dict__, "features": tokens.features[:2], "timestamps": tokens.timestamps[:2]})
    with pytest.raises(ValueError, match="allocate it from this token set"):
        run(nodes, "VCast_DualAnchorSelector", tokens=shorter, budget=budget)


def test_save_and_load_token_set(comfy_home, pipeline):
    home, nodes = comfy_home
    tokens = pipeline["tokens"]
    pruned = run(
        nodes,
        "VCast_NormSelector",
        tokens=tokens,
        budget=run(nodes, "VCast_UniformAllocator", tokens=tokens, ratio=0.5, min_per_frame=1).values[0],
    ).values[0]
    saved = run(nodes, "VCast_SaveTokenSet", tokens=pruned, filename_prefix="vcast/tokens")
    first = Path(saved.values[0])
    second = Path(run(nodes, "VCast_SaveTokenSet", tokens=pruned, filename_prefix="vcast/tokens").values[0])
    assert first != second and first.parent == second.parent == home / "output" / "vcast"
    assert saved.ui.value == f"vcast/{first.name} in ComfyUI's output folder"  # what the node shows
    name = f"output/vcast/{first.name}"
    assert name in nodes["VCast_LoadTokenSet"].define_schema().inputs[0].options["options"]
    loaded = run(nodes, "VCast_LoadTokenSet", file=name).values[0]
    assert torch.equal(loaded.kept, pruned.kept) and torch.equal(loaded.features, pruned.features)


def test_save_paths_stay_in_the_output_folder(comfy_home, pipeline, tmp_path):
    home, nodes = comfy_home
    (home / "output" / "escape").symlink_to(tmp_path, target_is_directory=True)
    for prefix, message in (
        ("../x", "without '..'"),
        (str(tmp_path / "x"), "relative name"),
        ("escape/x", "outside"),
        (".", "relative name"),
    ):
        with pytest.raises(ValueError, match=message):
            run(nodes, "VCast_SaveTokenSet", tokens=pipeline["tokens"], filename_prefix=prefix)
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="outside ComfyUI's input folders"):
        run(nodes, "VCast_LoadTokenSet", file="input/../../secret.safetensors")


def test_video_paths_stay_in_comfyuis_folders(comfy_home, tmp_path):
    _, nodes = comfy_home
    outside = write_square_video(tmp_path / "elsewhere.mp4", frames=4)
    message = nodes["VCast_LoadVideo"].validate_inputs(video="clip.mp4", path=str(outside))
    assert isinstance(message, str) and "outside ComfyUI's input and output and temp folders" in message
    for name in (str(outside), f"../../{outside.name}"):  # the list's value is a name in the input folder, nothing else
        assert "outside ComfyUI's input folders" in nodes["VCast_LoadVideo"].validate_inputs(video=name)
        with pytest.raises(ValueError, match="outside ComfyUI's input folders"):
            run(
                nodes,
                "VCast_LoadVideo",
                video=name,
                backend="pyav",
                fps=2.0,
                frames=2,
                max_frames=8,
                start=0.0,
                end=0.0,
                max_pixels=0,
                max_memory_gb=8.0,
            )
    assert nodes["VCast_LoadVideo"].validate_inputs(video="clip.mp4") is True


def test_a_budget_or_clip_of_other_frames_is_refused(comfy_home, pipeline):
    _, nodes = comfy_home
    tokens, clip = pipeline["tokens"], pipeline["clip"]
    budget = run(nodes, "VCast_UniformAllocator", tokens=tokens, ratio=0.5, min_per_frame=1).values[0]
    shifted = type(tokens)(**{**tokens.__dict__, "frame_indices": tuple(i + 1 for i in tokens.frame_indices)})
    with pytest.raises(ValueError, match="allocated for tokens of other frames"):
        run(nodes, "VCast_NormSelector", tokens=shifted, budget=budget)
    other_clip = type(clip)(**{**clip.__dict__, "indices": tuple(i + 1 for i in clip.indices)})
    with pytest.raises(ValueError, match="the clip is not the one these tokens were encoded from"):
        run(nodes, "VCast_NormSelector", tokens=tokens, budget=budget, clip=other_clip)


def test_encoding_reports_progress_and_stops_between_chunks_when_comfyui_interrupts(comfy_home, pipeline):
    import comfy.model_management
    import comfy.utils

    _, nodes = comfy_home
    model, clip = pipeline["model"], pipeline["clip"]  # 8 frames: 4 temporal groups
    comfy.utils.updates.clear()
    tokens = run(nodes, "VCast_EncodeVisionTokens", model=model, clip=clip, groups_per_chunk=1).values[0]
    assert comfy.utils.updates == [(1, 4), (2, 4), (3, 4), (4, 4)]
    torch.testing.assert_close(tokens.features, pipeline["tokens"].features, rtol=1e-5, atol=1e-5)

    class CancelAfterTwoChunks(comfy.utils.ProgressBar):
        def update_absolute(self, value, total=None, preview=None):
            super().update_absolute(value, total, preview)
            comfy.model_management.interrupted = value >= 2

    comfy.utils.updates.clear()
    original = comfy.utils.ProgressBar
    comfy.utils.ProgressBar = CancelAfterTwoChunks
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            run(nodes, "VCast_EncodeVisionTokens", model=model, clip=clip, groups_per_chunk=1)
    finally:
        comfy.utils.ProgressBar = original
        comfy.model_management.interrupted = False
    assert comfy.utils.updates == [(1, 4), (2, 4)]  # stopped before the third chunk
    assert not comfy.model_management.interrupted  # ComfyUI clears the flag when it raises
    again = run(nodes, "VCast_EncodeVisionTokens", model=model, clip=clip, groups_per_chunk=1).values[0]
    torch.testing.assert_close(again.features, pipeline["tokens"].features, rtol=1e-5, atol=1e-5)


SAMPLING = dict(fps=2.0, frames=0, max_frames=64, start=0.0, end=0.0, max_pixels=0, max_memory_gb=8.0)


def test_images_to_clip_samples_an_image_batch_as_load_video_samples_the_file(comfy_home):
    """Frames from another node (here: Load Video's own IMAGE output of every frame) give the same clip as the
    file: same frames, indices and timestamps."""
    home, nodes = comfy_home
    every = dict(SAMPLING, fps=25.0, max_frames=4096)
    _, all_images, _ = run(nodes, "VCast_LoadVideo", video="clip.mp4", backend="pyav", **every).values
    from_file, _, _ = run(nodes, "VCast_LoadVideo", video="clip.mp4", backend="pyav", **SAMPLING).values
    clip, images, info = run(nodes, "VCast_ImagesToClip", images=all_images, frame_rate=25.0, **SAMPLING).values
    assert torch.equal(clip.frames, from_file.frames) and torch.equal(images, clip.frames.float() / 255)
    assert clip.indices == from_file.indices and clip.timestamps == from_file.timestamps
    assert clip.sampled_fps == from_file.sampled_fps and "40 images at 25 fps" in info
    # VideoHelperSuite's video_info decides the rate when it is connected
    info = {"loaded_fps": 10.0, "loaded_frame_count": 40}
    slow = run(nodes, "VCast_ImagesToClip", images=all_images, frame_rate=25.0, video_info=info, **SAMPLING).values[0]
    assert slow.timestamps == tuple(i / 2 for i in range(8)) and slow.indices == tuple(range(0, 40, 5))


def test_images_to_clip_takes_alpha_and_grey_frames_and_refuses_what_is_not_a_batch(comfy_home):
    _, nodes = comfy_home
    rgba = torch.rand(6, 8, 10, 4)
    clip = run(nodes, "VCast_ImagesToClip", images=rgba, frame_rate=2.0, **SAMPLING).values[0]
    assert torch.equal(clip.frames, (rgba[..., :3] * 255).round().to(torch.uint8))
    grey = run(nodes, "VCast_ImagesToClip", images=rgba[..., :1], frame_rate=2.0, **SAMPLING).values[0]
    assert torch.equal(grey.frames, (rgba[..., :1] * 255).round().to(torch.uint8).expand(-1, -1, -1, 3))
    with pytest.raises(ValueError, match=r"expected a batch of frames \[frames, height, width, channels\]"):
        run(nodes, "VCast_ImagesToClip", images=torch.rand(8, 10, 3), frame_rate=2.0, **SAMPLING)
    with pytest.raises(ValueError, match="video_info has no loaded_fps"):
        run(nodes, "VCast_ImagesToClip", images=rgba, frame_rate=2.0, video_info={"fps": 3}, **SAMPLING)
    with pytest.raises(MemoryError, match=r"and their float copy need .* GB, above the 1e-06 GB limit"):
        run(nodes, "VCast_ImagesToClip", images=rgba, frame_rate=2.0, **dict(SAMPLING, max_memory_gb=1e-6))


def test_load_video_takes_a_video_held_in_memory(comfy_home):
    """A core VIDEO that is no file: an uploaded file held as bytes (decoded from a temporary copy in ComfyUI's
    temp folder, removed afterwards) or frames made in memory (sampled from its components)."""
    import io
    from fractions import Fraction
    from types import SimpleNamespace

    from comfy_api.latest import InputImpl

    home, nodes = comfy_home
    widgets = dict(video="clip.mp4", backend="pyav", **SAMPLING)
    from_file = run(nodes, "VCast_LoadVideo", **widgets).values[0]
    held = InputImpl.VideoFromFile(io.BytesIO((home / "input" / "clip.mp4").read_bytes()))
    clip = run(nodes, "VCast_LoadVideo", video_input=held, **widgets).values[0]
    assert torch.equal(clip.frames, from_file.frames) and clip.timestamps == from_file.timestamps
    assert not list((home / "temp").glob("vcast-video-*"))
    frames = torch.rand(12, 16, 20, 3)
    made = InputImpl.VideoFromComponents(SimpleNamespace(images=frames, frame_rate=Fraction(4), audio=None))
    clip = run(nodes, "VCast_LoadVideo", video_input=made, **widgets).values[0]
    assert clip.timestamps == (0.0, 0.5, 1.0, 1.5, 2.0, 2.5) and clip.indices == (0, 2, 4, 6, 8, 10)


def test_model_folders_of_other_packs_are_listed_with_their_folder(comfy_home, tmp_path):
    """models/LLM, llm, VLM and prompt_generator, and extra paths registered for them, in one list; a folder
    reached twice is listed once; a bare name saved by an older version still loads."""
    import folder_paths
    from vcast_pack.nodes.model_nodes import find_model, model_folders

    home, _ = comfy_home
    qwen = home / "models" / "LLM" / "tiny-qwen3"
    (home / "models" / "VLM").mkdir(exist_ok=True)
    (home / "models" / "VLM" / "qwen-copy").symlink_to(qwen)  # the same folder under another name: listed once
    (tmp_path / "mine" / "nested").mkdir(parents=True)
    (tmp_path / "mine" / "nested" / "llava").symlink_to(home / "models" / "LLM" / "tiny-llava")
    folder_paths.add_model_folder_path("prompt_generator", str(tmp_path / "mine"))
    try:
        listed = model_folders()
        assert {"LLM/tiny-qwen3", "LLM/tiny-llava"} <= set(listed)
        assert "VLM/qwen-copy" not in listed and "prompt_generator/nested/llava" not in listed  # seen already
        (home / "models" / "VLM" / "qwen-copy").unlink()
        (home / "models" / "VLM" / "other").mkdir()
        (home / "models" / "VLM" / "other" / "config.json").write_text("{}")
        assert model_folders()["VLM/other"] == home / "models" / "VLM" / "other"
        assert find_model("tiny-qwen3") == qwen == find_model("LLM/tiny-qwen3")
        with pytest.raises(ValueError, match=r"no checkpoint folder 'elsewhere' .* refresh the list"):
            find_model("elsewhere")
    finally:
        shutil.rmtree(home / "models" / "VLM")
        folder_paths._model_folders["prompt_generator"].remove(str(tmp_path / "mine"))


def test_a_loaded_model_is_handed_to_comfyuis_model_management(comfy_home, pipeline):
    """Room is made before the weights load, the model is booked with ComfyUI, and loaded before each use (what
    ComfyUI then does with them is tested against ComfyUI itself in test_comfyui_memory.py)."""
    import comfy.model_management as management
    from vcast_pack.nodes import comfy_memory

    _, nodes = comfy_home
    management.calls.clear()
    model = run(nodes, "VCast_LoadVideoLLM", model="LLM/tiny-qwen3", dtype="float32", device="cpu").values[0]
    patcher = comfy_memory._patchers[model]
    assert patcher.model.model is model.model and patcher.load_device == patcher.offload_device == torch.device("cpu")
    assert patcher.size == sum(p.numel() * p.element_size() for p in model.model.parameters()) + sum(
        b.numel() * b.element_size() for b in model.model.buffers()
    )
    assert [call[0] for call in management.calls] == ["free_memory", "load_models_gpu"]
    management.calls.clear()
    run(nodes, "VCast_EncodeVisionTokens", model=model, clip=pipeline["clip"])
    assert management.calls == [("load_models_gpu", (patcher,), True)]


def test_prefill_generate_answers_one_question_per_line(comfy_home, pipeline):
    """With one_question_per_line, each non-empty line is a question; the video is prefilled once and the node
    shows every question with the answer it gets alone."""
    from vcast_core.tokens import prune

    _, nodes = comfy_home
    model, pruned = pipeline["model"], prune(pipeline["tokens"], 0.5)
    widgets = dict(GENERATE_WIDGETS, prompt="What moves?\n\n  Why?  \nIs it bright?", one_question_per_line=True)
    answered = run(nodes, "VCast_PrefillGenerate", model=model, tokens=pruned, **widgets)
    questions = ("What moves?", "Why?", "Is it bright?")
    alone = [model.generate(pruned, question, max_new_tokens=5).text for question in questions]
    expected = "\n\n".join(f"Q: {q}\nA: {a}" for q, a in zip(questions, alone, strict=True))
    assert answered.values == (expected,) and answered.ui["text"][0] == expected
    assert "3 questions together" in answered.ui["text"][1]
    with pytest.raises(ValueError, match="the prompt holds no question; write one per line"):
        run(nodes, "VCast_PrefillGenerate", model=model, tokens=pruned, **dict(widgets, prompt="\n  \n"))
