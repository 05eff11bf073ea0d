#!/usr/bin/env bash
# One prepared command for a GPU machine without network access: the full-size Qwen3-VL-8B
# configuration with random weights (valid for time and memory, not for answers) in bfloat16,
# 32 and 64 frames of a 448x448 synthetic clip, V-CAST at ratio 0.25 against the unpruned run.
# Needs this repository's requirements installed (torch with CUDA, transformers, av).
# Writes bench/results/gpu-<date>.md (the table) and .json (the rows).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
out="bench/results/gpu-$(date +%Y%m%d-%H%M%S)"
python bench/speed.py --config qwen3-vl-8b --device cuda --dtype bfloat16 --frames 32,64 --ratios 1,0.25 \
  --allocators curvature --selectors dual_anchor --side 448 --repeats 3 --json "$out.json" | tee "$out.md"
