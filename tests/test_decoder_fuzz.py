"""Damaged videos: random truncations and bit flips of a real mp4 must give a clip or a VideoError.

The decoding runs in a child process (tests/decode_worker.py), so a crash inside a native decoder
fails this test, naming the file, instead of killing the test run. VCAST_FUZZ_CASES raises the
number of random damaged files (default 600).
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from conftest import write_square_video

ROOT = Path(__file__).resolve().parents[1]
CASES = int(os.environ.get("VCAST_FUZZ_CASES", "600"))
ACCEPTED = {"decoded", "VideoError", "MemoryLimitError"}


def damaged_copies(source: bytes, folder: Path, cases: int, seed: int) -> dict[Path, str]:
    """Files cut short, with bits flipped anywhere, with bits flipped in the moov header, or both."""
    rng = random.Random(seed)
    header = source.rfind(b"moov") - 4
    damage = {}
    for case in range(cases):
        data, kind = bytearray(source), case % 4
        what = []
        if kind in (0, 3):
            data = data[: rng.randrange(len(data))]
            what.append(f"cut to {len(data)} bytes")
        if kind in (1, 2, 3):
            low = header if kind == 2 and header < len(data) else 0
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(low, len(data))
                data[at] ^= 1 << rng.randrange(8)
                what.append(f"flip at {at}")
        path = folder / f"damaged_{case:04d}.mp4"
        path.write_bytes(bytes(data))
        damage[path] = ", ".join(what)
    # found by this test: a time-to-sample table claiming 9 entries instead of 1 makes the header promise
    # 1.7 billion frames, and decord 0.6 aborts the whole process (std::bad_alloc) opening it
    data = bytearray(source)
    data[source.find(b"stts") + 11] ^= 0b1000
    damage[folder / "stts_entry_count.mp4"] = "stts entry count 1 -> 9"
    (folder / "stts_entry_count.mp4").write_bytes(bytes(data))
    return damage


def test_damaged_videos_decode_or_raise_video_error(tmp_path):
    source = write_square_video(tmp_path / "source.mp4", frames=50, keyframe_every=10).read_bytes()
    damage = damaged_copies(source, tmp_path, CASES, seed=2026)
    worker = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "decode_worker.py"), *map(str, damage)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    records = [json.loads(line) for line in worker.stdout.splitlines()]
    if worker.returncode != 0:
        last = records[-1] if records else {}
        path = Path(last.get("start", "?"))
        raise AssertionError(
            f"the decoder process died (exit {worker.returncode}) on {path.name} ({damage.get(path)}) with "
            f"{last.get('backend')}: {worker.stderr.strip().splitlines()[-1:]}"
        )
    outcomes = [r for r in records if "outcome" in r]
    assert len(outcomes) == len([r for r in records if "start" in r])
    wrong = [(Path(r["path"]).name, r["backend"], r["outcome"], r.get("message")) for r in outcomes]
    wrong = [w for w in wrong if w[2] not in ACCEPTED]
    assert not wrong, f"damaged videos gave errors other than VideoError: {wrong[:5]}"
    seen = {r["outcome"] for r in outcomes}
    assert {"decoded", "VideoError"} <= seen  # the damage both spares some files and breaks others
