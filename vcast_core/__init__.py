"""V-CAST core: curvature-aware spatio-temporal token pruning for video LLMs.

Plain tensors in, plain tensors out; importable without ComfyUI. The policy API:

- :func:`frame_curvature` ``[T, P, D] -> [T]``
- :func:`allocate_budget` ``[T, P, D], ratio -> [T]`` tokens kept per frame
- :func:`select_tokens` ``[T, P, D], budget -> [T, P]`` kept mask
- :func:`prune_tokens` both of the above in one call
"""

from .allocation import ALLOCATION_METHODS, ROUNDINGS, allocate_budget, total_budget
from .curvature import frame_curvature
from .policy import prune_tokens
from .selection import SELECTION_METHODS, select_tokens

__version__ = "0.1.0"

__all__ = [
    "ALLOCATION_METHODS",
    "ROUNDINGS",
    "SELECTION_METHODS",
    "allocate_budget",
    "frame_curvature",
    "prune_tokens",
    "select_tokens",
    "total_budget",
]
