"""File access inside the folders ComfyUI gives, and nowhere else."""

from __future__ import annotations

from pathlib import Path

import folder_paths

from ..vcast_core.errors import InputError

FOLDERS = {
    "input": folder_paths.get_input_directory,
    "output": folder_paths.get_output_directory,
    "temp": folder_paths.get_temp_directory,
}


def inside(path: str | Path, *folders: str) -> Path:
    """``path`` with links resolved, if it lies inside one of ComfyUI's ``folders``; else ValueError."""
    resolved = Path(path).expanduser().resolve()
    roots = [Path(FOLDERS[name]()).resolve() for name in folders]
    if not any(resolved.is_relative_to(root) for root in roots):
        raise InputError(f"{path} is outside ComfyUI's {' and '.join(folders)} folders; put the file in {roots[0]}")
    return resolved


def in_folder(name: str, folder: str) -> Path:
    """A file ``name`` relative to one of ComfyUI's folders, refusing names that lead out of it."""
    return inside(Path(FOLDERS[folder]()) / name, folder)
