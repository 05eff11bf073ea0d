"""The results file: a header, then JSON lines appended as items finish, read back to resume and to summarise.

A job holds its results file open and locked from start to end: a second job on the same file is refused,
links are never followed, and a write that fails (a full disk) leaves the file as it was before that item.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import InputError

FORMAT = "vcast-batch-results"
VERSION = 1
RECORD_KEYS = ("id", "ratio", "prediction", "error")


class ResultsError(InputError):
    """A results file that this job must not append to; the message says why and what to do."""


def _header(settings: dict) -> dict:
    return {"format": FORMAT, "version": VERSION, "settings": settings}


def _is_header(value) -> bool:
    return isinstance(value, dict) and value.get("format") == FORMAT


def _parse(raw: bytes):
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError):
        return None


def _parse_lines(path: Path, data: bytes) -> tuple[dict | None, list[dict], list[int]]:
    """The header, the records and the numbers of lines that are not complete JSON (cut short by a kill)."""
    header, records, broken, seen = None, [], [], {}
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        value = _parse(raw)
        if number == 1:
            if not _is_header(value):
                raise ResultsError(
                    f"{path} is not a results file of `python -m vcast_core batch` (its first line is not the "
                    "header the tool writes); give --out a new file name or an earlier results file"
                )
            if value.get("version") != VERSION:
                raise ResultsError(
                    f"{path} is results format version {value.get('version')}; this V-CAST writes {VERSION}"
                )
            header = value
            continue
        if value is None:
            broken.append(number)
            continue
        if not isinstance(value, dict) or any(key not in value for key in RECORD_KEYS):
            raise ResultsError(
                f"{path} line {number} is not a result of `python -m vcast_core batch` (a record has "
                f"{', '.join(RECORD_KEYS)}); give --out a new file name or an earlier results file"
            )
        pair = (value["id"], value["ratio"])
        if pair in seen:
            raise ResultsError(
                f"{path} line {number} repeats id {pair[0]!r} at ratio {pair[1]} from line {seen[pair]}; "
                "was it joined from overlapping results files? Keep one record per id and ratio."
            )
        seen[pair] = number
        records.append(value)
    return header, records, broken


def read_results(path: str | Path) -> tuple[list[dict], list[int]]:
    """The records in ``path``, and the numbers of lines that are not complete JSON (cut short by a kill).

    Raises ResultsError for a file this tool did not write, a line that is JSON but not a result record, or an
    (id, ratio) seen twice.
    """
    path = Path(path)
    _, records, broken = _parse_lines(path, path.read_bytes())
    return records, broken


def _lock(handle: int, path: Path) -> None:
    """An exclusive lock on the open file for as long as it stays open; refused at once if another job holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
        except OSError:
            raise ResultsError(
                f"{path} is in use by another batch job; wait for it, or give --out a new file"
            ) from None
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ResultsError(f"{path} is in use by another batch job; wait for it, or give --out a new file") from None


class ResultsFile:
    """The append-only results of one job, held open and locked until :meth:`close`: what is done already, and
    one write per finished item."""

    def __init__(self, path: str | Path, settings: dict, manifest: str | Path):
        self.path = Path(path)
        if self.path.is_symlink():
            raise ResultsError(
                f"--out {self.path} is a link; give the results a file of their own (links are not followed)"
            )
        if self.path.exists() and Path(manifest).exists() and self.path.samefile(manifest):
            raise ResultsError(f"--out {self.path} is the manifest; give the results a file of their own")
        if not self.path.parent.is_dir():
            raise ResultsError(f"--out {self.path}: folder {self.path.parent} does not exist; create it first")
        if self.path.exists() and not self.path.is_file():
            raise ResultsError(f"--out {self.path} is not a file; give the results a file name")
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        self.handle, self.created = None, not self.path.exists()
        try:
            self.handle = os.open(self.path, flags, 0o644)
        except OSError as err:
            raise ResultsError(f"--out {self.path} cannot be opened: {err.strerror}") from None
        self.appended = False
        try:
            _lock(self.handle, self.path)
            data = self._read_all()
            header, records, self.broken = _parse_lines(self.path, data)
            if header is None:
                self._write((json.dumps(_header(settings)) + "\n").encode("utf-8"))
            else:
                _check_settings(self.path, header["settings"], settings)
        except BaseException:
            self.close()
            raise
        self.done = {(record["id"], record["ratio"]) for record in records}
        # a line cut short by a kill gets its newline, so the next record starts a line of its own
        self._open_line = bool(data) and not data.endswith(b"\n")

    def _read_all(self) -> bytes:
        size, parts, offset = os.fstat(self.handle).st_size, [], 0
        while offset < size:
            parts.append(os.pread(self.handle, size - offset, offset))
            if not parts[-1]:
                break
            offset += len(parts[-1])
        return b"".join(parts)

    def _write(self, data: bytes) -> None:
        """Append ``data`` whole and flush it to disk; on failure (a full disk) cut back what was written."""
        before = os.fstat(self.handle).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.handle, view) :]
            os.fsync(self.handle)
        except OSError as err:
            os.ftruncate(self.handle, before)
            raise ResultsError(
                f"could not write to {self.path}: {err.strerror}; the results so far are kept, this item's are not "
                "(free some space, then run the same command to resume)"
            ) from None

    def append(self, records: list[dict]) -> None:
        """Write the records of one item in one append and flush them to disk."""
        # a lone surrogate (undecodable input) is written as its \\u escape, which reads back the same
        text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        if self._open_line:
            text = "\n" + text
        self._write(text.encode("utf-8", errors="backslashreplace"))
        self._open_line, self.appended = False, True
        self.done.update((record["id"], record["ratio"]) for record in records)

    def close(self) -> None:
        """Release the file; one this job created and wrote no result to is removed again."""
        if self.handle is None:
            return
        if self.created and not self.appended:
            self.path.unlink(missing_ok=True)
        os.close(self.handle)
        self.handle = None


# settings added after version 1 files were first written, with the value those files were made with
ADDED_SETTINGS = {"quantization": "none"}


def _check_settings(path: Path, recorded: dict, settings: dict) -> None:
    recorded = {**ADDED_SETTINGS, **recorded}
    for name, value in settings.items():
        if name not in recorded:
            raise ResultsError(
                f"{path} was written by an earlier version that did not record {name}: it cannot be resumed; "
                "give --out a new file"
            )
        if recorded[name] != value:
            raise ResultsError(
                f"{path} holds results made with {name}={recorded[name]!r}, this job has {name}={value!r}: to "
                "resume it, run with the same settings; to compare settings, give --out a new file"
            )
