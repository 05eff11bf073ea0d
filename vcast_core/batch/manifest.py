"""A batch manifest: one item per line (JSONL) or row (CSV) with id, video, question, optional options and answer."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .answers import LETTERS, gold_letter

REQUIRED = ("id", "video", "question")
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
OPTION_SEPARATOR = "|"  # CSV: the options in one cell, e.g. "red|green|blue"


class ManifestError(InputError):
    """A manifest that cannot be read; the message names the file, the line and what to fix."""


@dataclass(frozen=True)
class Item:
    """One question about one video. ``answer`` is an option letter for multiple choice, else free text."""

    id: str
    video: str  # absolute: relative paths in the manifest start from its folder
    question: str
    options: tuple[str, ...] = ()
    answer: str | None = None


def read_manifest(path: str | Path) -> list[Item]:
    """The items of a ``.jsonl`` (or ``.ndjson``/``.json`` lines) or ``.csv`` manifest, in file order.

    Relative video paths are taken from the manifest's folder. Refuses duplicate ids and names
    the line of any missing field, bad JSON or bad answer.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist or is not a file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(path)
    elif suffix in JSON_SUFFIXES:
        rows = _json_rows(path)
    else:
        raise ManifestError(f"manifest {path} must end in .jsonl (one JSON object a line) or .csv")
    items, lines = [], {}
    for line, row in rows:
        item = _item(row, path, line)
        if item.id in lines:
            raise ManifestError(f"{path} line {line}: id {item.id!r} repeats line {lines[item.id]}; ids must be unique")
        lines[item.id] = line
        items.append(item)
    if not items:
        raise ManifestError(f"manifest {path} holds no items")
    return items


MAX_FIELD = 10_000_000  # characters in one CSV cell (Python's csv stops at 131,072 by default)


def _text(path: Path) -> str:
    """The manifest as text: UTF-8, with or without the byte-order mark spreadsheet programs write."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ManifestError(
            f"{path} line {line} is not UTF-8 text (byte {data[err.start]:#04x}); save the manifest as UTF-8"
        ) from None


def _json_rows(path: Path):
    for number, text in enumerate(_text(path).splitlines(), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as err:
            raise ManifestError(f"{path} line {number} is not valid JSON: {err}") from None
        except ValueError as err:  # e.g. an integer of more than 4,300 digits
            raise ManifestError(f"{path} line {number}: {err}") from None
        if not isinstance(row, dict):
            raise ManifestError(f"{path} line {number} must be a JSON object with {', '.join(REQUIRED)}")
        yield number, row


def _csv_rows(path: Path):
    csv.field_size_limit(MAX_FIELD)
    reader = csv.DictReader(io.StringIO(_text(path), newline=""))
    try:
        missing = [name for name in REQUIRED if name not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{path} line 1: the header has no column {', '.join(missing)}")
        for row in reader:
            row = {name: value for name, value in row.items() if name is not None and value not in (None, "")}
            if "options" in row:
                row["options"] = [option.strip() for option in row["options"].split(OPTION_SEPARATOR)]
            yield reader.line_num, row
    except csv.Error as err:
        raise ManifestError(f"{path} line {reader.line_num}: {err}") from None


def _item(row: dict, path: Path, line: int) -> Item:
    where = f"{path} line {line}"
    missing = [name for name in REQUIRED if row.get(name) in (None, "")]
    if missing:
        raise ManifestError(f"{where} has no {', '.join(missing)}; every item needs {', '.join(REQUIRED)}")
    if not isinstance(row["id"], str | int) or isinstance(row["id"], bool):
        raise ManifestError(f"{where}: id must be a string or an integer, got {row['id']!r}")
    for name in ("video", "question"):
        if not isinstance(row[name], str):
            raise ManifestError(f"{where}: {name} must be a string, got {row[name]!r}")
    options = row.get("options") or []
    if not isinstance(options, list) or not all(isinstance(option, str) and option for option in options):
        raise ManifestError(f"{where}: options must be a list of non-empty strings")
    if len(options) == 1 or len(options) > len(LETTERS):
        raise ManifestError(f"{where}: a multiple-choice item needs 2 to {len(LETTERS)} options, got {len(options)}")
    answer = row.get("answer")
    if answer is not None:
        if not isinstance(answer, str):
            raise ManifestError(f"{where}: answer must be a string, got {answer!r}")
        if options:
            answer = gold_letter(answer, options)
            if answer is None:
                raise ManifestError(
                    f"{where}: answer {row['answer']!r} is neither an option letter "
                    f"(A to {LETTERS[len(options) - 1]}) nor the text of one of the options"
                )
    video = Path(row["video"]).expanduser()
    return Item(
        id=str(row["id"]),
        video=str(video if video.is_absolute() else (path.parent / video).absolute()),
        question=row["question"],
        options=tuple(options),
        answer=answer,
    )
