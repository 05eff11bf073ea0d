"""V-CAST as an lmms-eval model: ``lmms-eval --model vcast --model_args pretrained=FOLDER,ratio=0.25 ...``.

Installed with ``pip install .[eval]``, which registers :func:`lmms_eval_models` under lmms-eval's
``lmms_eval.models`` entry point (how lmms-eval 0.7 finds plugin models; the older ``LMMS_EVAL_PLUGINS``
variable is deprecated there). Requests about one video are answered together: the video is decoded,
encoded, pruned and prefilled once, its questions decoded as one batch (``VideoLLM.generate``), each
answer the one that question gets alone. Under ``accelerate launch`` every process loads the model on
its own GPU and lmms-eval hands it its share of the requests (data parallelism).
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import torch
from accelerate import Accelerator
from lmms_eval.api.model import lmms
from lmms_eval.models.registry_v2 import ModelManifest
from loguru import logger

from .errors import InputError
from .models import load_videollm
from .policy import policy_settings, prune_tokens
from .tokens import GROUPS_PER_CHUNK, MAX_CLIP_PIXELS, MAX_FRAME_PIXELS, prune
from .video import load_video


def lmms_eval_models() -> ModelManifest:
    """The entry point lmms-eval loads: the model id ``vcast`` and where its class lives."""
    return ModelManifest(model_id="vcast", simple_class_path=f"{__name__}.VCast")


class VCast(lmms):
    """A video LLM checkpoint folder answering through V-CAST's pruning.

    ``model_args``: ``pretrained`` (the checkpoint folder), ``device`` (``auto``; one GPU per process under
    ``accelerate launch``), ``dtype``, ``attention``, ``quantization``; frame sampling ``fps`` (2) or
    ``frames``, ``max_frames`` (64), ``max_frame_pixels``, ``max_clip_pixels``; the policy ``ratio`` (0.25),
    ``allocator`` (curvature), ``selector`` (dual_anchor), their options (``tau``, ``signal``,
    ``temperature``, ``threshold``, ``min_segments``, ``min_per_frame``, ``rounding``, ``seed``),
    ``positions`` (original); ``max_questions_together`` (8); ``stats_path``: a JSON Lines file that gets
    one record per request (kept tokens, times), one file per process (``.rankN`` added when there are
    several).
    """

    def __init__(
        self,
        pretrained: str,
        device: str = "auto",
        dtype: str = "auto",
        attention: str = "auto",
        quantization: str = "none",
        fps: float | None = 2.0,
        frames: int | None = None,
        max_frames: int = 64,
        max_frame_pixels: int = MAX_FRAME_PIXELS,
        max_clip_pixels: int = MAX_CLIP_PIXELS,
        groups_per_chunk: int = GROUPS_PER_CHUNK,
        ratio: float = 0.25,
        allocator: str = "curvature",
        selector: str = "dual_anchor",
        positions: str = "original",
        max_questions_together: int = 8,
        stats_path: str = "",
        batch_size: int | str = 1,
        max_batch_size: int | None = None,
        **options,
    ) -> None:
        super().__init__()
        self.policy = dict(ratio=ratio, **policy_settings(allocator, selector, options, "--model_args"))
        prune_tokens(torch.randn(2, 4, 8), **self.policy)  # a bad policy fails here, before the model loads
        self.accelerator = Accelerator()
        self._rank = self.accelerator.process_index
        self._world_size = self.accelerator.num_processes
        if self._world_size > 1 and device in ("auto", "cuda", None) and self.accelerator.device.type == "cuda":
            device = str(self.accelerator.device)  # data parallelism: this process's own GPU
        self.llm = load_videollm(
            pretrained, device=device or "auto", dtype=dtype, attention=attention, quantization=quantization
        )
        self.llm.check_positions(positions)
        self.sampling = dict(fps=None if frames else fps, num_frames=frames, max_frames=max_frames)
        self.encoding = dict(
            groups_per_chunk=groups_per_chunk, max_frame_pixels=max_frame_pixels, max_clip_pixels=max_clip_pixels
        )
        self.positions = positions
        self.max_questions_together = max_questions_together
        self.stats_path = stats_path
        self.kept_shares: list[float] = []

    @property
    def device(self):
        """Where lmms-eval puts the tensors it gathers across processes: this process's accelerator device."""
        return self.accelerator.device

    def generate_until(self, requests) -> list[str]:
        """Answers in request order; requests about the same video and with the same generation settings are
        answered together."""
        groups: dict[tuple, list[int]] = {}
        for index, request in enumerate(requests):
            context, gen_kwargs, doc_to_visual, doc_id, task, split = request.args
            video = self._video_of(doc_to_visual(self.task_dict[task][split][doc_id]), task, doc_id)
            groups.setdefault((video, json.dumps(gen_kwargs, sort_keys=True, default=str)), []).append(index)
        answers: list[str | None] = [None] * len(requests)
        for (video, _), members in groups.items():
            gen_kwargs = requests[members[0]].args[1]
            contexts = [requests[index].args[0] for index in members]
            for index, text in zip(members, self._answer(video, contexts, gen_kwargs), strict=True):
                answers[index] = text
                self.cache_hook.add_partial("generate_until", (requests[index].args[0], gen_kwargs), text)
        if self.kept_shares:
            logger.info(
                f"V-CAST: {len(self.kept_shares)} requests, {statistics.mean(self.kept_shares):.1%} of the video "
                f"tokens kept on average ({self.policy['allocator']} + {self.policy['selector']}, "
                f"ratio {self.policy['ratio']:g})"
            )
        return answers

    def _video_of(self, visuals, task: str, doc_id: int) -> str:
        visuals = visuals if isinstance(visuals, list | tuple) else [visuals]
        if len(visuals) != 1 or not isinstance(visuals[0], str | os.PathLike):
            raise InputError(
                f"task {task!r} document {doc_id} gives {len(visuals)} visual(s) of type "
                f"{sorted({type(v).__name__ for v in visuals})}; --model vcast answers about one video file per "
                "question (video tasks such as videomme, mlvu, longvideobench, egoschema)"
            )
        return str(visuals[0])

    def _answer(self, video: str, contexts: list[str], gen_kwargs: dict) -> list[str]:
        clip = load_video(video, **self.sampling)
        tokens = self.llm.encode(clip, **self.encoding)
        pruned = prune(tokens, **self.policy)
        sampling = bool(gen_kwargs.get("do_sample", False)) and float(gen_kwargs.get("temperature", 0) or 0) > 0
        generations = self.llm.generate(
            pruned,
            contexts,
            positions=self.positions,
            max_new_tokens=int(gen_kwargs.get("max_new_tokens", 128)),
            temperature=float(gen_kwargs["temperature"]) if sampling else 0.0,
            top_p=float(gen_kwargs.get("top_p", 1.0) or 1.0) if sampling else 1.0,
            batch_size=self.max_questions_together,
        )
        until = gen_kwargs.get("until") or []
        until = [until] if isinstance(until, str) else until
        texts = []
        for context, generation in zip(contexts, generations, strict=True):
            text = generation.text
            for stop in until:
                if stop and stop in text:
                    text = text.split(stop, 1)[0]
            texts.append(text)
            stats = generation.stats
            self.kept_shares.append(stats["video_tokens_kept"] / stats["video_tokens_total"])
            self._record(video, context, text, stats)
        return texts

    def _record(self, video: str, context: str, text: str, stats: dict) -> None:
        if not self.stats_path:
            return
        # lmms-eval sets the rank and world size after building the model when torchrun started the processes
        path = Path(f"{self.stats_path}.rank{self.rank}" if self.world_size > 1 else self.stats_path)
        record = dict(video=video, question=context, answer=text, policy=self.policy, **stats)
        with path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record, default=str) + "\n")

    def loglikelihood(self, requests):
        raise NotImplementedError(
            "--model vcast answers generate_until tasks (the video benchmarks' multiple-choice tasks are); "
            "loglikelihood tasks are not supported"
        )

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("--model vcast answers one question per request; multi-round tasks are not supported")
