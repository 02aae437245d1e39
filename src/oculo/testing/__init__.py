"""Test helpers: tiny local models, deterministic images and a scripted engine (nothing is downloaded)."""

from __future__ import annotations

from .fake import FakeEngine, schema_instance
from .images import make_image
from .tiny import ARCHES, tiny_model

__all__ = ["ARCHES", "FakeEngine", "make_image", "schema_instance", "tiny_model"]
