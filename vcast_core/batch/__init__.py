"""Batch jobs: a manifest of questions about videos, answered locally or on Ray, into a resumable results file."""

from .manifest import Item, ManifestError, read_manifest
from .results import ResultsError, read_results
from .summary import summarize, summary_path, summary_table

__all__ = [
    "Item",
    "ManifestError",
    "ResultsError",
    "read_manifest",
    "read_results",
    "summarize",
    "summary_path",
    "summary_table",
]
