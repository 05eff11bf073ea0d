"""Stand-in for ``comfy.model_management``: an interrupt flag a test can raise."""

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
