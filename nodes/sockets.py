"""The pack's socket types: what flows between V-CAST nodes."""

from comfy_api.latest import io

Clip = io.Custom("VCAST_CLIP")  # vcast_core.VideoClip: sampled frames, indices, timestamps
VideoLLM = io.Custom("VCAST_VIDEOLLM")  # vcast_core.VideoLLM: a loaded model
Tokens = io.Custom("VCAST_TOKENS")  # vcast_core.TokenSet: visual tokens [T, P, D], maybe with a kept mask
Budget = io.Custom("VCAST_BUDGET")  # vcast_core.Budget: tokens to keep per frame

CATEGORY = "V-CAST"


def ratio_input(default: float = 0.25) -> io.Float.Input:
    return io.Float.Input(
        "ratio", default=default, min=0.01, max=1.0, step=0.01, tooltip="Share of the visual tokens kept, in (0, 1]."
    )


def min_per_frame_input() -> io.Int.Input:
    return io.Int.Input(
        "min_per_frame", default=1, min=0, max=4096, tooltip="Tokens every frame keeps, whatever its weight."
    )


def tokens_input() -> io.Custom:
    return Tokens.Input("tokens", tooltip="The token set from Encode Vision Tokens (or Load Token Set).")
