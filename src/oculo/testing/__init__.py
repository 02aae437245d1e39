"""Test helpers: tiny local models and deterministic images (nothing is downloaded)."""

from __future__ import annotations

from .images import make_image
from .tiny import ARCHES, tiny_model

__all__ = ["ARCHES", "make_image", "tiny_model"]
