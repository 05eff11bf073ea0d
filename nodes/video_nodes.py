"""Load Video: sample frames from a file in ComfyUI's input folder, a path inside ComfyUI's folders, or a VIDEO."""

from __future__ import annotations

import os
from pathlib import Path

import folder_paths
import torch
from comfy_api.latest import io

from ..vcast_core.errors import VCastError, VideoError
from ..vcast_core.video import BACKENDS, MAX_MEMORY_GB, load_video
from .paths import in_folder, inside
from .sockets import CATEGORY, Clip


def _input_videos() -> list[str]:
    folder = folder_paths.get_input_directory()
    files = [name for name in os.listdir(folder) if os.path.isfile(os.path.join(folder, name))]
    return sorted(folder_paths.filter_files_content_types(files, ["video"]))


class LoadVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="VCast_LoadVideo",
            display_name="Load Video (V-CAST)",
            category=f"{CATEGORY}/video",
            description="Decode only the sampled frames of a video, with their source indices and timestamps.",
            inputs=[
                io.Combo.Input(
                    "video",
                    options=_input_videos(),
                    upload=io.UploadType.video,
                    tooltip="A video in ComfyUI's input folder (upload one here).",
                ),
                io.Combo.Input(
                    "backend",
                    options=list(BACKENDS),
                    default="auto",
                    tooltip="Decoder: auto uses decord if installed, else PyAV (and says so once in the console).",
                ),
                io.Float.Input(
                    "fps",
                    default=2.0,
                    min=0.0,
                    max=120.0,
                    step=0.1,
                    tooltip="Frames sampled per second; ignored when frames > 0.",
                ),
                io.Int.Input(
                    "frames", default=0, min=0, max=4096, tooltip="Sample this many frames evenly instead (0: use fps)."
                ),
                io.Int.Input(
                    "max_frames", default=64, min=1, max=4096, tooltip="At most this many frames, thinned evenly."
                ),
                io.Float.Input("start", default=0.0, min=0.0, max=1e6, step=0.1, tooltip="Start time in seconds."),
                io.Float.Input(
                    "end",
                    default=0.0,
                    min=0.0,
                    max=1e6,
                    step=0.1,
                    tooltip="End time in seconds (0: the end of the video).",
                ),
                io.Int.Input(
                    "max_pixels",
                    default=0,
                    min=0,
                    max=2**26,
                    tooltip="Shrink frames larger than this many pixels (0: keep the size).",
                ),
                io.Float.Input(
                    "max_memory_gb",
                    default=MAX_MEMORY_GB,
                    min=0.1,
                    max=1024.0,
                    step=0.5,
                    tooltip="Refuse to decode more than this many GB of full-size frames (the error says how many "
                    "frames fit).",
                ),
                io.String.Input(
                    "path",
                    default="",
                    optional=True,
                    tooltip="Instead of the list: a video file inside ComfyUI's input, output or temp folder.",
                ),
                io.Video.Input("video_input", optional=True, tooltip="Instead of the list: a core VIDEO input."),
            ],
            outputs=[
                Clip.Output(display_name="clip"),
                io.Image.Output(display_name="frames"),
                io.String.Output(display_name="info"),
            ],
        )

    @classmethod
    def source(cls, video: str, path: str = "", video_input=None) -> Path:
        """The file to decode, always inside ComfyUI's input, output or temp folder."""
        if video_input is not None:
            stream = video_input.get_stream_source()
            if not isinstance(stream, str):
                raise VideoError("this VIDEO input is not a file; save it first, then load the saved file")
            return inside(stream, "input", "output", "temp")
        if path:
            return inside(path, "input", "output", "temp")
        return in_folder(video, "input")

    @classmethod
    def execute(
        cls, video, backend, fps, frames, max_frames, start, end, max_pixels, max_memory_gb, path="", video_input=None
    ):
        clip = load_video(
            cls.source(video, path, video_input),
            fps=None if frames else fps,
            num_frames=frames or None,
            max_frames=max_frames,
            start=start,
            end=end or None,
            backend=backend,
            max_pixels=max_pixels or None,
            max_memory_gb=max_memory_gb,
        )
        images = clip.frames.to(torch.float32).div_(255)  # one float copy: ComfyUI's IMAGE is 4x the frames
        return io.NodeOutput(clip, images, clip.describe())

    @classmethod
    def fingerprint_inputs(cls, video, path="", video_input=None, **_):
        try:
            return os.path.getmtime(cls.source(video, path, video_input))
        except (OSError, ValueError):
            return float("nan")

    @classmethod
    def validate_inputs(cls, video, path=""):
        """Refuse a file outside ComfyUI's folders before the graph runs (a linked VIDEO is checked when it runs)."""
        try:
            cls.source(video, path)
        except VCastError as err:
            return str(err)
        return True


NODES = [LoadVideo]
