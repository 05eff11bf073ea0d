"""Stand-in for ComfyUI's ``folder_paths``, rooted at a folder a test chooses with ``use_base``."""

from __future__ import annotations

import os

base = models_dir = ""
_model_folders: dict[str, list[str]] = {}
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi")


def use_base(path: str) -> None:
    """Put input/, output/, temp/ and models/ under ``path`` (created) and forget registered model folders."""
    global base, models_dir
    base, models_dir = str(path), os.path.join(path, "models")
    for name in ("input", "output", "temp", "models"):
        os.makedirs(os.path.join(base, name), exist_ok=True)
    _model_folders.clear()


def get_input_directory() -> str:
    return os.path.join(base, "input")


def get_output_directory() -> str:
    return os.path.join(base, "output")


def get_temp_directory() -> str:
    return os.path.join(base, "temp")


def add_model_folder_path(name: str, path: str, is_default: bool = False) -> None:
    folders = _model_folders.setdefault(name, [])
    if path not in folders:
        folders.append(path)


def get_folder_paths(name: str) -> list[str]:
    return list(_model_folders.get(name, []))


def filter_files_content_types(files: list[str], content_types: list[str]) -> list[str]:
    return [name for name in files if "video" in content_types and name.lower().endswith(VIDEO_SUFFIXES)]


def get_annotated_filepath(name: str) -> str:
    return os.path.join(get_input_directory(), name)
