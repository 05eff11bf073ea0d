"""Token sets on disk: ``.safetensors`` with versioned metadata, checked on the way back in."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from .errors import TokenFileError
from .tokens import TokenSet

FORMAT = "vcast-token-set"
VERSION = 1


def save_token_set(token_set: TokenSet, path: str | Path) -> Path:
    """Write ``token_set`` (features, DeepStack levels, kept mask, metadata) to a new file; never overwrites."""
    path = Path(path)
    if path.exists():
        raise TokenFileError(f"{path} already exists; choose a new file name (nothing is overwritten)")
    tensors = {"features": token_set.features.detach().cpu().contiguous()}
    tensors.update({f"deepstack.{i}": level.detach().cpu().contiguous() for i, level in enumerate(token_set.deepstack)})
    if token_set.kept is not None:
        tensors["kept"] = token_set.kept.detach().cpu().to(torch.uint8)
    metadata = {
        "format": FORMAT,
        "version": str(VERSION),
        "model_type": token_set.model_type,
        "hidden_size": str(token_set.features.shape[-1]),
        "grid": json.dumps(list(token_set.grid)),
        "timestamps": json.dumps(list(token_set.timestamps)),
        "frame_indices": json.dumps(list(token_set.frame_indices)),
        "seconds_per_group": repr(token_set.seconds_per_group),
        "encode_ms": repr(token_set.encode_ms),
        "policy": json.dumps(token_set.policy),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    data = save(tensors, metadata=metadata)
    try:  # create, never replace: fails if anything (a file, a link) is already there
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except FileExistsError:
        raise TokenFileError(f"{path} already exists; choose a new file name (nothing is overwritten)") from None
    with os.fdopen(handle, "wb") as file:
        file.write(data)
    return path


def _metadata(path: Path) -> dict:
    with safe_open(path, framework="pt") as handle:
        return handle.metadata() or {}


def load_token_set(path: str | Path) -> TokenSet:
    """Read a file written by :func:`save_token_set`, refusing anything inconsistent."""
    path = Path(path)
    if not path.is_file():
        raise TokenFileError(f"token-set file {path} does not exist")
    try:
        metadata = _metadata(path)
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise TokenFileError(f"{path} is not a .safetensors file: {err}") from None
    if metadata.get("format") != FORMAT:
        raise TokenFileError(f"{path} is a .safetensors file but not a V-CAST token set (no '{FORMAT}' metadata)")
    if metadata.get("version") != str(VERSION):
        raise TokenFileError(
            f"{path} is token-set format version {metadata.get('version')}; this V-CAST reads {VERSION}"
        )
    try:
        token_set = _token_set(metadata, tensors)
    except (KeyError, TypeError, ValueError, OverflowError, RecursionError) as err:
        raise TokenFileError(f"{path} has inconsistent or damaged metadata: {err}") from None
    return token_set


MAX_FIELD = 1_000_000  # characters of one metadata field
MAX_DEPTH = 20  # nesting of the policy's options
WITH_DEEPSTACK = ("qwen3_vl", "qwen3_vl_moe")  # their token sets carry DeepStack levels


def _json(metadata: dict, key: str):
    """A metadata field's JSON, refusing huge fields, deep nesting and non-finite numbers (``1e999``, ``NaN``)."""
    text = metadata[key]
    if len(text) > MAX_FIELD:
        raise ValueError(f"{key} is {len(text)} characters long")
    if text.count("[") + text.count("{") > MAX_FIELD // 10 or _depth(text) > MAX_DEPTH:
        raise ValueError(f"{key} is nested too deeply")

    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):
            raise ValueError(f"{key} holds the number {number}")
        return value

    return json.loads(text, parse_float=finite, parse_constant=lambda name: finite("nan"))


def _depth(text: str) -> int:
    """The deepest nesting of brackets in ``text`` (outside strings, which JSON here never nests in)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _number(metadata: dict, key: str, low: float = 0.0) -> float:
    value = float(metadata[key])
    if not (math.isfinite(value) and value >= low):
        raise ValueError(f"{key} is {metadata[key]}")
    return value


def _finite(name: str, tensor: torch.Tensor) -> torch.Tensor:
    if not tensor.is_floating_point():
        raise ValueError(f"{name} has dtype {tensor.dtype}; a token set holds floating-point features")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} holds NaN or Inf")
    return tensor


def _token_set(metadata: dict, tensors: dict) -> TokenSet:
    features = _finite("features", tensors["features"])
    if features.dim() != 3:
        raise ValueError(f"features have shape {tuple(features.shape)}, not [T, P, D]")
    frames, _, width = features.shape
    grid = tuple(int(v) for v in _json(metadata, "grid"))
    if len(grid) != 3:
        raise ValueError(f"grid {grid} is not (t, h, w)")
    if int(metadata["hidden_size"]) != width:
        raise ValueError(f"hidden_size {metadata['hidden_size']} but the features are {width} wide")
    levels = sorted((k for k in tensors if k.startswith("deepstack.")), key=lambda k: int(k.split(".")[1]))
    deepstack = tuple(_finite(k, tensors[k]) for k in levels)
    if any(level.shape != features.shape for level in deepstack):
        raise ValueError("a DeepStack level does not match the features' [T, P, D]")
    model_type = metadata["model_type"]
    if model_type in WITH_DEEPSTACK and not deepstack:
        raise ValueError(f"a {model_type} token set carries its DeepStack levels, and this one has none")
    timestamps = tuple(float(t) for t in _json(metadata, "timestamps"))
    if len(timestamps) != frames or not all(math.isfinite(t) for t in timestamps):
        raise ValueError(f"{len(timestamps)} timestamps for {frames} frames, each a finite number of seconds")
    frame_indices = tuple(int(i) for i in _json(metadata, "frame_indices"))
    if any(i < 0 for i in frame_indices):
        raise ValueError("a frame index is negative")
    token_set = TokenSet(
        model_type=model_type,
        features=features,
        grid=grid,
        deepstack=deepstack,
        timestamps=timestamps,
        frame_indices=frame_indices,
        seconds_per_group=_number(metadata, "seconds_per_group"),
        encode_ms=_number(metadata, "encode_ms"),
    )
    token_set.token_grid  # noqa: B018 - raises when the grid does not fit the features
    if "kept" in tensors:
        kept = tensors["kept"]
        if kept.dtype not in (torch.uint8, torch.bool) or not bool(((kept == 0) | (kept == 1)).all()):
            raise ValueError(f"the kept mask is {kept.dtype} with values other than 0 and 1; it must be a 0/1 mask")
        policy = _json(metadata, "policy")
        if not isinstance(policy, dict):
            raise ValueError("policy is not a JSON object")
        token_set = token_set.with_kept(kept.bool(), policy)
    return token_set
