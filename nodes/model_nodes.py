"""Load VideoLLM, Encode Vision Tokens and VideoLLM Prefill+Generate."""

from __future__ import annotations

import os
from pathlib import Path

import comfy.model_management
import comfy.utils
import folder_paths
import torch
from comfy_api.latest import io

from ..vcast_core.errors import InputError, ModelError
from ..vcast_core.models.placement import QUANTIZATIONS, Machine, attention_choices
from ..vcast_core.tokens import GROUPS_PER_CHUNK, MAX_CLIP_PIXELS, MAX_FRAME_PIXELS, POSITIONS
from . import comfy_memory
from .sockets import CATEGORY, Clip, Tokens, VideoLLM, tokens_input

MODEL_FOLDERS = ("LLM", "llm", "VLM", "prompt_generator")  # where packs and users keep VLM checkpoints


def register_model_folders() -> None:
    """``models/LLM``, ``models/llm``, ``models/VLM`` and ``models/prompt_generator`` as ComfyUI model folders
    (extra_model_paths.yaml may add more to each)."""
    for name in MODEL_FOLDERS:
        folder_paths.add_model_folder_path(name, os.path.join(folder_paths.models_dir, name))


def device_choices() -> list[str]:
    """auto, cpu, and where CUDA is present: cuda, each cuda:N and balanced."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["auto", "cpu"] + (["cuda", *(f"cuda:{index}" for index in range(gpus)), "balanced"] if gpus else [])


def model_folders() -> dict[str, Path]:
    """Checkpoint folders (with a config.json) under every registered model folder, by ``<folder>/<path>``; a
    folder reached twice (``llm`` and ``LLM`` on a case-insensitive disk, a link) is listed once."""
    found: dict[str, Path] = {}
    seen = set()
    for name in MODEL_FOLDERS:
        for root in folder_paths.get_folder_paths(name):
            for folder, _, files in sorted(os.walk(root, followlinks=True)):  # checkpoints are often linked in
                if "config.json" in files and (real := os.path.realpath(folder)) not in seen:
                    seen.add(real)
                    found[f"{name}/{Path(folder).relative_to(root).as_posix()}"] = Path(folder)
    return found


def find_model(model: str) -> Path:
    """The folder of dropdown entry ``model``; also a bare name saved by older versions (``Qwen3-VL-2B``) when
    exactly one folder has it."""
    folders = model_folders()
    if model in folders:
        return folders[model]
    same_name = [path for entry, path in folders.items() if entry.split("/", 1)[1] == model]
    if len(same_name) == 1:
        return same_name[0]
    roots = [root for name in MODEL_FOLDERS for root in folder_paths.get_folder_paths(name)]
    raise ModelError(
        f"no checkpoint folder {model!r} (a folder holding a config.json) under {roots}; put the checkpoint there "
        "and refresh the list (press R)"
    )


class LoadVideoLLM(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="VCast_LoadVideoLLM",
            display_name="Load VideoLLM",
            category=f"{CATEGORY}/model",
            description="Load a Qwen3-VL, Qwen2.5-VL or LLaVA-OneVision checkpoint folder from models/LLM (or VLM, "
            "llm, prompt_generator): offline, safetensors only. ComfyUI moves it between GPU and CPU as it does "
            "its own models.",
            inputs=[
                io.Combo.Input(
                    "model",
                    options=sorted(model_folders()),
                    tooltip="A checkpoint folder under models/LLM, models/VLM, models/llm or models/prompt_generator.",
                ),
                io.Combo.Input(
                    "dtype",
                    options=["auto", "bfloat16", "float16", "float32"],
                    default="auto",
                    tooltip="auto: bfloat16 on a CUDA GPU that supports it (else float16), float32 on the CPU.",
                ),
                io.Combo.Input(
                    "device",
                    options=device_choices(),
                    default="auto",
                    tooltip="auto: the first CUDA GPU when there is one. balanced: spread over every GPU, and CPU "
                    "memory when they are full, for models larger than one GPU.",
                ),
                io.Combo.Input(
                    "attention",
                    options=attention_choices(Machine.this()),
                    default="auto",
                    tooltip="auto: FlashAttention 2 where it is installed and can run (a CUDA GPU, 16-bit dtype), "
                    "else sdpa.",
                ),
                io.Combo.Input(
                    "quantization",
                    options=list(QUANTIZATIONS),
                    default="none",
                    tooltip="8bit or 4bit (NF4): the language model's linear layers quantized by bitsandbytes as "
                    "they load, for GPUs with 8 to 12 GB. Checkpoints stored quantized load as they are (none).",
                ),
            ],
            outputs=[VideoLLM.Output(display_name="model")],
        )

    @classmethod
    def execute(cls, model, dtype, device, attention="auto", quantization="none") -> io.NodeOutput:
        from ..vcast_core.models import load_videollm

        llm = load_videollm(
            find_model(model),
            device=device,
            dtype=dtype,
            attention=attention,
            quantization=quantization,
            make_room=comfy_memory.make_room,
        )
        comfy_memory.register(llm)
        return io.NodeOutput(llm)


class EncodeVisionTokens(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="VCast_EncodeVisionTokens",
            display_name="Encode Vision Tokens",
            category=f"{CATEGORY}/model",
            description="Run the model's vision tower once over all sampled frames: a token set [T, P, D].",
            inputs=[
                VideoLLM.Input("model", tooltip="From Load VideoLLM."),
                Clip.Input("clip", tooltip="From Load Video."),
                io.Int.Input(
                    "groups_per_chunk",
                    default=GROUPS_PER_CHUNK,
                    min=0,
                    max=4096,
                    tooltip="Temporal groups encoded at once (0: all): the same tokens, a lower memory peak, and "
                    "a cancel takes effect between chunks.",
                ),
                io.Int.Input(
                    "max_frame_pixels",
                    default=MAX_FRAME_PIXELS,
                    min=1,
                    max=2**40,
                    tooltip="Qwen: the vision tower sees at most this many pixels per frame (default: 768 tokens' "
                    "worth of 28-pixel patches), within the checkpoint's own limits. LLaVA-OneVision always sees "
                    "384x384.",
                ),
                io.Int.Input(
                    "max_clip_pixels",
                    default=MAX_CLIP_PIXELS,
                    min=1,
                    max=2**40,
                    tooltip="...and at most this many for the whole clip (default: 64 such frames), so that long "
                    "samplings share the budget instead of running out of memory.",
                ),
            ],
            outputs=[Tokens.Output(display_name="tokens")],
        )

    @classmethod
    def execute(
        cls,
        model,
        clip,
        groups_per_chunk=GROUPS_PER_CHUNK,
        max_frame_pixels=MAX_FRAME_PIXELS,
        max_clip_pixels=MAX_CLIP_PIXELS,
    ) -> io.NodeOutput:
        progress = comfy.utils.ProgressBar(1)

        def interrupted() -> bool:  # raises ComfyUI's own exception, so a cancel reads as a cancel
            comfy.model_management.throw_exception_if_processing_interrupted()
            return False

        token_set = comfy_memory.run(
            model,
            lambda: model.encode(
                clip,
                groups_per_chunk=groups_per_chunk,
                max_frame_pixels=max_frame_pixels,
                max_clip_pixels=max_clip_pixels,
                should_stop=interrupted,
                on_chunk=lambda done, total: progress.update_absolute(done, total),
            ),
        )
        return io.NodeOutput(token_set)


class PrefillGenerate(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="VCast_PrefillGenerate",
            display_name="VideoLLM Prefill+Generate",
            category=f"{CATEGORY}/model",
            description="Prefill the kept video tokens (at their original positions by default), then generate.",
            inputs=[
                VideoLLM.Input("model", tooltip="From Load VideoLLM."),
                tokens_input(),
                io.String.Input("prompt", default="Describe this video.", multiline=True, tooltip="The question."),
                io.String.Input(
                    "system", default="", multiline=True, tooltip="A system prompt (empty: the model's default)."
                ),
                io.Int.Input("max_new_tokens", default=128, min=1, max=8192, tooltip="At most this many new tokens."),
                io.Float.Input("temperature", default=0.0, min=0.0, max=4.0, step=0.05, tooltip="0 decodes greedily."),
                io.Float.Input("top_p", default=1.0, min=0.01, max=1.0, step=0.01, tooltip="Nucleus sampling share."),
                io.Int.Input(
                    "seed", default=0, min=0, max=2**31 - 1, control_after_generate=True, tooltip="Seed for sampling."
                ),
                io.Combo.Input(
                    "positions",
                    options=list(POSITIONS),
                    default="original",
                    optional=True,
                    tooltip="original: kept tokens keep their positions (V-CAST). compact: renumber the kept "
                    "sequence 0..n-1 as LLaVA-centric pruners do (LLaVA-OneVision only).",
                ),
                io.Boolean.Input(
                    "one_question_per_line",
                    default=False,
                    optional=True,
                    tooltip="Each line of the prompt is its own question: the video is prefilled once and the "
                    "questions answered together; the answer lists each question with its answer.",
                ),
            ],
            outputs=[io.String.Output(display_name="answer")],
            is_output_node=True,
        )

    @classmethod
    def execute(
        cls,
        model,
        tokens,
        prompt,
        system,
        max_new_tokens,
        temperature,
        top_p,
        seed,
        positions="original",
        one_question_per_line=False,
    ) -> io.NodeOutput:
        questions = [line.strip() for line in prompt.splitlines() if line.strip()] if one_question_per_line else None
        if questions == []:
            raise InputError("the prompt holds no question; write one per line")
        results = comfy_memory.run(
            model,
            lambda: model.generate(
                tokens,
                questions or prompt,
                system=system or None,
                positions=positions,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
                seed=seed,
                should_stop=comfy.model_management.processing_interrupted,
            ),
        )
        results = results if questions else [results]
        if len(results) < len(questions or [prompt]) or any(result.stopped for result in results):
            comfy.model_management.throw_exception_if_processing_interrupted()
        if questions:
            answer = "\n\n".join(f"Q: {q}\nA: {result.text}" for q, result in zip(questions, results, strict=True))
        else:
            answer = results[0].text
        return io.NodeOutput(answer, ui={"text": [answer, results[-1].summary()]})  # the answer and stats boxes


NODES = [LoadVideoLLM, EncodeVisionTokens, PrefillGenerate]
