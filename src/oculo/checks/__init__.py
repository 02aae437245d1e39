"""Never trust a number blindly: arithmetic, grounding in the document's own text, and plausibility."""

from __future__ import annotations

from .grounding import DocumentIndex, check_grounding, index_document
from .numbers import check_arithmetic, close, parse_number, tolerance
from .plausibility import ISO_4217, check_plausibility
from .verify import Verification, Warning, verify

__all__ = [
           "ISO_4217",
           "DocumentIndex",
           "Verification",
           "Warning",
           "check_arithmetic",
           "check_grounding",
           "check_plausibility",
           "close",
           "index_document",
           "parse_number",
           "tolerance",
           "verify",
]
