"""The frames of a video file, one stream rule for both decoders.

:func:`probe` reads a file's main video stream with PyAV, without decoding it: every frame's
presentation time, the frame size and rotation. Sampling then picks frame indices by time, and
:func:`decode_pyav` or :func:`decode_decord` decodes exactly those frames, turned upright as
FFmpeg's players turn them. decord is used only where it decodes the same frames: files with one
video stream, no rotation, in MP4/MOV or Matroska/WebM, not MPEG-4 Part 2 (whose last frame decord
decodes differently); anything else is PyAV's, and files that name other files (playlists, concat
lists) are refused. AVI stores no presentation times (its packets carry the decoding order), so
its frames are numbered in the order the decoder puts them out, evenly spaced at the stated rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import VideoError

# demuxers that read other files or the network: a playlist in ComfyUI's input folder could name anything
REFERENCING_FORMATS = {
    *("hls", "applehttp", "concat", "dash", "webm_dash_manifest", "image2", "sdp", "rtsp", "rtp", "tee"),
}
SEEKABLE_FORMATS = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"}  # where PyAV's seek lands where it should
DECORD_FORMATS = SEEKABLE_FORMATS
DECODING_ORDER_FORMATS = {"avi"}  # packets timed in decoding order: frames are numbered as the decoder outputs them


@dataclass(frozen=True)
class Source:
    """A file's main video stream, read from its packets."""

    path: Path
    stream_index: int
    pts: tuple[int, ...]  # every frame's presentation time in the stream's time base, ascending
    times: tuple[float, ...]  # the same in seconds from the first frame
    fps: float  # the stream's average frame rate
    height: int  # of the upright frames
    width: int
    rotation: int  # quarter turns counter-clockwise (numpy.rot90) that make a decoded frame upright
    seekable: bool
    decord_reason: str | None  # why decord would decode this file differently, or None
    numbered_by_output: bool = False  # the i-th frame out of the decoder is frame i (no usable presentation times)


def _open(path: Path):
    import av

    try:
        container = av.open(str(path), metadata_errors="replace", options={"protocol_whitelist": "file"})
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise VideoError(f"{path} is not a readable video: {err}") from None
    names = set(container.format.name.split(","))
    if names & REFERENCING_FORMATS:
        container.close()
        raise VideoError(
            f"{path} is a {container.format.name} file, which names other files or addresses; give the video "
            "file itself"
        )
    return container


def _main_stream(path: Path, container):
    """The video stream people mean: not an attached picture (cover art, a thumbnail), the largest, else the
    first."""
    streams = [s for s in container.streams.video if not (s.disposition & s.disposition.attached_pic)]
    if not streams:
        raise VideoError(f"{path} holds no video frames (no video stream); check that it is the file you meant")
    area = [(s.codec_context.width or 0) * (s.codec_context.height or 0) if s.codec_context else 0 for s in streams]
    return streams[area.index(max(area))], len(streams)


def _check_header(path: Path, stream) -> None:
    """Refuse a header whose frame count disagrees with its duration and rate (decord trusts that count and
    aborts the whole process on an absurd one)."""
    if stream.frames and stream.duration and stream.average_rate:
        expected = float(stream.duration * stream.time_base * stream.average_rate)
        if abs(stream.frames - expected) > 2 + 0.1 * expected:
            raise VideoError(
                f"{path} has a damaged header: it claims {stream.frames} frames, but {expected:.0f} by its "
                "duration and frame rate; re-encode it (ffmpeg -i damaged.mp4 repaired.mp4)"
            )


def _first_frame(path: Path, stream_index: int):
    import av

    with _open(path) as container:
        try:
            return next(container.decode(container.streams[stream_index]))
        except StopIteration:
            raise VideoError(f"{path} holds no decodable video frame; it may be damaged") from None
        except av.error.FFmpegError as err:
            raise VideoError(f"{path} could not be decoded: {err}") from None


def probe(path: Path) -> Source:
    """The main video stream of ``path``: its frames' times, upright size and rotation; VideoError otherwise."""
    import av

    with _open(path) as container:
        stream, video_streams = _main_stream(path, container)
        _check_header(path, stream)
        try:
            stamps = [
                packet.pts if packet.pts is not None else packet.dts
                for packet in container.demux(stream)
                if packet.size
            ]
        except av.error.FFmpegError as err:
            raise VideoError(f"{path} could not be read: {err}") from None
        time_base, format_name = stream.time_base, container.format.name
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        index, codec = stream.index, stream.codec_context.name if stream.codec_context else ""
    if not stamps:
        raise VideoError(f"{path} holds no video frames; check that it is the file you meant")
    by_output = format_name in DECODING_ORDER_FORMATS
    if None in stamps or by_output:  # no (usable) timing: frames are evenly spaced at the stated rate
        if rate <= 0:
            raise VideoError(f"{path} states neither frame times nor a frame rate")
        stamps = list(range(len(stamps)))
        time_base = 1 / rate
    pts = sorted(set(stamps))
    times = tuple(float((stamp - pts[0]) * time_base) for stamp in pts)
    if rate <= 0 or not np.isfinite(rate):
        rate = (len(times) - 1) / times[-1] if len(times) > 1 and times[-1] > 0 else 0
    if rate <= 0:
        raise VideoError(f"{path} does not state its frame rate")
    frame = _first_frame(path, index)
    if frame.width < 1 or frame.height < 1:
        raise VideoError(f"{path} holds a video stream of unknown frame size; the file may be damaged")
    turns = round(getattr(frame, "rotation", 0) / 90) % 4
    height, width = (frame.height, frame.width) if turns % 2 == 0 else (frame.width, frame.height)
    reasons = [
        (video_streams > 1, f"it holds {video_streams} video streams (decord would pick its own)"),
        (turns != 0, "its frames are stored rotated"),
        (format_name not in DECORD_FORMATS, f"decord does not read {format_name} files as PyAV does"),
        (codec == "mpeg4", "decord decodes the last frame of MPEG-4 Part 2 video differently"),
        (len(pts) != len(stamps), "frames share presentation times"),
    ]
    reason = next((text for applies, text in reasons if applies), None)
    seekable = format_name in SEEKABLE_FORMATS
    return Source(path, index, tuple(pts), times, rate, height, width, turns, seekable, reason, by_output)


def _upright(frame, turns: int) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24")
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def decode_pyav(source: Source, indices: list[int]) -> np.ndarray:
    """The frames at ``indices`` (ascending), upright, ``[N, H, W, 3]`` uint8. A frame more than about a
    second past the last one decoded is reached by seeking to the keyframe before it, where the container
    allows; nearer ones are decoded through."""
    import av

    wanted = [source.pts[i] for i in indices]
    index_of = {stamp: index for index, stamp in enumerate(source.pts)}
    seek_gap = max(8, round(source.fps))
    found: dict[int, np.ndarray] = {}
    with _open(source.path) as container:
        stream = container.streams[source.stream_index]
        frames, position = None, -1
        try:
            for index, target in zip(indices, wanted, strict=True):
                if frames is None or (source.seekable and index - position > seek_gap):
                    if source.seekable:
                        container.seek(target, backward=True, stream=stream)
                    frames = container.decode(stream)
                for frame in frames:
                    if source.numbered_by_output:
                        stamp = position = position + 1
                    else:
                        stamp = frame.pts if frame.pts is not None else frame.dts
                        position = index_of.get(stamp, position)
                    if stamp is not None and stamp >= target:
                        if stamp == target:
                            found[target] = _upright(frame, source.rotation)
                        break
        except av.error.FFmpegError as err:
            raise VideoError(f"{source.path} could not be decoded: {err}") from None
    missing = [index for index, stamp in zip(indices, wanted, strict=True) if stamp not in found]
    if missing:
        raise VideoError(
            f"{source.path}: frame {missing[0]} could not be decoded; the file may be damaged or cut short"
        )
    return np.stack([found[stamp] for stamp in wanted])


def decode_decord(source: Source, indices: list[int]) -> np.ndarray:
    """The frames at ``indices`` by decord, which must see the same frames as :func:`probe`."""
    import decord

    if source.decord_reason:
        raise VideoError(f"decord would not decode {source.path} as PyAV does: {source.decord_reason}; use pyav")
    try:
        reader = decord.VideoReader(str(source.path), ctx=decord.cpu(0), num_threads=1)
        if len(reader) != len(source.pts):
            raise VideoError(f"decord counts {len(reader)} frames in {source.path}, PyAV {len(source.pts)}; use pyav")
        frames = reader.get_batch(indices).asnumpy()
    except (decord.DECORDError, RuntimeError) as err:
        raise VideoError(f"decord could not decode {source.path}: {str(err).splitlines()[0]}") from None
    if frames.shape[1:] != (source.height, source.width, 3):
        raise VideoError(f"decord gives frames of shape {frames.shape[1:]} for {source.path}; use pyav")
    return frames
