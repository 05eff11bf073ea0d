"""Argument checks shared by the policy API: each failure is an InputError naming the argument and its range."""

from __future__ import annotations

import inspect
import math
import numbers
import operator
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from .errors import InputError


def check_features(features: Tensor) -> Tensor:
    """Return ``features`` as a float32 ``[T, P, D]`` tensor on its own device, or raise InputError."""
    if not isinstance(features, Tensor):
        raise InputError(f"features must be a torch.Tensor of shape [T, P, D], got {type(features).__name__}")
    if features.dim() != 3:
        raise InputError(
            "features must be a 3-D tensor [T, P, D] (frames, tokens per frame, feature width), "
            f"got shape {tuple(features.shape)}"
        )
    if not features.is_floating_point():
        raise InputError(f"features must be a floating-point tensor, got dtype {features.dtype}")
    frames, tokens, width = features.shape
    for name, size in (("T (frames)", frames), ("P (tokens per frame)", tokens), ("D (feature width)", width)):
        if size < 1:
            raise InputError(f"features must have {name} >= 1, got shape {tuple(features.shape)}")
    return features.float()


def check_finite(values: Tensor) -> None:
    """Raise if a per-frame summary of the features (``[T, ...]``) holds NaN or Inf, naming the frames."""
    if bool(torch.isfinite(values.sum())):  # one cheap reduction on the common path
        return
    bad = ~torch.isfinite(values.reshape(values.shape[0], -1)).all(dim=1)
    frames = bad.nonzero().flatten().tolist()
    raise InputError(
        f"features contain NaN or Inf (or values too large for float32) in frame(s) {frames[:10]}"
        f"{' ...' if len(frames) > 10 else ''}; check the encoder output (dtype overflow, corrupt frames)"
    )


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_ratio(ratio: float) -> float:
    if not _is_real(ratio) or not (0.0 < float(ratio) <= 1.0):
        raise InputError(f"ratio must be a number in (0, 1] (the share of tokens kept), got {ratio!r}")
    return float(ratio)


def check_positive(name: str, value: float, smallest: float = 1e-6) -> float:
    """A finite number of at least ``smallest`` (softmax temperatures below that overflow float32)."""
    if not _is_real(value) or not (math.isfinite(value) and value >= smallest):
        raise InputError(f"{name} must be a finite number >= {smallest:g}, got {value!r}")
    return float(value)


def check_number(name: str, value: float, low: float, high: float) -> float:
    if not _is_real(value) or not low <= value <= high:
        raise InputError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def check_int(name: str, value: int, low: int, high: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < low
        or (high is not None and value > high)
    ):
        upper = "inf)" if high is None else f"{high}]"
        raise InputError(f"{name} must be an integer in [{low}, {upper}, got {value!r}")
    return int(value)


MIN_TEMPERATURE = 1e-3  # a lower one makes logits / temperature overflow in bfloat16 and float16
MAX_TEMPERATURE = 100.0
MIN_TOP_P = 1e-6  # a lower one is 0 in float32
MAX_SEED = 2**63 - 1  # what torch.Generator.manual_seed takes


def check_sampling(temperature: float, top_p: float, seed: int) -> None:
    """Decoding settings every step can use: temperature 0 (greedy) or in [1e-3, 100], top_p in [1e-6, 1], seed in
    [0, 2**63 - 1]."""
    if not _is_real(temperature) or not (temperature == 0 or MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE):
        raise InputError(
            f"temperature must be 0 (greedy) or a number in [{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}], "
            f"got {temperature!r}"
        )
    check_number("top_p", top_p, MIN_TOP_P, 1.0)
    check_int("seed", seed, 0, MAX_SEED)


def check_text(name: str, text: str | None) -> str | None:
    """Text that can be tokenized: a string of valid Unicode (no lone surrogates, which undecodable bytes on a
    command line become)."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InputError(f"{name} must be text, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InputError(
            f"{name} is not valid UTF-8 text (position {err.start}); save it as UTF-8 or retype it"
        ) from None
    return text


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_budget(budget: Tensor | Sequence[int], frames: int, tokens: int) -> Tensor:
    """Return ``budget`` as a CPU int64 ``[T]`` tensor with entries in ``[0, P]``, or raise InputError."""
    if isinstance(budget, Tensor):
        if budget.is_floating_point() or budget.is_complex() or budget.dtype == torch.bool:
            raise InputError(f"budget must hold integers (tokens kept per frame), got dtype {budget.dtype}")
        values = budget.detach().to("cpu", torch.long)
    else:
        try:
            if any(isinstance(value, bool) for value in budget):
                raise TypeError("booleans are not token counts")
            values = torch.tensor([operator.index(value) for value in budget], dtype=torch.long)
        except TypeError as err:
            raise InputError(f"budget must be a sequence of integers, one per frame: {err}") from None
    if tuple(values.shape) != (frames,):
        raise InputError(
            f"budget must have one entry per frame, shape ({frames},), got shape {tuple(values.shape)}; "
            "was it computed for another token set?"
        )
    outside = ((values < 0) | (values > tokens)).nonzero().flatten().tolist()
    if outside:
        frame = outside[0]
        raise InputError(f"budget[{frame}] = {int(values[frame])} is outside [0, P={tokens}] (tokens per frame)")
    return values


def check_options(
    kind: str, method: str, func: Callable, options: Mapping[str, object], shared: Sequence[str] = ()
) -> dict:
    """Check that ``options`` are keyword parameters of ``func``; return them as a dict.

    ``shared`` names the options every method of this kind takes, for the error message.
    """
    allowed = [
        name
        for name, param in inspect.signature(func).parameters.items()
        if param.kind is inspect.Parameter.KEYWORD_ONLY
    ] + list(shared)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InputError(
            f"unknown option(s) {', '.join(unknown)} for {kind} method {method!r}; "
            f"allowed: {', '.join(allowed) if allowed else 'none'}"
        )
    return dict(options)


def check_method(kind: str, method: str, registry: Mapping[str, Callable]) -> Callable:
    if method not in registry:
        raise InputError(f"unknown {kind} method {method!r}; choose one of: {', '.join(registry)}")
    return registry[method]
