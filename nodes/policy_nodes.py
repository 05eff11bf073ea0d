"""Allocators (token set + ratio -> budget) and selectors (token set + budget -> pruned token set).

Swapping a policy is swapping a node: every allocator outputs a budget, every selector takes one.
"""

from __future__ import annotations

from comfy_api.latest import io, ui

from ..vcast_core.allocation import ROUNDINGS
from ..vcast_core.curvature import SIGNALS
from ..vcast_core.errors import TokenSetError
from ..vcast_core.previews import budget_chart, kept_overlay
from ..vcast_core.tokens import allocate, apply_budget
from .sockets import CATEGORY, Budget, Clip, Tokens, min_per_frame_input, ratio_input, tokens_input

ALLOCATORS = f"{CATEGORY}/allocate"
SELECTORS = f"{CATEGORY}/select"


def _budget_output(cls, token_set, budget) -> io.NodeOutput:
    signal = budget.options.get("signal", "turn") if budget.method == "curvature" else "turn"
    chart = budget_chart(
        budget.per_frame,
        token_set.tokens_per_frame,
        budget.curvature,
        signal_name="curvature" if signal == "turn" else f"{signal} (scaled)",
        timestamps=token_set.timestamps,
        title=f"{budget.method} allocator, ratio {budget.ratio:g}",
    )
    return io.NodeOutput(budget, ui=ui.PreviewImage(chart, cls=cls))


def _allocator(node_id, name, method, description, extra_inputs=list):
    """An allocator node class for ``method``; its options are the ids of ``extra_inputs``."""

    class Allocator(io.ComfyNode):
        @classmethod
        def define_schema(cls) -> io.Schema:
            return io.Schema(
                node_id=node_id,
                display_name=name,
                category=ALLOCATORS,
                description=description,
                inputs=[tokens_input(), ratio_input(), *extra_inputs(), min_per_frame_input()],
                outputs=[Budget.Output(display_name="budget")],
                is_output_node=True,  # ComfyUI re-sends an output node's preview when it serves it from its cache
            )

        @classmethod
        def execute(cls, tokens, ratio, **options) -> io.NodeOutput:
            return _budget_output(cls, tokens, allocate(tokens, ratio, method, **options))

    Allocator.__name__ = Allocator.__qualname__ = node_id.removeprefix("VCast_")
    return Allocator


CurvatureAllocator = _allocator(
    "VCast_CurvatureAllocator",
    "Curvature Allocator (V-CAST)",
    "curvature",
    "Route the token budget to event boundaries: softmax(curvature / tau) of the frame trajectory.",
    lambda: [
        io.Float.Input(
            "tau", default=0.7, min=0.01, max=10.0, step=0.01, tooltip="Softmax temperature; lower routes more sharply."
        ),
        io.Combo.Input(
            "signal",
            options=list(SIGNALS),
            default="turn",
            tooltip="turn: the published curvature (turning angle). jump: how far the trajectory leaves its "
            "chord, which tells hard cuts from jitter. turn_x_jump: both.",
        ),
        io.Combo.Input(
            "rounding",
            options=list(ROUNDINGS),
            default="largest_remainder",
            tooltip="Leftover tokens: largest remainder, or the released code's rule.",
        ),
    ],
)
UniformAllocator = _allocator(
    "VCast_UniformAllocator", "Uniform Allocator", "uniform", "The same budget for every frame."
)
VidCom2Allocator = _allocator(
    "VCast_VidCom2Allocator",
    "VidCom2 Allocator",
    "vidcom2",
    "More tokens for frames unlike the video as a whole (VidCom2, EMNLP 2025).",
    lambda: [
        io.Float.Input(
            "temperature",
            default=0.01,
            min=0.0001,
            max=10.0,
            step=0.001,
            tooltip="Softmax temperature of the frame uniqueness.",
        )
    ],
)
SegmentAllocator = _allocator(
    "VCast_SegmentAllocator",
    "Segment Allocator",
    "segment",
    "Cut the video where adjacent frames differ (FastVID's DySeg); each segment gets an equal share.",
    lambda: [
        io.Float.Input(
            "threshold",
            default=0.84,
            min=-1.0,
            max=1.0,
            step=0.01,
            tooltip="Cut where adjacent frames' cosine similarity is below this.",
        ),
        io.Int.Input(
            "min_segments", default=8, min=1, max=4096, tooltip="At least this many segments (the least similar pairs)."
        ),
    ],
)

EVSAllocator = _allocator(
    "VCast_EVSAllocator",
    "EVS Allocator (vLLM)",
    "evs",
    "vLLM's EVS: each frame's share of the clip's tokens that changed most since the previous frame; "
    "the first frame first. Pair it with the EVS Selector for vLLM's own mask.",
)


def _selector(node_id, name, method, description, extra_inputs=list):
    """A selector node class for ``method``; the optional clip input draws the kept-patch preview."""

    class Selector(io.ComfyNode):
        @classmethod
        def define_schema(cls) -> io.Schema:
            return io.Schema(
                node_id=node_id,
                display_name=name,
                category=SELECTORS,
                description=description,
                inputs=[
                    tokens_input(),
                    Budget.Input("budget", tooltip="From an allocator run on the same token set."),
                    *extra_inputs(),
                    Clip.Input(
                        "clip", optional=True, tooltip="The clip the tokens came from, for the kept-patch preview."
                    ),
                ],
                outputs=[Tokens.Output(display_name="tokens")],
                is_output_node=True,  # ComfyUI re-sends an output node's preview when it serves it from its cache
            )

        @classmethod
        def execute(cls, tokens, budget, clip=None, **options) -> io.NodeOutput:
            pruned = apply_budget(tokens, budget, method, **options)
            if clip is None:
                return io.NodeOutput(pruned)
            if clip.indices != tokens.frame_indices:
                raise TokenSetError("the clip is not the one these tokens were encoded from; connect that clip")
            preview = kept_overlay(
                clip.frames,
                pruned.kept_mask,
                pruned.token_grid,
                pruned.frames_per_group,
                title=f"{budget.method} + {method}, ratio {budget.ratio:g}",
                timestamps=clip.timestamps,
            )
            return io.NodeOutput(pruned, ui=ui.PreviewImage(preview, cls=cls))

    Selector.__name__ = Selector.__qualname__ = node_id.removeprefix("VCast_")
    return Selector


DualAnchorSelector = _selector(
    "VCast_DualAnchorSelector",
    "Dual-Anchor Selector (V-CAST)",
    "dual_anchor",
    "Keep the tokens most unlike their frame's mean plus the strongest activations; positions are kept.",
)
RandomSelector = _selector(
    "VCast_RandomSelector",
    "Random Selector",
    "random",
    "Keep random tokens (seeded): the control every selector should beat.",
    lambda: [
        io.Int.Input("seed", default=0, min=0, max=2**31 - 1, control_after_generate=True, tooltip="Seed of the draw.")
    ],
)
DivPruneSelector = _selector(
    "VCast_DivPruneSelector",
    "DivPrune Selector",
    "divprune",
    "Keep a maximally diverse set per frame (greedy max-min cosine distance, DivPrune CVPR 2025).",
)
NormSelector = _selector("VCast_NormSelector", "Norm Selector", "norm", "Keep the tokens with the largest L2 norm.")
EVSSelector = _selector(
    "VCast_EVSSelector",
    "EVS Selector (vLLM)",
    "evs",
    "vLLM's EVS: keep the tokens that changed most since the same position in the previous frame.",
)


class KeepAllSelector(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="VCast_KeepAllSelector",
            display_name="Keep All (unpruned)",
            category=SELECTORS,
            description="Keep every token: the unpruned baseline to compare a policy against.",
            inputs=[tokens_input()],
            outputs=[Tokens.Output(display_name="tokens")],
        )

    @classmethod
    def execute(cls, tokens) -> io.NodeOutput:
        return io.NodeOutput(
            tokens.with_kept(tokens.kept_mask.new_ones(tokens.kept_mask.shape), {"selector": "keep_all"})
        )


NODES = [
    CurvatureAllocator,
    UniformAllocator,
    VidCom2Allocator,
    SegmentAllocator,
    EVSAllocator,
    DualAnchorSelector,
    RandomSelector,
    DivPruneSelector,
    NormSelector,
    EVSSelector,
    KeepAllSelector,
]
