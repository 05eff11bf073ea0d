"""Validated features and the per-frame statistics that several policies share, each computed once."""

from __future__ import annotations

import copy
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_features, check_finite

EPS = 1e-6


# A trajectory step shorter than this (or than the features' own rounding, in bfloat16 2**-7) is no move:
# identical frames (a static shot, a frame a low-fps source repeats) differ only by float rounding, which may
# vary with the kernel that computed them.
STILL = 1e-5


class FrameStats:
    """Features ``[T, P, D]`` as float32 on their own device, with lazily computed per-frame statistics.

    In the view :meth:`in_own_dtype` the frame means and descriptors are computed as the released
    V-CAST code computes them: ``mean(dim=1)`` and the normalisation in the features' own dtype
    (bfloat16 for a bfloat16 model), for ``rounding="reference"``.
    """

    def __init__(self, features: Tensor) -> None:
        self.source = features  # as given, for in_own_dtype
        self.features = check_features(features)
        self.frames, self.tokens, self.width = self.features.shape
        self.own_dtype = False

    def in_own_dtype(self) -> FrameStats:
        """A view of the same features whose means and descriptors are computed in the features' own dtype."""
        view = copy.copy(self)
        view.__dict__.pop("means", None)
        view.__dict__.pop("descriptors", None)
        view.own_dtype = True
        return view

    @property
    def still(self) -> float:
        """The shortest trajectory step that is a move, for the features' dtype (see STILL)."""
        return max(STILL, torch.finfo(self.source.dtype).eps)

    @cached_property
    def means(self) -> Tensor:
        """``[T, D]`` mean token of each frame."""
        if self.own_dtype:
            means = self.source.mean(dim=1)
        else:
            weights = self.features.new_full((self.frames, 1, self.tokens), 1.0 / self.tokens)
            # A batched matrix product reads the tensor about twice as fast as Tensor.mean(dim=1) on CPU.
            means = torch.bmm(weights, self.features).squeeze(1)
        check_finite(means)
        return means

    @cached_property
    def descriptors(self) -> Tensor:
        """``[T, D]`` unit-length frame means ``f_t``: the frame-embedding trajectory."""
        return F.normalize(self.means, dim=-1, eps=EPS)

    @cached_property
    def norms(self) -> Tensor:
        """``[T, P]`` L2 norm of every token."""
        norms = torch.linalg.vector_norm(self.features, dim=-1)
        check_finite(norms)
        return norms

    def validate(self) -> None:
        """Raise InputError, naming the frames, if the features hold NaN or Inf (shares the frame-mean pass)."""
        self.means  # noqa: B018 - computing the means checks them
