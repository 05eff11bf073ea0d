"""Video files as people have them, made with FFmpeg's own libraries (through PyAV): other containers and
codecs, several streams, variable frame rates, rotation, playlists."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def square_frame(index: int, width: int, height: int) -> np.ndarray:
    """A bright square moving right by one pixel a frame over a dark gradient, and a mark in the top-left corner."""
    frame = np.tile(np.linspace(0, 80, width, dtype=np.uint8)[None, :, None], (height, 1, 3))
    side = max(2, min(width, height) // 4)
    frame[height // 3 : height // 3 + side, index % width : index % width + side] = 230
    frame[: max(2, height // 8), : max(2, width // 8), 0] = 255  # the corner mark shows which way is up
    return frame


def write_video(
    path: Path,
    frames: int = 40,
    width: int = 96,
    height: int = 64,
    fps: int = 25,
    codec: str = "libx264",
    container_format: str | None = None,
    times: list[float] | None = None,
    pix_fmt: str = "yuv420p",
) -> Path:
    """One video stream of ``frames`` moving-square frames; ``times`` (seconds) makes the frame rate variable."""
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if times is not None:
            stream.time_base = Fraction(1, 1000)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(square_frame(index, width, height), format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = round(times[index] * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_two_streams(path: Path, small: tuple[int, int], large: tuple[int, int], frames: int = 20) -> Path:
    """An MP4 whose first video stream is a small preview and whose second is the full-size video."""
    with av.open(str(path), "w") as container:
        streams = []
        for width, height in (small, large):
            stream = container.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            streams.append(stream)
        for index in range(frames):
            for stream in streams:
                picture = square_frame(index, stream.width, stream.height)
                for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                    container.mux(packet)
        for stream in streams:
            for packet in stream.encode():
                container.mux(packet)
    return path


def remux(source: Path, target: Path, container_format: str) -> Path:
    """``ffmpeg -i source -c copy target``: the same packets in another container."""
    with av.open(str(source)) as reading, av.open(str(target), "w", format=container_format) as writing:
        stream_in = reading.streams.video[0]
        stream_out = writing.add_stream_from_template(stream_in)
        for packet in reading.demux(stream_in):
            if packet.dts is None:
                continue
            packet.stream = stream_out
            writing.mux(packet)
    return target


def rotate_mp4(source: Path, target: Path, degrees: int) -> Path:
    """The MP4 with its track's display matrix set to turn it ``degrees`` clockwise, as phones record portrait
    video (the frames stay stored as they are)."""
    data = bytearray(source.read_bytes())
    box = data.find(b"tkhd") - 4
    matrix_at = box + (48 if data[box + 8] == 0 else 60)  # after the times, ids, layer and volume fields
    cos, sin = {90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees]
    matrix = (cos << 16, sin << 16, 0, -sin << 16, cos << 16, 0, 0, 0, 1 << 30)
    data[matrix_at : matrix_at + 36] = struct.pack(">9i", *matrix)
    target.write_bytes(bytes(data))
    return target
