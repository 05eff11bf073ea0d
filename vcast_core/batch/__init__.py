"""Batch jobs: a manifest of questions about videos, answered locally or on Ray, into a resumable results file."""

from .job import run_batch
from .manifest import Item, ManifestError, read_manifest
from .results import ResultsError, read_results
from .summary import summarize, summary_path, summary_table
from .work import BatchSettings, ItemRunner

__all__ = [
    "BatchSettings",
    "Item",
    "ItemRunner",
    "ManifestError",
    "ResultsError",
    "read_manifest",
    "read_results",
    "run_batch",
    "summarize",
    "summary_path",
    "summary_table",
]
