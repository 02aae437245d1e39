"""Engines behind one seam: Ollama, any OpenAI-compatible server, in-process transformers, and classic OCR."""

from .base import Capabilities, Chunk, Engine, ImagePart, Message, Options, Reply, Request, Stats, validate_output
from .resolve import ENGINES, OCR_ENGINES, EngineSettings, default_local_model, open_engine

__all__ = [
    "Capabilities", "Chunk", "Engine", "ImagePart", "Message", "Options", "Reply", "Request", "Stats",
    "validate_output", "ENGINES", "OCR_ENGINES", "EngineSettings", "default_local_model", "open_engine",
]
