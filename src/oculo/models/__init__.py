"""Known vision models: the catalog, memory estimates, and which model to run on a given machine."""

from .catalog import STRENGTHS, CatalogError, Limits, ModelSpec, find, load_catalog
from .memory import PRECISIONS, MemoryEstimate, estimate
from .recommend import TASKS, Recommendation, recommend

__all__ = [
    "STRENGTHS", "CatalogError", "Limits", "ModelSpec", "find", "load_catalog",
    "PRECISIONS", "MemoryEstimate", "estimate",
    "TASKS", "Recommendation", "recommend",
]
