"""The errors V-CAST raises for input it cannot use: each message says what is wrong and how to fix it.

Every one is a :class:`VCastError`; the command line prints its message on one line and exits
with code 2, and ComfyUI shows it on the node that raised it. The ones about a bad value are also
``ValueError``, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import torch


class VCastError(Exception):
    """Input V-CAST cannot use, or a run that cannot go on; the message says what to change."""


class InputError(VCastError, ValueError):
    """An argument of the wrong type or out of range: a ratio, tau, features with NaN, a path outside ComfyUI's
    folders."""


class VideoError(VCastError, ValueError):
    """A video that cannot be read or sampled as asked."""


class ModelError(VCastError, ValueError):
    """A model folder that cannot be loaded: missing files, pickle weights, an unsupported model type."""


class TokenSetError(VCastError, ValueError):
    """A token set, budget or clip used with a model or token set it was not made for."""


class TokenFileError(VCastError, ValueError):
    """A token-set file that cannot be read or does not describe a consistent token set."""


class MemoryLimitError(VCastError, MemoryError):
    """Work that would not fit in memory (a decoded video above the limit, CUDA out of memory)."""


class DeviceOutOfMemoryError(MemoryLimitError, torch.OutOfMemoryError):
    """A GPU ran out of memory. Also a ``torch.OutOfMemoryError``, so that callers that free memory on one (ComfyUI
    unloads its models) still do."""
