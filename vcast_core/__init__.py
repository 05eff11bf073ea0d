"""V-CAST core: curvature-aware spatio-temporal token pruning for video LLMs.

Plain tensors in, plain tensors out; importable without ComfyUI (and without importing
transformers until a model is loaded). The policy API:

- :func:`frame_curvature` ``[T, P, D] -> [T]``
- :func:`allocate_budget` ``[T, P, D], ratio -> [T]`` tokens kept per frame
- :func:`select_tokens` ``[T, P, D], budget -> [T, P]`` kept mask
- :func:`prune_tokens` both of the above in one call
- :func:`prune_tokens_to_total` the same for an exact number of kept tokens (for engines such as vLLM)

The pipeline: :func:`load_video` -> :func:`load_videollm` -> ``VideoLLM.encode`` ->
:func:`prune` -> ``VideoLLM.generate``. Input it cannot use raises a :class:`VCastError`
(see :mod:`vcast_core.errors`) whose message says what to change.
"""

from .allocation import ALLOCATION_METHODS, ROUNDINGS, allocate_budget, total_budget
from .curvature import frame_curvature
from .errors import (
    DeviceOutOfMemoryError,
    InputError,
    MemoryLimitError,
    ModelError,
    TokenFileError,
    TokenSetError,
    VCastError,
    VideoError,
)
from .policy import prune_tokens, prune_tokens_to_total
from .selection import SELECTION_METHODS, select_tokens
from .token_files import load_token_set, save_token_set
from .tokens import Budget, TokenSet, allocate, apply_budget, prune
from .video import VideoClip, load_video

__version__ = "0.2.0"

_MODEL_NAMES = ("Generation", "SUPPORTED_MODEL_TYPES", "VideoLLM", "load_videollm")


def __getattr__(name: str):
    """The model API imports transformers, so it loads on first use."""
    if name in _MODEL_NAMES:
        from . import models

        return getattr(models, name)
    raise AttributeError(f"module 'vcast_core' has no attribute {name!r}")


__all__ = [
    "ALLOCATION_METHODS",
    "Budget",
    "DeviceOutOfMemoryError",
    "InputError",
    "MemoryLimitError",
    "ModelError",
    "ROUNDINGS",
    "SELECTION_METHODS",
    "TokenFileError",
    "TokenSetError",
    "VCastError",
    "TokenSet",
    "VideoClip",
    "VideoError",
    "allocate",
    "allocate_budget",
    "apply_budget",
    "frame_curvature",
    "load_token_set",
    "load_video",
    "prune",
    "prune_tokens",
    "prune_tokens_to_total",
    "save_token_set",
    "select_tokens",
    "total_budget",
    *_MODEL_NAMES,
]
