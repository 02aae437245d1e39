"""What travels over HTTP: request bodies, images in base64 / data: URIs, error shapes, and timestamps.

Both protocols share this module; the route modules only map their own field names onto `Request`.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..engines.base import ImagePart, Reply, Request
from ..errors import EngineError, InputError, ModelNotFound, OculoError, Unsupported

log = logging.getLogger("oculo.server")

MAX_IMAGE_BYTES = 50 * 1024 * 1024  # same cap as remote fetches: a bigger "image" is a mistake or an attack
BUSY = "server busy, please try again.  maximum pending requests exceeded"  # Ollama's exact text


class ServerBusy(OculoError):
    """More requests are waiting than `max_queue` allows."""


class _Body(BaseModel):
    # Strict: `stream: "yes"` or `num_predict: "abc"` is a 400 naming the field, never coerced or a 500 later.
    # Clients send fields we do not use (tools: [], think, keep_alive, user, ...); both servers ignore them.
    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)


Seed = Annotated[int, Field(ge=-(2**63), le=2**64 - 1)]  # what torch.manual_seed takes
Stop = str | Annotated[list[str], Field(max_length=16)]


# --- Ollama bodies -----------------------------------------------------------------------------------------------
class OllamaOptions(_Body):
    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)  # other options pass to the engine
    num_predict: int | None = Field(None, ge=-2)  # -1: no limit, -2: fill the context (both: this server's cap)
    temperature: float | None = Field(None, ge=0, le=100)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)
    min_p: float | None = Field(None, ge=0, le=1)
    repeat_penalty: float | None = Field(None, gt=0)
    seed: Seed | None = None
    stop: Stop | None = None
    num_ctx: int | None = Field(None, ge=1)


class OllamaMessage(_Body):
    role: str
    content: str | None = ""
    images: list[str] | None = None
    tool_calls: list[Any] | None = None


class OllamaChat(_Body):
    model: str
    messages: list[OllamaMessage] = []
    format: str | dict[str, Any] | None = None
    options: OllamaOptions | None = None
    stream: bool | None = None  # Ollama streams unless told not to
    keep_alive: str | float | None = None
    tools: list[Any] | None = None


class OllamaGenerate(_Body):
    model: str
    prompt: str | None = ""
    system: str | None = None
    images: list[str] | None = None
    format: str | dict[str, Any] | None = None
    options: OllamaOptions | None = None
    stream: bool | None = None
    keep_alive: str | float | None = None
    suffix: str | None = None
    raw: bool | None = None
    template: str | None = None


class OllamaShow(_Body):
    model: str | None = None
    name: str | None = None  # the field's name before Ollama 0.5


# --- OpenAI bodies -----------------------------------------------------------------------------------------------
class ImageURL(_Body):
    url: str
    detail: str | None = None


class TextPart(_Body):
    type: Literal["text"]
    text: str


class ImagePartBody(_Body):
    type: Literal["image_url"]
    image_url: ImageURL | str


ContentPart = Annotated[TextPart | ImagePartBody, Field(discriminator="type")]


class OpenAIMessage(_Body):
    role: str
    content: str | list[ContentPart] | None = None


class StreamOptions(_Body):
    include_usage: bool | None = None


class OpenAIChat(_Body):
    model: str
    messages: Annotated[list[OpenAIMessage], Field(min_length=1)]
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    seed: Seed | None = None
    stop: Stop | None = None
    n: int | None = Field(None, ge=1)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    response_format: dict[str, Any] | None = None
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    tools: list[Any] | None = None


B = TypeVar("B", bound=BaseModel)


async def parse_body(http: Any, model: type[B]) -> B:
    """The body as JSON whatever its Content-Type says (Ollama's docs use `curl -d`), validated strictly.

    A bad field is a 400 that names it: `options.num_predict: Input should be a valid integer`.
    """
    raw = await http.body()
    if not raw.strip():
        raise InputError("invalid request: the body is empty; send a JSON object")
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        raise InputError(f"invalid request: {describe_validation(e.errors())}") from None


def describe_validation(errors: Sequence[Any]) -> str:
    # Of a union's failed branches, the deepest says most (`content[0]: tag 'audio'...` beats `content: not a string`).
    first: Any = max(errors, key=lambda e: len(field_path(e.get("loc", ()))), default={})
    if first.get("type") == "json_invalid":
        return f"invalid JSON body ({first.get('ctx', {}).get('error', 'cannot parse')})"
    if first.get("type") == "model_type" and not first.get("loc"):
        return "the body must be a JSON object"
    where = field_path(first.get("loc", ()))
    msg = first.get("msg", "invalid")
    return f"{where}: {msg}" if where else msg


def field_path(loc: Sequence[Any]) -> str:
    """('messages', 0, 'content', 1, 'image_url') -> messages[0].content[1].image_url; union branch tags dropped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "list[str]", "dict[str,any]", "float", "int", "bool") or "[" in str(part):
            continue  # pydantic names the union member it tried; the client knows only its own field
        else:
            out += f".{part}" if out else str(part)
    return out


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
    from ..media.images import (
        decode,  # lazy: Pillow plugins load on first use, not at server import
    )

    return ImagePart(decode(raw, name, limits), name)


def image_limits(caps: Any) -> Any:
    from ..media.images import ImageLimits

    return ImageLimits.from_capabilities(caps)


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


def openai_error(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    code = {401: "invalid_api_key", 404: "model_not_found", 413: "request_too_large", 503: "server_busy"}.get(status)
    return {"error": {"message": one_line(message), "type": kind, "param": param, "code": code}}


def error_response(path: str, status: int, message: str) -> JSONResponse:
    """Errors in the shape the caller's client parses: OpenAI's under /v1, Ollama's `{"error": msg}` elsewhere."""
    body = openai_error(status, message) if path.startswith("/v1") else {"error": one_line(message)}
    return JSONResponse(body, status_code=status)


def wrap_engine_error(exc: BaseException) -> OculoError:
    """Engine bugs (a ValueError deep in a backend) still answer with a message instead of a bare 500."""
    if isinstance(exc, OculoError):
        return exc
    log.error("engine raised %s", type(exc).__name__, exc_info=exc)  # the class name goes to the log, not the client
    return EngineError(f"engine failed: {one_line(exc)[:300]}")


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def finish_reason(reply: Reply | None) -> str:
    return "length" if reply is not None and reply.finish_reason == "length" else "stop"
