"""Several questions about one token set for about the price of one.

Every question's prompt is ``[system][user: video tokens][question][assistant]``: the tokens up to
the question are the same for all of them, so they are prefilled once (kept video tokens at their
original positions, DeepStack included) and their KV cache is reused. Each group of questions
then gets a copy of that cache, one row per question (transformers' caches grow by concatenation,
so rows cannot share one prefix in place: while a group of B questions decodes, B copies of the
prefix's KV are held besides the shared one), and the questions run as one batch: each one's own tokens, right-padded to
the longest, at the positions it has when asked alone, with the padding masked out of attention.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ModelError
from ..tokens import TokenSet
from . import _hf


@dataclass(frozen=True)
class SharedPrompt:
    """The prefilled part every question shares, and each question's own tokens and positions after it."""

    cache: object  # batch 1, the kept prefix
    length: int  # kept tokens in the prefix
    milliseconds: float
    questions: list[Tensor]  # per question: its own token ids [n]
    positions: list[Tensor]  # per question: their positions [..., 1, n] (Qwen: [3, 1, n]; 1-D RoPE: [1, n])


@dataclass(frozen=True)
class QuestionBatch:
    """A group of questions prefilled as one batch: what decoding continues from."""

    logits: Tensor  # [B, vocab] at each question's last token
    cache: object  # B rows: the prefix, each question's tokens, padding
    next_positions: Tensor  # [..., B, 1]: each question's last position + 1
    attention_mask: Tensor  # [B, L]: 0 where a shorter question was padded
    prompt_tokens: list[int]  # per question: the kept prompt's length, as when asked alone
    milliseconds: float


def _shared_length(sequences: list[Tensor]) -> int:
    """Tokens every sequence starts with, leaving each at least one of its own."""
    length = min(len(ids) for ids in sequences) - 1
    first = sequences[0]
    for ids in sequences[1:]:
        differs = (ids[:length] != first[:length]).nonzero()
        length = int(differs[0]) if len(differs) else length
    return length


def share_prompt(llm, token_set: TokenSet, questions: list[str], system: str | None, positions: str) -> SharedPrompt:
    """Prefill what ``questions`` share (at least the whole video) once."""
    ids = [llm.prompt_ids(token_set, question, system)[0] for question in questions]
    shared = _shared_length(ids)
    placeholders = (ids[0] == llm.model.config.video_token_id).nonzero()
    if len(placeholders) and int(placeholders[-1]) >= shared:
        raise ModelError(f"the chat template of {llm.path} puts text of the question before the video")
    own_positions = [
        llm.family.positions(llm.model, row[None], (row == llm.model.config.video_token_id)[None], token_set)
        for row in ids
    ]
    prefix = llm.inputs_for(ids[0][None, :shared], token_set, own_positions[0][..., :shared])
    state = llm.prefill_inputs(prefix, token_set, positions)
    kept = state.positions.shape[-1]
    if positions == "compact":
        own_positions = [kept + torch.arange(len(row) - shared, device=llm.device)[None] for row in ids]
    else:
        own_positions = [position[..., shared:] for position in own_positions]
    return SharedPrompt(state.cache, kept, state.milliseconds, [row[shared:] for row in ids], own_positions)


def prefill_questions(llm, shared: SharedPrompt, which: list[int], reuse_cache: bool) -> QuestionBatch:
    """The questions at indices ``which`` after the shared prefix, as one batch; ``reuse_cache`` hands them the
    shared cache itself (for the last group) instead of a copy."""
    cache = shared.cache if reuse_cache else copy.deepcopy(shared.cache)
    if len(which) > 1:
        cache.batch_repeat_interleave(len(which))
    lengths = [len(shared.questions[index]) for index in which]
    longest = max(lengths)
    ids = torch.stack([_padded(shared.questions[index], longest) for index in which])
    positions = torch.cat([_padded(shared.positions[index], longest) for index in which], dim=-2)
    own = torch.arange(longest, device=llm.device)[None] < torch.tensor(lengths, device=llm.device)[:, None]
    prefix = torch.ones(len(which), shared.length, dtype=torch.long, device=llm.device)
    attention_mask = torch.cat([prefix, own.long()], dim=1)
    last = torch.tensor(lengths, device=llm.device) - 1
    start = time.perf_counter()
    embeds = llm.model.get_input_embeddings()(ids)
    logits, cache = _hf.language_model_step(llm.model, embeds, positions, attention_mask, cache, last=last)
    if llm.device.type == "cuda":
        torch.cuda.synchronize(llm.device)
    milliseconds = (time.perf_counter() - start) * 1e3
    next_positions = positions.gather(
        -1, last.view(*[1] * (positions.dim() - 2), -1, 1).expand(*positions.shape[:-1], 1)
    )
    return QuestionBatch(
        logits=logits,
        cache=cache,
        next_positions=next_positions + 1,
        attention_mask=attention_mask,
        prompt_tokens=[shared.length + length for length in lengths],
        milliseconds=shared.milliseconds + milliseconds,
    )


def _padded(values: Tensor, length: int) -> Tensor:
    """``values`` along its last axis, padded to ``length`` by repeating its last entry (padding is masked)."""
    missing = length - values.shape[-1]
    return torch.cat([values, values[..., -1:].expand(*values.shape[:-1], missing)], dim=-1) if missing else values
