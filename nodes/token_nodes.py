"""Save Token Set, Load Token Set and Token Set Info."""

from __future__ import annotations

import os
from pathlib import Path

from comfy_api.latest import io, ui

from ..vcast_core.errors import InputError, TokenFileError
from ..vcast_core.token_files import load_token_set, save_token_set
from .paths import FOLDERS, in_folder, inside
from .sockets import CATEGORY, Tokens, tokens_input

TOKENS = f"{CATEGORY}/tokens"
SUFFIX = ".safetensors"


def output_path(prefix: str) -> Path:
    """A new numbered file for ``prefix`` inside the output folder: no '..', no absolute path, no link out of it."""
    if not prefix.strip(" ./") or Path(prefix).is_absolute() or ".." in Path(prefix).parts:
        raise InputError(f"filename prefix {prefix!r} must be a relative name inside the output folder, without '..'")
    folder = in_folder(str(Path(prefix).parent), "output")
    stem, number = Path(prefix).name, 1
    while (folder / f"{stem}_{number:05d}{SUFFIX}").exists() or (folder / f"{stem}_{number:05d}{SUFFIX}").is_symlink():
        number += 1
    return folder / f"{stem}_{number:05d}{SUFFIX}"


def token_files() -> list[str]:
    """``input/...`` and ``output/...`` names of the token-set files ComfyUI's folders hold."""
    names = []
    for label in ("input", "output"):
        root = FOLDERS[label]()
        for folder, _, files in os.walk(root, followlinks=True):
            relative = Path(folder).relative_to(root)
            names += [f"{label}/{(relative / name).as_posix()}" for name in files if name.endswith(SUFFIX)]
    return sorted(names)


def token_file_path(name: str) -> Path:
    """The file behind a ``input/...`` or ``output/...`` name from :func:`token_files`."""
    folder, _, relative = name.partition("/")
    if folder not in ("input", "output"):
        raise TokenFileError(f"{name!r} is not a token-set file in the input or output folder")
    return in_folder(relative, folder)


class SaveTokenSet(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="VCast_SaveTokenSet",
            display_name="Save Token Set",
            category=TOKENS,
            description="Write the token set (and its kept mask) to a new .safetensors file in the output folder.",
            inputs=[
                tokens_input(),
                io.String.Input(
                    "filename_prefix",
                    default="vcast/tokens",
                    tooltip="Name inside the output folder; a number is appended.",
                ),
            ],
            outputs=[io.String.Output(display_name="path")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, tokens, filename_prefix) -> io.NodeOutput:
        path = save_token_set(tokens, output_path(filename_prefix))
        shown = path.relative_to(Path(FOLDERS["output"]()).resolve()).as_posix()
        return io.NodeOutput(str(path), ui=ui.PreviewText(f"{shown} in ComfyUI's output folder"))


class LoadTokenSet(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="VCast_LoadTokenSet",
            display_name="Load Token Set",
            category=TOKENS,
            description="Read a token set saved by Save Token Set (from the input or output folder).",
            inputs=[
                io.Combo.Input("file", options=token_files(), tooltip="A saved token set."),
                io.String.Input(
                    "path",
                    optional=True,
                    force_input=True,
                    tooltip="Instead of the list: a token-set file path, e.g. the path output of Save Token Set.",
                ),
            ],
            outputs=[Tokens.Output(display_name="tokens")],
        )

    @classmethod
    def source(cls, file: str, path: str | None) -> Path:
        return inside(path, "input", "output") if path else token_file_path(file)

    @classmethod
    def execute(cls, file, path=None) -> io.NodeOutput:
        return io.NodeOutput(load_token_set(cls.source(file, path)))

    @classmethod
    def fingerprint_inputs(cls, file, path=None):
        try:
            return os.path.getmtime(cls.source(file, path))
        except (OSError, ValueError):
            return float("nan")


def describe(token_set) -> str:
    kept = token_set.kept_mask.sum(dim=1).tolist()
    total, tokens = token_set.frames * token_set.tokens_per_frame, token_set.tokens_per_frame
    lines = [
        f"{token_set.model_type}: {token_set.frames} frames x {tokens} tokens x {token_set.features.shape[-1]}",
        f"kept {sum(kept)} of {total} ({100 * sum(kept) / total:.1f}%)"
        + (f" by {token_set.policy.get('allocator')} + {token_set.policy.get('selector')}" if token_set.policy else ""),
    ]
    lines += [f"frame {t} ({token_set.timestamps[t]:.1f} s): {k} of {tokens}" for t, k in enumerate(kept)]
    return "\n".join(lines)


class TokenSetInfo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="VCast_TokenSetInfo",
            display_name="Token Set Info",
            category=TOKENS,
            description="Tokens kept of the total, per frame and overall, as text.",
            inputs=[tokens_input()],
            outputs=[io.String.Output(display_name="info")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, tokens) -> io.NodeOutput:
        text = describe(tokens)
        return io.NodeOutput(text, ui=ui.PreviewText(text))


NODES = [SaveTokenSet, LoadTokenSet, TokenSetInfo]
