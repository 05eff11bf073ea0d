"""The results file: JSON lines appended as items finish, read back to resume and to summarise."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import InputError

RECORD_KEYS = ("id", "ratio", "prediction", "error", "settings")


class ResultsError(InputError):
    """A results file that this job must not append to; the message says why and what to do."""


def read_results(path: str | Path) -> tuple[list[dict], list[int]]:
    """The records in ``path``, and the numbers of lines that are not complete JSON (cut short by a kill).

    Raises ResultsError for a line that is JSON but not a result record, or an (id, ratio) seen twice.
    """
    path = Path(path)
    records, broken, seen = [], [], {}
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                broken.append(number)
                continue
            if not isinstance(record, dict) or any(key not in record for key in RECORD_KEYS):
                raise ResultsError(
                    f"{path} line {number} is not a result of `python -m vcast_core batch` (a record has "
                    f"{', '.join(RECORD_KEYS)}); give --out a new file name or an earlier results file"
                )
            pair = (record["id"], record["ratio"])
            if pair in seen:
                raise ResultsError(
                    f"{path} line {number} repeats id {pair[0]!r} at ratio {pair[1]} from line {seen[pair]}; "
                    "was it joined from overlapping results files? Keep one record per id and ratio."
                )
            seen[pair] = number
            records.append(record)
    return records, broken


class ResultsFile:
    """Append-only results of one job: what is done already, and one write per finished item."""

    def __init__(self, path: str | Path, settings: dict, manifest: str | Path):
        self.path = Path(path)
        if self.path.exists() and Path(manifest).exists() and self.path.samefile(manifest):
            raise ResultsError(f"--out {self.path} is the manifest; give the results a file of their own")
        if not self.path.parent.is_dir():
            raise ResultsError(f"--out {self.path}: folder {self.path.parent} does not exist; create it first")
        if self.path.exists() and not self.path.is_file():
            raise ResultsError(f"--out {self.path} is not a file; give the results a file name")
        records, self.broken = read_results(self.path) if self.path.exists() else ([], [])
        for record in records:
            _check_settings(self.path, record, settings)
        self.done = {(record["id"], record["ratio"]) for record in records}
        # a line cut short by a kill gets its newline, so the next record starts a line of its own
        self._open_line = self.path.exists() and _ends_without_newline(self.path)

    def append(self, records: list[dict]) -> None:
        """Write the records of one item in one append and flush them to disk."""
        text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        if self._open_line:
            text, self._open_line = "\n" + text, False
        with self.path.open("ab") as file:
            file.write(text.encode("utf-8"))
            file.flush()
            os.fsync(file.fileno())
        self.done.update((record["id"], record["ratio"]) for record in records)


def _ends_without_newline(path: Path) -> bool:
    with path.open("rb") as file:
        if file.seek(0, os.SEEK_END) == 0:
            return False
        file.seek(-1, os.SEEK_END)
        return file.read(1) != b"\n"


def _check_settings(path: Path, record: dict, settings: dict) -> None:
    for name, value in settings.items():
        if name not in record["settings"]:
            raise ResultsError(
                f"{path} was written by an earlier version that did not record {name}: it cannot be resumed; "
                "give --out a new file"
            )
        earlier = record["settings"][name]
        if earlier != value:
            raise ResultsError(
                f"{path} holds results made with {name}={earlier!r}, this job has {name}={value!r}: to resume it, "
                "run with the same settings; to compare settings, give --out a new file"
            )
