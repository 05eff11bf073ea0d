"""A loaded video LLM: encode a clip into a token set, then prefill the kept tokens and decode.

Positions come from the model's own rule on the *full* sequence (Qwen's ``get_rope_index``,
LLaVA-OneVision's 0..L-1) and are then sliced, so every kept token keeps its original
position; decoding continues from the last prompt position + 1. For 1-D RoPE models,
``positions="compact"`` renumbers the kept sequence 0..L'-1 instead, as LLaVA-centric pruners
do. Nothing global is patched: the prefill drives the model's language model directly with
``inputs_embeds``, so the same model behaves as before everywhere else.

What differs between families lives in one module per family (``qwen3_vl``, ``qwen2_5_vl``,
``llava_onevision``), each with the same functions: ``pixel_values``, ``frames_per_group``,
``group_timestamps``, ``seconds_per_group``, ``vision_tokens``, ``trailing_tokens``, ``positions``,
``expand_video`` (the chat template's video placeholder, as the installed processor expands it) and
``ROPE`` (``"mrope"`` or ``"1d"``). The prompt itself comes from the checkpoint's own chat template.
"""

from __future__ import annotations

import functools
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

import torch
from torch import Tensor

from .._checks import check_choice, check_int, check_sampling, check_text
from ..errors import DeviceOutOfMemoryError, InputError, ModelError, TokenSetError
from ..tokens import GROUPS_PER_CHUNK, MAX_CLIP_PIXELS, MAX_FRAME_PIXELS, POSITIONS, TokenSet
from ..video import VideoClip
from . import _hf, chat
from .placement import Placement
from .questions import QuestionBatch, prefill_questions, share_prompt


@dataclass(frozen=True)
class PromptInputs:
    """The full (unpruned) prompt: ids, prunable-token mask, embeddings, positions and DeepStack levels."""

    input_ids: Tensor  # [1, L]
    video_mask: Tensor  # bool [1, L], True at the token set's T*P video tokens, which a policy may drop
    embeds: Tensor  # [1, L, D], video features (and trailing tokens such as LLaVA's newline) in the placeholders
    positions: Tensor  # [3, 1, L] (Qwen's MRoPE) or [1, L] (1-D RoPE), of the full sequence
    deepstack: tuple[Tensor, ...]  # per level [N_video, D], in placeholder order


@dataclass(frozen=True)
class Prefill:
    """The language model's state after the prompt: next-token logits and what decoding continues from."""

    logits: Tensor  # [1, vocab] at the last prompt position
    cache: object
    positions: Tensor  # [..., L'] positions of the kept sequence: sliced from the full one, or 0..L'-1 if compact
    attention_mask: Tensor  # [1, L']
    milliseconds: float


@dataclass(frozen=True)
class Generation:
    text: str
    token_ids: list[int]
    stats: dict
    stopped: bool  # True when should_stop ended decoding early
    logits: Tensor | None = None  # [new tokens, vocab]: the logits each token was picked from, if asked for

    def summary(self) -> str:
        """The stats in three lines: tokens kept, times (of the whole batch, when questions were answered
        together), peak memory."""
        stats = self.stats
        together = stats.get("questions_in_batch", 1)
        return (
            f"video tokens kept: {stats['video_tokens_kept']} of {stats['video_tokens_total']}\n"
            f"encode {stats['encode_ms']:.0f} ms, policy {stats['policy_ms']:.1f} ms, "
            f"prefill {stats['prefill_ms']:.0f} ms, decode {stats['decode_ms']:.0f} ms "
            f"({stats['tokens_per_second']:.1f} tokens/s{f', {together} questions together' if together > 1 else ''})\n"
            f"peak memory {stats['peak_memory_mb']:.0f} MB"
        )


def _peak_memory_reset(device: torch.device) -> None:
    """Start a new peak: CUDA's counter, or on Linux the process's peak resident set (VmHWM)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass  # elsewhere the CPU peak is the process's peak so far


def _peak_memory_mb(device: torch.device) -> float:
    """CUDA ``max_memory_allocated``, or the process's peak resident memory on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _advise_on_memory(doing: Callable[..., str], lower: str):
    """Make a VideoLLM method raise a MemoryLimitError naming the settings to ``lower`` when (CUDA) memory runs
    out; ``doing(*args, **kwargs)`` of the call says what it was doing."""

    def decorate(method):
        @functools.wraps(method)
        def advised(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except torch.cuda.OutOfMemoryError as err:  # torch.OutOfMemoryError from torch 2.5 on
                detail = str(err).splitlines()[0]
            # here the error and its traceback are gone, so the failed step's tensors can be freed
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            raise DeviceOutOfMemoryError(
                f"{self.device} ran out of memory {doing(*args, **kwargs)} ({detail}); lower {lower}"
            )

        return advised

    return decorate


def _encoding(clip: VideoClip, **_) -> str:
    return f"encoding {len(clip.indices)} frames of {clip.width}x{clip.height}"


def _generating(token_set: TokenSet, *_, **__) -> str:
    total = token_set.frames * token_set.tokens_per_frame
    return f"in the language model ({int(token_set.kept_mask.sum())} of {total} video tokens kept)"


class EncodingStopped(Exception):
    """``should_stop`` ended :meth:`VideoLLM.encode` between two chunks; the model is unchanged."""


class VideoLLM:
    """A Hugging Face video LLM with its family module (``qwen3_vl``, ``qwen2_5_vl``, ``llava_onevision``)."""

    def __init__(
        self,
        model,
        tokenizer,
        processor_config: dict,
        model_type: str,
        family: ModuleType,
        path: str,
        video_processor,
        chat_template: str,
        placement: Placement | None = None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.chat_template = chat_template  # the checkpoint's own
        self.processor_config = processor_config
        self.video_processor = video_processor  # transformers' own, where torchvision is installed; else None
        self.model_type = model_type
        self.family = family
        self.path = path
        self.placement = placement  # as loaded by load_videollm: device(s), dtype, attention, quantization

    @property
    def quantization(self) -> str:
        """none, 8bit or 4bit (bitsandbytes, as loaded); a checkpoint stored quantized is ``none``."""
        return self.placement.quantization if self.placement else "none"

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def pixel_source(self) -> str:
        """Who turns frames into pixel rows: ``transformers`` (its video processor) or ``torch`` (ours, same result)."""
        return "torch" if self.video_processor is None else "transformers"

    def pixel_values(
        self, clip: VideoClip, max_frame_pixels: int = MAX_FRAME_PIXELS, max_clip_pixels: int = MAX_CLIP_PIXELS
    ) -> tuple[Tensor, tuple[int, int, int] | None]:
        """The vision tower's input for ``clip``: Qwen's pixel rows and grid (t, h, w), LLaVA's frames and None.

        Frames are resized within the checkpoint's own pixel bounds and at most ``max_frame_pixels`` per frame
        and ``max_clip_pixels`` for the clip (the same bounds go to transformers' processor)."""
        check_int("max_frame_pixels", max_frame_pixels, 1)
        check_int("max_clip_pixels", max_clip_pixels, 1)
        per_group = self.family.frames_per_group(self.processor_config)
        if len(clip.indices) < per_group:  # one frame: repeated to a whole temporal group, as the processors pad
            clip = clip.padded_to(per_group)
        try:
            size = self.family.pixel_size(self.processor_config, len(clip.indices), max_frame_pixels, max_clip_pixels)
            if self.video_processor is None:
                return self.family.pixel_values(clip, self.processor_config, size)
        except KeyError as err:
            raise ModelError(
                f"the processor config of {self.path} has no {err.args[0]!r}; download the full checkpoint"
            ) from None
        return _hf.processor_pixels(self.video_processor, clip.frames, clip.source_fps, clip.indices, size)

    def video_token_count(
        self, clip: VideoClip, max_frame_pixels: int = MAX_FRAME_PIXELS, max_clip_pixels: int = MAX_CLIP_PIXELS
    ) -> int:
        """The video tokens :meth:`encode` will make of ``clip`` (LLaVA's image newline included), from the frame
        size rule alone: to check a request before the vision tower runs."""
        frames = max(len(clip.indices), self.family.frames_per_group(self.processor_config))
        size = self.family.pixel_size(self.processor_config, frames, max_frame_pixels, max_clip_pixels)
        return self.family.video_tokens(self.model, frames, clip.height, clip.width, self.processor_config, size)

    @property
    def hidden_size(self) -> int:
        return int(self.model.get_input_embeddings().weight.shape[1])

    def __repr__(self) -> str:
        quantized = "" if self.quantization == "none" else f", {self.quantization}"
        where = f"{self.path}, {self.device}, {self.model.dtype}{quantized}"
        return f"VideoLLM({self.model_type}, {where}, pixels by {self.pixel_source})"

    @_advise_on_memory(_encoding, "the frames (fps, frames or max_frames), max_frame_pixels or max_clip_pixels")
    @torch.inference_mode()
    def encode(
        self,
        clip: VideoClip,
        *,
        groups_per_chunk: int = GROUPS_PER_CHUNK,
        max_frame_pixels: int = MAX_FRAME_PIXELS,
        max_clip_pixels: int = MAX_CLIP_PIXELS,
        should_stop: Callable[[], bool] | None = None,
        on_chunk: Callable[[int, int], None] | None = None,
    ) -> TokenSet:
        """Run the vision tower over all sampled frames: the clip's token set ``[T, P, D]``.

        The frames are resized within the pixel limits (see :meth:`pixel_values`).
        Every supported vision tower attends within one temporal group only, so encoding
        ``groups_per_chunk`` groups at a time (0: all at once) gives the same features up to float32
        rounding (kernels differ with the batch's shape), with a peak memory that no longer grows
        with the clip. Between chunks ``should_stop`` may end the encoding (:class:`EncodingStopped`)
        and ``on_chunk(done, total)`` reports progress.
        """
        start = time.perf_counter()
        check_int("groups_per_chunk", groups_per_chunk, 0)
        pixels, grid = self.pixel_values(clip, max_frame_pixels, max_clip_pixels)
        groups = self.family.group_count(pixels, grid)
        step = groups_per_chunk or groups
        parts = []
        for first in range(0, groups, step):
            if should_stop is not None and should_stop():
                raise EncodingStopped(f"encoding stopped after {first} of {groups} temporal groups")
            last = min(first + step, groups)
            parts.append(self.family.vision_tokens(self.model, *self.family.groups(pixels, grid, first, last)))
            if on_chunk is not None:
                on_chunk(last, groups)
        features = torch.cat([part[0] for part in parts])
        deepstack = tuple(map(torch.cat, zip(*(part[1] for part in parts), strict=True)))
        grid = (groups, *parts[0][2][1:])
        per_group = self.family.frames_per_group(self.processor_config)
        _sync(self.device)
        return TokenSet(
            model_type=self.model_type,
            features=features,
            grid=grid,
            deepstack=deepstack,
            timestamps=self.family.group_timestamps(clip, per_group),
            frame_indices=clip.indices,
            seconds_per_group=self.family.seconds_per_group(clip, per_group),
            encode_ms=(time.perf_counter() - start) * 1e3,
        )

    def check_token_set(self, token_set: TokenSet) -> None:
        """Refuse a token set made by another model family or width."""
        if token_set.model_type not in self.family.MODEL_TYPES:
            raise TokenSetError(
                f"this token set was encoded by a {token_set.model_type} model; this model is {self.model_type}. "
                "Encode the video with this model."
            )
        if token_set.features.shape[-1] != self.hidden_size:
            raise TokenSetError(
                f"this token set has width {token_set.features.shape[-1]}, this model's hidden size is "
                f"{self.hidden_size}. Encode the video with this model."
            )

    def check_prompt(self, prompt: str, system: str | None = None) -> None:
        """Refuse user or system text that holds one of the tokenizer's control tokens (``<|im_end|>``,
        ``<|video_pad|>``, ...): tokenized as such, it would forge a turn or a video placeholder."""
        for name, text in (("prompt", prompt), ("system", system)):
            check_text(name, text)
            found = [token for token in self._control_tokens() if text and token in text]
            if found:
                raise InputError(
                    f"the {name} holds the control token {found[0]!r}, which would be read as the model's own "
                    "markup (a turn, a video placeholder); remove it or write it another way"
                )

    def _control_tokens(self) -> list[str]:
        """Every token the tokenizer matches as one piece of markup before splitting text: its added tokens."""
        return [token.content for token in self.tokenizer.added_tokens_decoder.values() if len(token.content) > 1]

    @property
    def context_length(self) -> int:
        """The positions the language model was made for (``max_position_embeddings``)."""
        config = self.model.config
        return int(getattr(config, "text_config", config).max_position_embeddings)

    def check_context(self, video_tokens: int, prompt: str, system: str | None, max_new_tokens: int) -> None:
        """Refuse a request longer than the model's context: the prompt's text, ``video_tokens`` kept video tokens
        and ``max_new_tokens`` new ones, before anything heavy runs."""
        template = chat.render(self.tokenizer, self.chat_template, prompt, system)
        text = len(self.tokenizer(template, add_special_tokens=False)["input_ids"])
        total = text + video_tokens + max_new_tokens
        if total > self.context_length:
            raise InputError(
                f"{text} text tokens, {video_tokens} video tokens and {max_new_tokens} new tokens need {total} "
                f"positions; this model has {self.context_length}. Lower the frames, the pixel limits, the ratio "
                "or max_new_tokens"
            )

    def prompt_ids(self, token_set: TokenSet, prompt: str, system: str | None = None) -> Tensor:
        """``[1, L]``: the chat template's prompt with the video placeholder expanded for ``token_set``."""
        self.check_token_set(token_set)
        text = self.family.expand_video(chat.render(self.tokenizer, self.chat_template, prompt, system), token_set)
        return self.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"].to(self.device)

    @torch.inference_mode()
    def prompt_inputs(self, token_set: TokenSet, prompt: str, system: str | None = None) -> PromptInputs:
        """The full prompt with every video placeholder, and its positions by the model's own rule.

        The placeholders hold the token set's ``T*P`` features in order, then the family's trailing
        tokens (LLaVA-OneVision's one image-newline token), which are kept like text.
        """
        return self.inputs_for(self.prompt_ids(token_set, prompt, system), token_set)

    def inputs_for(self, input_ids: Tensor, token_set: TokenSet, positions: Tensor | None = None) -> PromptInputs:
        """:class:`PromptInputs` of ``input_ids``, which hold every video placeholder; ``positions`` when they are
        known already (those of a longer sequence these ids begin)."""
        placeholders = input_ids == self.model.config.video_token_id
        dtype = self.model.get_input_embeddings().weight.dtype
        features = token_set.features.reshape(-1, token_set.features.shape[-1]).to(self.device, dtype)
        video = torch.cat([features, self.family.trailing_tokens(self.model).to(self.device, dtype)])
        if int(placeholders.sum()) != len(video):
            raise TokenSetError(
                f"the prompt holds {int(placeholders.sum())} video placeholders for {len(video)} tokens"
            )
        if positions is None:
            positions = self.family.positions(self.model, input_ids, placeholders, token_set)
        embeds = self.model.get_input_embeddings()(input_ids).masked_scatter(placeholders[..., None], video)
        video_mask = placeholders & (placeholders.cumsum(dim=1) <= len(features))
        deepstack = tuple(level.reshape(-1, level.shape[-1]).to(self.device, dtype) for level in token_set.deepstack)
        return PromptInputs(input_ids, video_mask, embeds, positions, deepstack)

    def check_positions(self, positions: str) -> None:
        """Refuse an unknown position mode, and ``compact`` for a model whose positions are not 1-D."""
        check_choice("positions", positions, POSITIONS)
        if positions == "compact" and self.family.ROPE != "1d":
            raise InputError(
                f"positions='compact' renumbers a 1-D RoPE sequence (llava_onevision); {self.model_type} places "
                "tokens by (t, h, w) MRoPE positions, which renumbering would scramble. Use positions='original'."
            )

    @torch.inference_mode()
    def prefill(
        self, token_set: TokenSet, prompt: str, system: str | None = None, positions: str = "original"
    ) -> Prefill:
        """Run the prompt through the language model with only the kept video tokens.

        Embeddings, positions, the attention mask, the visual-position mask and every DeepStack
        level are sliced with the same kept indices; positions come from the full sequence
        (``original``), or number the kept sequence 0..L'-1 (``compact``, 1-D RoPE models only).
        """
        self.check_positions(positions)
        return self.prefill_inputs(self.prompt_inputs(token_set, prompt, system), token_set, positions)

    def prefill_inputs(self, full: PromptInputs, token_set: TokenSet, positions: str) -> Prefill:
        """:meth:`prefill` of prompt inputs already made (the whole prompt, or the part shared by questions)."""
        kept_video = token_set.kept_mask.reshape(-1).to(self.device)
        keep = torch.ones_like(full.video_mask[0])
        keep[full.video_mask[0]] = kept_video
        embeds, position_ids = full.embeds[:, keep], full.positions[..., keep]
        if positions == "compact":
            position_ids = torch.arange(embeds.shape[1], device=self.device).unsqueeze(0)
        attention_mask = torch.ones(1, embeds.shape[1], dtype=torch.long, device=self.device)
        deepstack = [level[kept_video] for level in full.deepstack]
        start = time.perf_counter()
        logits, cache = _hf.language_model_step(
            self.model,
            embeds,
            position_ids,
            attention_mask,
            _hf.new_cache(self.model),
            full.video_mask[:, keep],
            deepstack,
        )
        _sync(self.device)
        return Prefill(logits, cache, position_ids, attention_mask, (time.perf_counter() - start) * 1e3)

    @_advise_on_memory(
        _generating,
        "the ratio, the frames (fps, frames or max_frames), pixel limits, max_new_tokens or batch_size (questions "
        "answered together)",
    )
    @torch.inference_mode()
    def generate(
        self,
        token_set: TokenSet,
        prompt: str | Sequence[str],
        *,
        system: str | None = None,
        positions: str = "original",
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
        should_stop: Callable[[], bool] | None = None,
        stop_at_eos: bool = True,
        output_logits: bool = False,
        batch_size: int = 8,
    ) -> Generation | list[Generation]:
        """Prefill the kept video tokens with the prompt, then decode (greedy when ``temperature`` is 0).

        ``prompt`` is one question (a :class:`Generation` comes back) or a list of them (a list comes back,
        in order): the part of the prompt they share, the video included, is prefilled once, and the
        questions are answered ``batch_size`` at a time as one batch, each at the positions it has alone and
        sampling from its own generator seeded with ``seed``, so that each answer is the one it gets when asked
        alone. A stop (``should_stop``) returns the answers so far (fewer than the questions when it comes
        between batches), the unfinished ones marked ``stopped``. The stats of an answer given in a batch are
        the batch's (``questions_in_batch`` says how many). ``positions``
        as for :meth:`prefill`. ``stop_at_eos=False`` always decodes ``max_new_tokens`` tokens, for timing;
        ``output_logits=True`` keeps each step's logits (as transformers' ``generate`` does).
        """
        questions = [prompt] if isinstance(prompt, str) else list(prompt) if isinstance(prompt, list | tuple) else None
        if not questions or not all(isinstance(question, str) for question in questions):
            raise InputError(f"give a question as text, or a non-empty list of them; got {prompt!r:.200}")
        check_int("max_new_tokens", max_new_tokens, 1)
        check_int("batch_size", batch_size, 1)
        check_sampling(temperature, top_p, seed)
        self.check_positions(positions)
        for question in questions:
            self.check_prompt(question, system)
            self.check_context(int(token_set.kept_mask.sum()), question, system, max_new_tokens)
        _peak_memory_reset(self.device)
        decoding = dict(
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            should_stop=should_stop,
            stop_at_eos=stop_at_eos,
            output_logits=output_logits,
        )
        if isinstance(prompt, str):
            state = self.prefill(token_set, prompt, system, positions)
            batch = QuestionBatch(
                state.logits,
                state.cache,
                state.positions[..., -1:] + 1,
                state.attention_mask,
                [state.positions.shape[-1]],
                state.milliseconds,
            )
            return self._answer(token_set, batch, **decoding)[0]
        shared = share_prompt(self, token_set, questions, system, positions)
        starts = range(0, len(questions), batch_size)
        answers = []
        for start in starts:
            if answers and should_stop is not None and should_stop():
                break  # a stop between groups: the answers so far
            group = list(range(start, min(start + batch_size, len(questions))))
            batch = prefill_questions(self, shared, group, reuse_cache=start == starts[-1])
            answers += self._answer(token_set, batch, **decoding)
            del batch  # this group's caches go before the next group's are made
            if any(answer.stopped for answer in answers):
                break
        return answers

    def _answer(
        self,
        token_set: TokenSet,
        batch: QuestionBatch,
        *,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        seed: int,
        should_stop: Callable[[], bool] | None,
        stop_at_eos: bool,
        output_logits: bool,
    ) -> list[Generation]:
        """Decode every row of ``batch`` until it stops (its own end token, or ``max_new_tokens``)."""
        rows = len(batch.prompt_tokens)
        logits, cache, attention_mask = batch.logits, batch.cache, batch.attention_mask
        generators = [torch.Generator(device=self.device).manual_seed(seed) for _ in range(rows)]
        eos_ids = self._eos_ids()
        token_ids: list[list[int]] = [[] for _ in range(rows)]
        step_logits: list[list[Tensor]] = [[] for _ in range(rows)]
        running = [True] * rows
        stopped = False
        start = time.perf_counter()
        for step in range(max_new_tokens):
            if temperature == 0:
                tokens = logits.argmax(dim=-1)
            else:
                tokens = torch.stack(
                    [self._pick(logits[row], temperature, top_p, generators[row]) for row in range(rows)]
                )
            picked = tokens.tolist()
            for row in range(rows):
                if running[row]:
                    token_ids[row].append(picked[row])
                    if output_logits:
                        step_logits[row].append(logits[row])
                    running[row] = not (stop_at_eos and picked[row] in eos_ids)
            if not any(running) or step == max_new_tokens - 1:
                break
            if should_stop is not None and should_stop():
                stopped = True
                break
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones(rows, 1)], dim=1)
            embeds = self.model.get_input_embeddings()(tokens.view(rows, 1))
            logits, cache = _hf.language_model_step(
                self.model, embeds, batch.next_positions + step, attention_mask, cache
            )
        _sync(self.device)
        decode_ms = (time.perf_counter() - start) * 1e3
        kept_per_frame = token_set.kept_mask.sum(dim=1).tolist()
        made = sum(len(ids) for ids in token_ids)
        shared = dict(
            video_tokens_total=token_set.frames * token_set.tokens_per_frame,
            video_tokens_kept=int(sum(kept_per_frame)),
            kept_per_frame=kept_per_frame,
            questions_in_batch=rows,
            encode_ms=token_set.encode_ms,
            policy_ms=token_set.policy.get("ms", 0.0),
            prefill_ms=batch.milliseconds,
            decode_ms=decode_ms,
            tokens_per_second=made / max(decode_ms / 1e3, 1e-9),
            peak_memory_mb=_peak_memory_mb(self.device),
        )
        return [
            Generation(
                text=self.tokenizer.decode(token_ids[row], skip_special_tokens=True),
                token_ids=token_ids[row],
                stats=dict(shared, prompt_tokens=batch.prompt_tokens[row], new_tokens=len(token_ids[row])),
                stopped=stopped and running[row],
                logits=torch.stack(step_logits[row]) if output_logits else None,
            )
            for row in range(rows)
        ]

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        return set(eos if isinstance(eos, list) else [eos])

    @staticmethod
    def _pick(logits: Tensor, temperature: float, top_p: float, generator: torch.Generator) -> Tensor:
        """Next token from one row of logits: a sample from the top-p nucleus of ``softmax(logits / temperature)``
        (greedy decoding takes the argmax of the whole batch instead)."""
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        order = torch.sort(probs, descending=True, stable=True)
        outside = order.values.cumsum(0) - order.values >= top_p  # keep the smallest prefix reaching top_p
        nucleus = order.values.masked_fill(outside, 0.0)
        return order.indices[torch.multinomial(nucleus, 1, generator=generator)][0]
