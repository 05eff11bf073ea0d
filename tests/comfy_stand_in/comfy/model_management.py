"""Stand-in for ``comfy.model_management``: an interrupt flag a test can raise, and memory calls recorded."""

interrupted = False


class InterruptProcessingException(Exception):
    pass


def processing_interrupted() -> bool:
    return interrupted


def throw_exception_if_processing_interrupted() -> None:
    global interrupted
    if interrupted:
        interrupted = False
        raise InterruptProcessingException()


# Memory management: the calls are recorded, nothing moves (tests/test_comfyui_memory.py runs ComfyUI's own).
import torch  # noqa: E402

OOM_EXCEPTION = torch.cuda.OutOfMemoryError
calls: list[tuple] = []


class LoadedModel:
    def __init__(self, model):
        self.model = model


def load_models_gpu(models, memory_required=0, force_full_load=False, **_):
    calls.append(("load_models_gpu", tuple(models), force_full_load))


def free_memory(memory_required, device, keep_loaded=()):
    calls.append(("free_memory", memory_required, device))
    return []


def minimum_inference_memory() -> int:
    return 2**30


def text_encoder_offload_device():
    return torch.device("cpu")


def soft_empty_cache(force=False) -> None:
    calls.append(("soft_empty_cache",))
