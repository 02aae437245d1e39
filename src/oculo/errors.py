"""The error hierarchy. Every message is one line: what happened, to which input, and what to do.

Errors come in two kinds, told apart by the class attribute `transient`:

- permanent (the default): bad input, a program or library not installed, a model not found, a request the
  engine or its processor refuses, output that breaks the schema. The same call would fail the same way, so
  the item fails at once.
- transient (`Transient` and its subclasses): the engine is unreachable, busy (HTTP 503/429) or timed out.
  The same call may succeed later, so the batch runner retries it with backoff.

Message rule: an error about one input starts with that input's name (`photo.jpg: file is empty ...`), so a
one-shot command prints it as is. Where a batch records the error beside the item's source, the runner drops
that leading name (`without_source`), and every listing prints `source: error` with the name once.
"""

from __future__ import annotations

__all__ = [
    "OculoError",
    "InputError",
    "EngineError",
    "NotInstalled",
    "ModelNotFound",
    "Unsupported",
    "SchemaViolation",
    "Transient",
    "EngineUnreachable",
    "EngineBusy",
    "EngineTimeout",
    "EngineUnavailable",
    "is_transient",
    "one_line",
    "without_source",
]


class OculoError(Exception):
    """Base class: the CLI prints the message alone and exits 1."""

    transient: bool = False  # True: the same call may succeed later, so it is worth retrying


class InputError(OculoError):
    """A file, URL or stream the user gave cannot be used (names the input and the fix)."""


class EngineError(OculoError):
    """The engine failed while answering (permanent unless a subclass says otherwise)."""


class EngineUnavailable(EngineError):
    """The engine cannot be used: either `NotInstalled` (permanent) or `EngineUnreachable` (transient).

    Kept so `except EngineUnavailable` in older code still catches both; raise one of the two subclasses.
    """


class NotInstalled(EngineUnavailable):
    """A program, library or language pack oculo needs is missing; the message says how to install it."""


class ModelNotFound(EngineError):
    """The model is not available to the engine; the message says how to get it."""


class Unsupported(EngineError):
    """The engine, model or its processor refuses this request (too many images, no vision, a shape it rejects)."""


class SchemaViolation(EngineError):
    """The model's output does not validate against the requested JSON schema."""


class Transient(EngineError):
    """A failure that may pass: retried with backoff by the batch runner."""

    transient = True


class EngineUnreachable(EngineUnavailable, Transient):
    """The engine's server cannot be reached, or dropped the connection."""


class EngineBusy(Transient):
    """The server said it is busy (HTTP 503) or asked us to slow down (HTTP 429)."""


class EngineTimeout(Transient):
    """The server did not answer in time."""


def is_transient(e: BaseException) -> bool:
    """Whether retrying the same call may help: a server down, busy or slow; never a bad input or a refusal."""
    return bool(getattr(e, "transient", False))


def one_line(e: BaseException) -> str:
    """An exception's message on one line, without its class name; a bare exception says what it was."""
    text = " ".join(str(e).split())
    if isinstance(e, OculoError):
        return text or "failed"
    # Not one of ours: a bug or an unexpected library failure. Say so plainly; --debug shows the traceback.
    return f"unexpected failure ({text or 'no message'}); rerun with --debug and report it"


def without_source(message: str, source: str | None) -> str:
    """`message` without a leading `source: `, for listings that print the source beside it."""
    if source and message.startswith(source + ": "):
        return message[len(source) + 2:]
    return message
