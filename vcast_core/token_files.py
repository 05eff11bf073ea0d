"""Token sets on disk: ``.safetensors`` with versioned metadata, checked on the way back in."""

from __future__ import annotations

import json
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
    except (KeyError, TypeError, ValueError) as err:
        raise TokenFileError(f"{path} has inconsistent or damaged metadata: {err}") from None
    return token_set


def _token_set(metadata: dict, tensors: dict) -> TokenSet:
    features = tensors["features"]
    frames, _, width = features.shape
    grid = tuple(int(v) for v in json.loads(metadata["grid"]))
    if len(grid) != 3:
        raise ValueError(f"grid {grid} is not (t, h, w)")
    if int(metadata["hidden_size"]) != width:
        raise ValueError(f"hidden_size {metadata['hidden_size']} but the features are {width} wide")
    levels = sorted((k for k in tensors if k.startswith("deepstack.")), key=lambda k: int(k.split(".")[1]))
    deepstack = tuple(tensors[k] for k in levels)
    if any(level.shape[:2] != features.shape[:2] for level in deepstack):
        raise ValueError("a DeepStack level does not match the features' [T, P]")
    timestamps = tuple(float(t) for t in json.loads(metadata["timestamps"]))
    if len(timestamps) != frames:
        raise ValueError(f"{len(timestamps)} timestamps for {frames} frames")
    token_set = TokenSet(
        model_type=metadata["model_type"],
        features=features,
        grid=grid,
        deepstack=deepstack,
        timestamps=timestamps,
        frame_indices=tuple(int(i) for i in json.loads(metadata["frame_indices"])),
        seconds_per_group=float(metadata["seconds_per_group"]),
        encode_ms=float(metadata["encode_ms"]),
    )
    token_set.token_grid  # noqa: B018 - raises when the grid does not fit the features
    if "kept" in tensors:
        token_set = token_set.with_kept(tensors["kept"].bool(), json.loads(metadata["policy"]))
    return token_set
