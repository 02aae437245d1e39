"""Test helpers: tiny local models, deterministic images and a scripted engine (nothing is downloaded)."""

from __future__ import annotations

from .fake import FakeEngine, schema_instance
from .images import make_image
from .serving import free_port, start_serve
from .tiny import ARCHES, tiny_model

__all__ = ["ARCHES", "FakeEngine", "free_port", "make_image", "schema_instance", "start_serve", "tiny_model"]
