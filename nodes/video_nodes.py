"""Load Video (a file in ComfyUI's folders, or a core VIDEO) and Images to Clip (an IMAGE batch from any node)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import folder_paths
import torch
from comfy_api.latest import InputImpl, io

from ..vcast_core.errors import InputError, VCastError
from ..vcast_core.video import BACKENDS, MAX_MEMORY_GB, VideoClip, clip_from_images, load_video
from .paths import in_folder, inside
from .sockets import CATEGORY, Clip

VHS_VIDEOINFO = io.Custom("VHS_VIDEOINFO")  # VideoHelperSuite's video info: a dict with loaded_fps and more


def sampling_inputs() -> list[io.Input]:
    """The sampling widgets Load Video and Images to Clip share."""
    return [
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
        io.Int.Input("max_frames", default=64, min=1, max=4096, tooltip="At most this many frames, thinned evenly."),
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
            tooltip="Refuse to hold more than this many GB of frames: the sampled frames at full size plus the "
            "float copy on the frames output (the error says how many frames fit).",
        ),
    ]


def _outputs(clip: VideoClip) -> io.NodeOutput:
    images = clip.frames.to(torch.float32).div_(255)  # ComfyUI's IMAGE: the float copy max_memory_gb counts
    return io.NodeOutput(clip, images, clip.describe())


OUTPUTS = [
    Clip.Output(display_name="clip"),
    io.Image.Output(display_name="frames"),
    io.String.Output(display_name="info"),
]


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
                *sampling_inputs(),
                io.String.Input(
                    "path",
                    default="",
                    optional=True,
                    tooltip="Instead of the list: a video file inside ComfyUI's input, output or temp folder.",
                ),
                io.Video.Input("video_input", optional=True, tooltip="Instead of the list: a core VIDEO input."),
            ],
            outputs=OUTPUTS,
        )

    @classmethod
    def source(cls, video: str, path: str = "", video_input=None) -> Path | None:
        """The file to decode, always inside ComfyUI's input, output or temp folder; None for a VIDEO held in
        memory."""
        if video_input is not None:
            if not isinstance(video_input, InputImpl.VideoFromFile):
                return None
            stream = video_input.get_stream_source()
            return inside(stream, "input", "output", "temp") if isinstance(stream, str) else None
        if path:
            return inside(path, "input", "output", "temp")
        return in_folder(video, "input")

    @classmethod
    def execute(
        cls, video, backend, fps, frames, max_frames, start, end, max_pixels, max_memory_gb, path="", video_input=None
    ):
        sampling = dict(
            fps=None if frames else fps,
            num_frames=frames or None,
            max_frames=max_frames,
            start=start,
            end=end or None,
            max_pixels=max_pixels or None,
            max_memory_gb=max_memory_gb,
            float_copy=True,
        )
        source = cls.source(video, path, video_input)
        if source is not None:
            return _outputs(load_video(source, backend=backend, **sampling))
        if isinstance(video_input, InputImpl.VideoFromFile):  # an uploaded or fetched file held in memory
            with _temporary_copy(video_input) as copy:
                return _outputs(load_video(copy, backend=backend, **sampling))
        components = video_input.get_components()
        return _outputs(
            clip_from_images(components.images, float(components.frame_rate), name="the VIDEO input", **sampling)
        )

    @classmethod
    def fingerprint_inputs(cls, video, path="", video_input=None, **_):
        """The file's modification time, so that a changed file runs again (a VIDEO in memory: its node's output
        decides)."""
        try:
            source = cls.source(video, path, video_input)
            return "" if source is None else os.path.getmtime(source)
        except (OSError, VCastError):
            return float("nan")

    @classmethod
    def validate_inputs(cls, video, path=""):
        """Refuse a file outside ComfyUI's folders before the graph runs (a linked VIDEO is checked when it runs)."""
        try:
            cls.source(video, path)
        except VCastError as err:
            return str(err)
        return True


@contextlib.contextmanager
def _temporary_copy(video_input) -> Iterator[Path]:
    """A VIDEO's in-memory file written to ComfyUI's temp folder for the decoders, removed afterwards."""
    folder = folder_paths.get_temp_directory()
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix="vcast-video-") as file:
        file.write(video_input.get_stream_source().getbuffer())
        file.flush()
        yield Path(file.name)


class ImagesToClip(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="VCast_ImagesToClip",
            display_name="Images to Clip",
            category=f"{CATEGORY}/video",
            description="Sample a clip from frames any node made (an IMAGE batch: VideoHelperSuite's Load Video, "
            "Get Video Components, a video model's output), timed by their frame rate.",
            inputs=[
                io.Image.Input("images", tooltip="The frames, in order."),
                io.Float.Input(
                    "frame_rate",
                    default=24.0,
                    min=0.01,
                    max=1000.0,
                    step=0.01,
                    tooltip="Frames per second of the images (ignored when video_info is connected).",
                ),
                *sampling_inputs(),
                VHS_VIDEOINFO.Input(
                    "video_info", optional=True, tooltip="VideoHelperSuite's video info: its loaded_fps is the rate."
                ),
            ],
            outputs=OUTPUTS,
        )

    @classmethod
    def execute(
        cls, images, frame_rate, fps, frames, max_frames, start, end, max_pixels, max_memory_gb, video_info=None
    ):
        if video_info is not None:
            if not isinstance(video_info, dict) or not isinstance(video_info.get("loaded_fps"), (int, float)):
                raise InputError("video_info has no loaded_fps; connect VideoHelperSuite's video_info output")
            frame_rate = float(video_info["loaded_fps"])
        clip = clip_from_images(
            images,
            frame_rate,
            name=f"{images.shape[0]} images at {frame_rate:g} fps",
            fps=None if frames else fps,
            num_frames=frames or None,
            max_frames=max_frames,
            start=start,
            end=end or None,
            max_pixels=max_pixels or None,
            max_memory_gb=max_memory_gb,
            float_copy=True,
        )
        return _outputs(clip)


NODES = [LoadVideo, ImagesToClip]
