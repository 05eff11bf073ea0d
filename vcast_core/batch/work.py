"""Answering items: a runner loads the model once and turns each item into one result record per ratio."""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import asdict, dataclass

from .._checks import check_choice, check_int, check_positive, check_sampling, check_text
from ..allocation import ALLOCATION_METHODS
from ..errors import InputError, VCastError
from ..models.placement import QUANTIZATIONS
from ..selection import SELECTION_METHODS
from ..tokens import GROUPS_PER_CHUNK, MAX_CLIP_PIXELS, MAX_FRAME_PIXELS, POSITIONS, prune
from ..video import BACKENDS, MAX_MEMORY_GB, load_video
from .answers import chosen_letter, is_correct, prompt
from .manifest import Item

logger = logging.getLogger(__name__)

# Failures of one item (unreadable video, prompt too long, out of memory) are recorded and the job goes
# on; anything else is a bug and stops it.
ITEM_ERRORS = (VCastError, ValueError, RuntimeError, OSError)


@dataclass(frozen=True)
class BatchSettings:
    """How every item is answered: the model, frame sampling, pruning policy and decoding."""

    model: str
    device: str = "auto"
    dtype: str = "auto"
    attention: str = "auto"
    quantization: str = "none"
    fps: float | None = 2.0
    frames: int | None = None
    max_frames: int = 64
    backend: str = "auto"
    max_memory_gb: float = MAX_MEMORY_GB
    groups_per_chunk: int = GROUPS_PER_CHUNK
    max_frame_pixels: int = MAX_FRAME_PIXELS
    max_clip_pixels: int = MAX_CLIP_PIXELS
    allocator: str = "curvature"
    selector: str = "dual_anchor"
    positions: str = "original"
    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    system: str | None = None

    def __post_init__(self):
        """Settings that would fail every item fail here, before the job starts."""
        if (self.fps is None) == (self.frames is None):
            raise InputError("give exactly one of fps (frames sampled per second) and frames (evenly spread)")
        if self.fps is not None:
            check_positive("fps", self.fps)
        else:
            check_int("frames", self.frames, 1)
        check_int("max_frames", self.max_frames, 1)
        check_choice("backend", self.backend, BACKENDS)
        check_choice("quantization", self.quantization, QUANTIZATIONS)
        check_positive("max_memory_gb", self.max_memory_gb)
        check_int("groups_per_chunk", self.groups_per_chunk, 0)
        check_int("max_frame_pixels", self.max_frame_pixels, 1)
        check_int("max_clip_pixels", self.max_clip_pixels, 1)
        check_choice("positions", self.positions, POSITIONS)
        check_choice("allocator", self.allocator, ALLOCATION_METHODS)
        check_choice("selector", self.selector, SELECTION_METHODS)
        check_int("max_new_tokens", self.max_new_tokens, 1)
        check_sampling(self.temperature, self.top_p, self.seed)
        check_text("system", self.system)

    def recorded(self) -> dict:
        """The settings that decide a prediction; a results file holds one set of them (where it ran does not)."""
        settings = asdict(self)
        for name in ("device", "attention", "backend", "max_memory_gb", "groups_per_chunk"):
            del settings[name]
        return settings


class ItemRunner:
    """The model, loaded once, and the settings to answer items with. Ray workers are actors of this class."""

    def __init__(self, settings: BatchSettings):
        from transformers.utils import logging as transformers_logging

        from ..models import load_videollm

        transformers_logging.disable_progress_bar()
        self.settings = settings
        self.llm = load_videollm(
            settings.model,
            device=settings.device,
            dtype=settings.dtype,
            attention=settings.attention,
            quantization=settings.quantization,
        )
        self.llm.check_positions(settings.positions)
        self.worker = f"{socket.gethostname()}:{os.getpid()} {self.llm.device}"

    def answer(self, group: list[tuple[Item, tuple[float, ...]]]) -> list[list[dict]]:
        """Records for the items of one video, one per item and ratio: the video is decoded and encoded once;
        at each ratio it is pruned once and its items' questions are answered together (see
        ``VideoLLM.generate``), each item alone again if that fails, so that one item's failure is its own."""
        settings = self.settings
        start = time.perf_counter()
        records: dict[int, list[dict]] = {index: [] for index in range(len(group))}
        asked = {}
        for index, (item, ratios) in enumerate(group):
            try:
                self.llm.check_prompt(prompt(item.question, item.options), settings.system)
                asked[index] = prompt(item.question, item.options)
            except ITEM_ERRORS as err:
                records[index] = [self._record(item, ratio, error=err) for ratio in ratios]
        if not asked:
            return [records[index] for index in range(len(group))]
        try:
            clip = load_video(
                group[0][0].video,
                fps=settings.fps,
                num_frames=settings.frames,
                max_frames=settings.max_frames,
                backend=settings.backend,
                max_memory_gb=settings.max_memory_gb,
            )
            video_ms = (time.perf_counter() - start) * 1e3
            tokens = self.llm.encode(
                clip,
                groups_per_chunk=settings.groups_per_chunk,
                max_frame_pixels=settings.max_frame_pixels,
                max_clip_pixels=settings.max_clip_pixels,
            )
        except ITEM_ERRORS as err:
            for index in asked:
                item, ratios = group[index]
                records[index] = [self._record(item, ratio, error=err) for ratio in ratios]
            return [records[index] for index in range(len(group))]
        for ratio in sorted({ratio for _, ratios in group for ratio in ratios}):
            members = [index for index in asked if ratio in group[index][1]]
            if not members:
                continue
            try:
                pruned = prune(tokens, ratio, settings.allocator, settings.selector)
                outcomes = self._ask(pruned, [asked[index] for index in members])
            except ITEM_ERRORS as err:
                outcomes = [err] * len(members)
            for index, outcome in zip(members, outcomes, strict=True):
                item = group[index][0]
                if isinstance(outcome, Exception):
                    records[index].append(self._record(item, ratio, error=outcome))
                    continue
                stats = {name: value for name, value in outcome.stats.items() if name != "kept_per_frame"}
                stats["video_ms"] = video_ms
                records[index].append(self._record(item, ratio, outcome.text, outcome.token_ids, stats))
        return [records[index] for index in range(len(group))]

    def _ask(self, token_set, questions: list[str]) -> list:
        """Generations for ``questions`` asked together; where that fails, each asked alone (its error, or its
        generation)."""
        settings = self.settings
        asking = dict(
            system=settings.system,
            positions=settings.positions,
            max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            top_p=settings.top_p,
            seed=settings.seed,
        )
        try:
            return self.llm.generate(token_set, questions, **asking)
        except ITEM_ERRORS as err:
            if len(questions) == 1:
                return [err]
            logger.warning(
                "V-CAST batch: %d questions together failed (%s); asking them one by one", len(questions), err
            )
        return [self._ask(token_set, [question])[0] for question in questions]

    def _record(self, item, ratio, text=None, token_ids=None, stats=None, error=None) -> dict:
        choice = chosen_letter(text, item.options) if text is not None and item.options else None
        return dict(
            id=item.id,
            ratio=ratio,
            prediction=text,
            choice=choice,
            answer=item.answer,
            correct=None if text is None else is_correct(text, choice, item.answer, item.options),
            error=None if error is None else f"{type(error).__name__}: {error}",
            token_ids=token_ids,
            stats=stats,
            worker=self.worker,
        )
