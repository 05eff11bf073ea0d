"""Preview images of what a policy did, as float ``[B, H, W, 3]`` in 0..1 (ComfyUI's IMAGE layout).

Drawn with Pillow so that they read on their own: the budget chart has axes, a legend and a
title; every kept-patch frame has a title line with the policy, the ratio and what was kept.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

BUDGET_COLOR = (66, 133, 244)
SIGNAL_COLOR = (255, 153, 26)
UNIFORM_COLOR = (170, 170, 170)
AXIS_COLOR = (200, 200, 200)
TEXT_COLOR = (235, 235, 235)
BACKGROUND = (31, 31, 31)
FONT_SIZE = 13
LINE = FONT_SIZE + 5  # height of one line of text
SIGNAL_TOP = 2.0  # every routing signal lies in [0, 2]
OVERLAY_WIDTH = 512  # kept-patch frames are scaled to this width, so their titles stay readable


def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default(size=FONT_SIZE)


def _to_image_tensor(images: list[Image.Image]) -> Tensor:
    return torch.from_numpy(np.stack([np.asarray(image, dtype=np.float32) / 255 for image in images]))


def _nice_step(top: float, ticks: int = 5) -> float:
    """A round step (1, 2 or 5 times a power of ten) that splits ``[0, top]`` into about ``ticks`` parts."""
    raw = max(top, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(power * factor for factor in (1, 2, 5, 10) if power * factor >= raw)


def _ticks(top: float, ticks: int = 5) -> list[float]:
    step = _nice_step(top, ticks)
    return [step * index for index in range(int(top / step + 1e-9) + 1)]


def _label(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def budget_chart(
    budget: Tensor,
    tokens_per_frame: int,
    signal: Tensor | None = None,
    *,
    signal_name: str = "curvature",
    timestamps: tuple[float, ...] | None = None,
    title: str = "",
    width: int = 640,
    height: int = 320,
) -> Tensor:
    """Per-frame token budget as bars on a tokens axis, the routing ``signal`` (in [0, 2]) as a line on its
    own axis, the uniform share as a dashed line, a legend and ``title``; frames (or ``timestamps``, seconds)
    along the bottom. Returns ``[1, height, width, 3]``."""
    per_frame = [int(count) for count in budget.tolist()]
    frames, font = len(per_frame), _font()
    left, right, top, bottom = 58, width - 50, 2 * LINE + 10, height - 2 * LINE - 6
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)

    token_top = float(min(tokens_per_frame, max(max(per_frame, default=1), 1) * 1.15))
    token_ticks = _ticks(token_top)
    token_top = max(token_top, token_ticks[-1])

    def y_of(value: float, axis_top: float) -> float:
        return bottom - (bottom - top) * value / axis_top

    slot = (right - left) / max(frames, 1)

    def x_of(frame: float) -> float:
        return left + slot * (frame + 0.5)

    for tick in token_ticks:  # left axis: tokens
        y = y_of(tick, token_top)
        draw.line([(left - 4, y), (left, y)], fill=AXIS_COLOR)
        draw.text((left - 7, y), _label(tick), fill=TEXT_COLOR, font=font, anchor="rm")
    draw.text((6, top - LINE + 4), "tokens", fill=BUDGET_COLOR, font=font, anchor="lm")

    bar = max(1.0, slot * 0.7)
    for frame, count in enumerate(per_frame):
        if count:
            x = x_of(frame)
            draw.rectangle([x - bar / 2, y_of(count, token_top), x + bar / 2, bottom], fill=BUDGET_COLOR)

    if frames:  # the uniform share, for reference
        uniform = y_of(sum(per_frame) / frames, token_top)
        for start in range(left, right, 10):
            draw.line([(start, uniform), (min(start + 5, right), uniform)], fill=UNIFORM_COLOR, width=1)

    if signal is not None:
        points = [(x_of(frame), y_of(float(value), SIGNAL_TOP)) for frame, value in enumerate(signal.tolist())]
        if len(points) > 1:
            draw.line(points, fill=SIGNAL_COLOR, width=2)
        for x, y in points:
            draw.ellipse([x - 2.5, y - 2.5, x + 2.5, y + 2.5], fill=SIGNAL_COLOR)
        for tick in (0.0, 0.5, 1.0, 1.5, 2.0):  # right axis: the signal
            y = y_of(tick, SIGNAL_TOP)
            draw.line([(right, y), (right + 4, y)], fill=AXIS_COLOR)
            draw.text((right + 7, y), _label(tick), fill=TEXT_COLOR, font=font, anchor="lm")
        draw.line([(right, top), (right, bottom)], fill=AXIS_COLOR)
        draw.text((width - 6, top - LINE + 4), signal_name, fill=SIGNAL_COLOR, font=font, anchor="rm")

    draw.line([(left, top), (left, bottom), (right, bottom)], fill=AXIS_COLOR)
    for frame in _ticks(max(frames - 1, 1), 8) if frames > 1 else [0]:  # bottom axis: frames or seconds
        frame = int(frame)
        x = x_of(frame)
        draw.line([(x, bottom), (x, bottom + 4)], fill=AXIS_COLOR)
        text = f"{timestamps[frame]:.1f}" if timestamps else str(frame)
        draw.text((x, bottom + 6), text, fill=TEXT_COLOR, font=font, anchor="mt")
    axis_name = "time (s)" if timestamps else "frame (temporal group)"
    draw.text(((left + right) / 2, height - 4), axis_name, fill=TEXT_COLOR, font=font, anchor="ms")

    kept, total = sum(per_frame), frames * tokens_per_frame
    heading = f"{title}: " if title else ""
    summary = f"{heading}kept {kept} of {total} tokens ({100 * kept / max(total, 1):.1f}%)"
    draw.text((6, 4), summary, fill=TEXT_COLOR, font=font)
    legend = [("budget per frame", BUDGET_COLOR, "box"), ("uniform share", UNIFORM_COLOR, "dash")]
    if signal is not None:
        legend.append((signal_name, SIGNAL_COLOR, "line"))
    x, y = left, LINE + 6
    for name, color, mark in legend:
        if mark == "box":
            draw.rectangle([x, y - 5, x + 10, y + 5], fill=color)
        for start, end in [(0, 12)] if mark == "line" else [(0, 4), (8, 12)] if mark == "dash" else []:
            draw.line([(x + start, y), (x + end, y)], fill=color, width=2)
        draw.text((x + 17, y), name, fill=TEXT_COLOR, font=font, anchor="lm")
        x += 35 + draw.textlength(name, font=font)
    return _to_image_tensor([image])


def kept_overlay(
    frames: Tensor,
    kept: Tensor,
    token_grid: tuple[int, int],
    frames_per_group: int,
    *,
    title: str = "",
    timestamps: tuple[float, ...] | None = None,
    dim: float = 0.25,
    width: int = OVERLAY_WIDTH,
) -> Tensor:
    """The sampled frames, scaled to ``width``, with the patches of dropped tokens dimmed to ``dim`` of their
    brightness, under a two-line title: ``title`` and the kept count overall, then the frame, its time and
    its group's kept count.

    ``frames`` uint8 ``[N, H, W, 3]``; ``kept`` bool ``[T, P]`` with ``P = h * w`` tokens in raster order on
    ``token_grid`` ``(h, w)``; temporal group t covers frames ``t * frames_per_group`` onwards. Returns
    ``[N, 2 * LINE + 4 + round(H * width / W), width, 3]``.
    """
    count, height, frame_width, _ = frames.shape
    scaled_height = max(1, round(height * width / frame_width))
    header = 2 * LINE + 4
    groups = (torch.arange(count) // frames_per_group).clamp(max=kept.shape[0] - 1)
    kept = kept.cpu()
    masks = kept.reshape(kept.shape[0], 1, *token_grid).float()[groups]
    masks = torch.nn.functional.interpolate(masks, size=(scaled_height, width), mode="nearest")[:, 0, :, :, None]
    font, total, kept_total = _font(), kept.numel(), int(kept.sum())
    summary = f"{title}: " if title else ""
    summary += f"kept {kept_total} of {total} tokens ({100 * kept_total / total:.1f}%)"
    images = []
    for index in range(count):
        pixels = frames[index].permute(2, 0, 1)[None].float()
        pixels = torch.nn.functional.interpolate(
            pixels, size=(scaled_height, width), mode="bilinear", antialias=width < frame_width, align_corners=False
        )[0].permute(1, 2, 0)
        shown = (pixels.clamp(0, 255) * (dim + (1 - dim) * masks[index])).round().to(torch.uint8).numpy()
        image = Image.new("RGB", (width, header + scaled_height), BACKGROUND)
        image.paste(Image.fromarray(shown), (0, header))
        group = int(groups[index])
        when = f" at {timestamps[index]:.2f} s" if timestamps else ""
        detail = f"frame {index + 1} of {count}{when}, group {group}: kept {int(kept[group].sum())} of {kept.shape[1]}"
        draw = ImageDraw.Draw(image)
        draw.text((6, 3), summary, fill=TEXT_COLOR, font=font)
        draw.text((6, 3 + LINE), detail, fill=TEXT_COLOR, font=font)
        images.append(image)
    return _to_image_tensor(images)
