"""The error hierarchy. Every message says what happened, to which input, and what to do."""

from __future__ import annotations

__all__ = [
    "OculoError",
    "InputError",
    "EngineError",
    "EngineUnavailable",
    "ModelNotFound",
    "Unsupported",
    "SchemaViolation",
]


class OculoError(Exception):
    """Base class: the CLI prints the message alone and exits 1."""


class InputError(OculoError):
    """A file, URL or stream the user gave cannot be used (names the input and the fix)."""


class EngineError(OculoError):
    """The engine failed while answering."""


class EngineUnavailable(EngineError):
    """The engine cannot be reached or started (server down, library missing)."""


class ModelNotFound(EngineError):
    """The model is not available to the engine; the message says how to get it."""


class Unsupported(EngineError):
    """The request asks for something the engine or model cannot do (too many images, no vision...)."""


class SchemaViolation(EngineError):
    """The model's output does not validate against the requested JSON schema."""
