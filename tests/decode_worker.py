"""Decode each file given on the command line with each backend; one JSON line per attempt.

Run in a child process by tests/test_decoder_fuzz.py, so that a crash inside a native decoder
ends this process, not the test run. Before each attempt it prints which one it starts.
"""

import json
import sys

from vcast_core.errors import VCastError
from vcast_core.video import decord_available, load_video


def attempt(path: str, backend: str) -> dict:
    try:
        clip = load_video(path, num_frames=4, backend=backend)
    except VCastError as err:
        return dict(outcome=type(err).__name__, message=str(err))
    except Exception as err:  # noqa: BLE001 - the test reports anything else as a defect
        return dict(outcome="unexpected", message=f"{type(err).__name__}: {err}")
    if clip.frames.shape[0] != 4 or clip.frames.dtype.is_floating_point:
        return dict(outcome="unexpected", message=f"bad clip {tuple(clip.frames.shape)} {clip.frames.dtype}")
    return dict(outcome="decoded", indices=list(clip.indices))


def main() -> None:
    backends = ["pyav", "decord"] if decord_available() else ["pyav"]
    for path in sys.argv[1:]:
        for backend in backends:
            print(json.dumps(dict(start=path, backend=backend)), flush=True)
            print(json.dumps(dict(path=path, backend=backend, **attempt(path, backend))), flush=True)


if __name__ == "__main__":
    main()
