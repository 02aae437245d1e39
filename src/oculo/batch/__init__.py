"""Batch runs over thousands of files that resume after a crash, reuse finished results and show progress."""

from .progress import Progress
from .runner import Item, Result, RunSummary, run_items
from .store import ItemRow, JobSummary, Store, canonical_json, content_hash, default_store_path, item_key, job_signature

__all__ = [
    "Item", "ItemRow", "JobSummary", "Progress", "Result", "RunSummary", "Store",
    "canonical_json", "content_hash", "default_store_path", "item_key", "job_signature", "run_items",
]
