"""What travels over HTTP: request bodies, images in base64 / data: URIs, error shapes, and timestamps.

Both protocols share this module; the route modules only map their own field names onto `Request`.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import datetime, timezone
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from ..engines.base import ImagePart, Reply, Request
from ..errors import EngineError, InputError, ModelNotFound, OculoError, Unsupported

log = logging.getLogger("oculo.server")

MAX_IMAGE_BYTES = 50 * 1024 * 1024  # same cap as remote fetches: a bigger "image" is a mistake or an attack
BUSY = "server busy, please try again.  maximum pending requests exceeded"  # Ollama's exact text


class ServerBusy(OculoError):
    """More requests are waiting than `max_queue` allows."""


class _Body(BaseModel):
    # Clients send fields we do not use (tools: [], think, keep_alive, user, ...); ignoring them is what both servers do.
    model_config = ConfigDict(extra="ignore")


# --- Ollama bodies -----------------------------------------------------------------------------------------------
class OllamaMessage(_Body):
    role: str
    content: str | None = ""
    images: list[str] | None = None
    tool_calls: list[Any] | None = None


class OllamaChat(_Body):
    model: str
    messages: list[OllamaMessage] = []
    format: str | dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    stream: bool = True  # Ollama streams unless told not to
    keep_alive: str | float | None = None
    tools: list[Any] | None = None


class OllamaGenerate(_Body):
    model: str
    prompt: str | None = ""
    system: str | None = None
    images: list[str] | None = None
    format: str | dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    stream: bool = True
    keep_alive: str | float | None = None
    suffix: str | None = None


class OllamaShow(_Body):
    model: str | None = None
    name: str | None = None  # the field's name before Ollama 0.5


# --- OpenAI bodies -----------------------------------------------------------------------------------------------
class OpenAIMessage(_Body):
    role: str
    content: str | list[dict[str, Any]] | None = None


class OpenAIChat(_Body):
    model: str
    messages: list[OpenAIMessage]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    tools: list[Any] | None = None


# --- images ------------------------------------------------------------------------------------------------------
def decode_image(data: str, name: str, limits: Any = None) -> ImagePart:
    """Base64 (bare, as Ollama sends it, or as a data: URI) to a normalized image; InputError names the image."""
    payload = data.strip()
    if payload.startswith("data:"):
        header, sep, payload = payload.partition(",")
        if not sep or not header.endswith(";base64"):
            raise InputError(f"{name}: data: URI must be base64-encoded (data:image/png;base64,...)")
    payload = "".join(payload.split())  # some clients wrap base64 at 76 columns
    if not payload:
        raise InputError(f"{name}: empty image data")
    if len(payload) * 3 // 4 > MAX_IMAGE_BYTES:
        raise InputError(f"{name}: image is larger than {MAX_IMAGE_BYTES >> 20} MiB")
    try:
        raw = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
    except (binascii.Error, ValueError) as e:
        raise InputError(f"{name}: invalid base64 image data ({e}); send the file's bytes base64-encoded") from None
    return image_from_bytes(raw, name, limits)


def image_from_bytes(raw: bytes, name: str, limits: Any = None) -> ImagePart:
    from ..media.images import decode  # lazy: Pillow plugins load on first use, not at server import

    return ImagePart(decode(raw, name, limits), name)


def image_limits(caps: Any) -> Any:
    from ..media.images import ImageLimits

    return ImageLimits.from_capabilities(caps)


def fetch_remote(url: str, name: str, limits: Any = None) -> ImagePart:
    try:
        from ..media.sources import fetch_url
    except ImportError:
        raise InputError(f"{name}: remote image URLs not supported; send a data: URI") from None
    return image_from_bytes(fetch_url(url), name, limits)


# --- shared mapping ----------------------------------------------------------------------------------------------
def check_model(name: str | None, served: str, engine_model: str) -> None:
    accepted = {served, engine_model, served if ":" in served else f"{served}:latest"}
    if name not in accepted:
        raise ModelNotFound(f'model "{name}" not found, try pulling it first')


def accept_reply(request: Request, reply: Reply) -> dict[str, str]:
    """Decide what a reply marked with `error` becomes; returns extra response headers.

    Neither Ollama nor OpenAI validate output after the fact, so a schema mismatch still returns the model's
    text (the client parses it, as it would against those servers) with the reason in `X-Oculo-Schema-Error`.
    Any other per-item failure, or one that left no text at all, is a 500.
    """
    if reply.error is None:
        return {}
    if request.schema is not None and reply.text:
        log.warning("reply does not satisfy the requested schema: %s", reply.error)
        return {"X-Oculo-Schema-Error": one_line(reply.error).encode("ascii", "replace").decode()}
    raise EngineError(reply.error)


def status_for(exc: BaseException) -> int:
    if isinstance(exc, ServerBusy):
        return 503
    if isinstance(exc, ModelNotFound):
        return 404
    if isinstance(exc, (InputError, Unsupported)):
        return 400
    return 500


def one_line(msg: object) -> str:
    # Join lines only: Ollama's busy message has a double space that clients may match on.
    return " ".join(line.strip() for line in str(msg).splitlines() if line.strip()) or "unknown error"


def openai_error(status: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    code = {404: "model_not_found", 503: "server_busy"}.get(status)
    return {"error": {"message": one_line(message), "type": kind, "param": None, "code": code}}


def error_response(path: str, status: int, message: str) -> JSONResponse:
    """Errors in the shape the caller's client parses: OpenAI's under /v1, Ollama's `{"error": msg}` elsewhere."""
    body = openai_error(status, message) if path.startswith("/v1") else {"error": one_line(message)}
    return JSONResponse(body, status_code=status)


def wrap_engine_error(exc: BaseException) -> OculoError:
    """Engine bugs (a ValueError deep in a backend) still answer with a message instead of a bare 500."""
    if isinstance(exc, OculoError):
        return exc
    log.error("engine raised %s", type(exc).__name__, exc_info=exc)
    return EngineError(f"engine failed: {type(exc).__name__}: {exc}")


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def finish_reason(reply: Reply | None) -> str:
    return "length" if reply is not None and reply.finish_reason == "length" else "stop"
