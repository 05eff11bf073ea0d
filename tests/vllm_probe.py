"""Run vLLM on one clip and print what it answered (a subprocess of tests/test_vllm_plugin.py: vLLM starts engine
processes of its own, which a pytest process should not host).

    python tests/vllm_probe.py '{"model": ..., "frames": ..., "rate": 0.5, "method": "evs", "vcast": {...},
                                 "prompts": ["wrapped", "bare", "wrapped"]}'

"vcast" (a dict, possibly empty) selects V-CAST's architecture ("architecture", Qwen3-VL's by default) with that
policy; without it vLLM's own method runs. Prints one line: RESULT followed by JSON, per prompt the prompt
length, the new token ids and the log-probability of the first one.
"""

import json
import sys

import numpy as np

PROMPTS = {  # the chat template's form (outer markers kept, as transformers >= 5.10 leaves it) and the bare one
    "wrapped": "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>What happens?<|im_end|>\n"
    "<|im_start|>assistant\n",
    "bare": "<|im_start|>user\n<|video_pad|>What happens?<|im_end|>\n<|im_start|>assistant\n",
    # Qwen2.5-VL's template: a default system message, one contiguous video block
    "qwen2_5_vl": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    "<|vision_start|><|video_pad|><|vision_end|>What happens?<|im_end|>\n<|im_start|>assistant\n",
}


def main() -> None:
    from vllm import LLM, SamplingParams

    config = json.loads(sys.argv[1])
    frames = np.load(config["frames"])
    metadata = dict(
        total_num_frames=len(frames),
        fps=config["fps"],
        duration=len(frames) / config["fps"],
        frames_indices=list(range(len(frames))),
        do_sample_frames=False,
        video_backend="opencv",
    )
    pruning = dict(video_pruning_rate=config["rate"], video_pruning_method=config["method"])
    if "vcast" in config:
        architecture = config.get("architecture", "Qwen3VLVCastForConditionalGeneration")
        pruning["hf_overrides"] = {"architectures": [architecture], "vcast": config["vcast"]}
    llm = LLM(
        model=config["model"],
        dtype="float32",
        enforce_eager=True,
        max_model_len=4096,
        limit_mm_per_prompt={"video": 1},
        gpu_memory_utilization=0.15,  # on the CPU backend: the share of memory set aside for the KV cache
        **pruning,
    )
    results = []
    for style in config["prompts"]:
        request = {"prompt": PROMPTS[style], "multi_modal_data": {"video": (frames, metadata)}}
        output = llm.generate(request, SamplingParams(max_tokens=8, temperature=0, logprobs=1))[0]
        first = output.outputs[0].logprobs[0][output.outputs[0].token_ids[0]].logprob
        results.append(
            dict(prompt_tokens=len(output.prompt_token_ids), ids=list(output.outputs[0].token_ids), first_logprob=first)
        )
    print("RESULT " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
