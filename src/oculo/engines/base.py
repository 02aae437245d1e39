"""The seam: every model call in oculo goes through `Engine.generate` (batch-first) or `Engine.stream`.

Tasks, the batch runner and the HTTP server know only the types in this module.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..errors import SchemaViolation, Unsupported
from ..media.images import DEFAULT_MAX_PIXELS, ImagePart
from ..models.catalog import find as catalog_entry

__all__ = [
    "ImagePart",
    "Message",
    "Options",
    "Request",
    "Stats",
    "Reply",
    "Chunk",
    "Capabilities",
    "Engine",
    "validate_output",
    "DEFAULT_MAX_PIXELS",
]

Role = Literal["system", "user", "assistant"]


@dataclass
class Message:
    role: Role
    text: str = ""
    images: list[ImagePart] = field(default_factory=list)


@dataclass
class Options:
    max_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    # Engine-specific settings from `-o KEY VALUE` (num_ctx, keep_alive, top_p, ...).
    extra: dict[str, Any] = field(default_factory=dict)

    def with_defaults(self, *, max_tokens: int | None = None, temperature: float | None = None) -> Options:
        """These options, with a task's own defaults wherever the caller set nothing."""
        return replace(self, max_tokens=max_tokens if self.max_tokens is None else self.max_tokens,
                       temperature=temperature if self.temperature is None else self.temperature)


@dataclass
class Request:
    messages: list[Message]
    options: Options = field(default_factory=Options)
    schema: dict[str, Any] | None = None  # a JSON Schema; the reply's `data` then validates against it
    schema_name: str = "response"
    # Set by a caller that no longer wants the reply (an HTTP client that left); engines that can stop early check it.
    cancel: threading.Event | None = field(default=None, repr=False, compare=False)

    @property
    def images(self) -> list[ImagePart]:
        return [img for m in self.messages for img in m.images]

    @classmethod
    def simple(cls, prompt: str, images: Sequence[ImagePart] = (), *, system: str | None = None,
               options: Options | None = None, schema: dict[str, Any] | None = None) -> Request:
        messages = [Message("system", system)] if system else []
        messages.append(Message("user", prompt, list(images)))
        return cls(messages, options or Options(), schema)


@dataclass
class Stats:
    prompt_tokens: int | None = None
    generated_tokens: int | None = None
    ttft_s: float | None = None  # time to first token
    total_s: float | None = None
    load_s: float | None = None  # model load time charged to this call (0 when already loaded)

    @property
    def tokens_per_s(self) -> float | None:
        if not self.generated_tokens or not self.total_s:
            return None
        gen_s = self.total_s - (self.ttft_s or 0.0)
        return self.generated_tokens / gen_s if gen_s > 0 else None

    def add(self, other: Stats) -> None:
        """Count another call into this one: tokens and times add up, the first time to first token stays."""
        for name in ("prompt_tokens", "generated_tokens", "total_s", "load_s"):
            value = getattr(other, name)
            if value is not None:
                setattr(self, name, (getattr(self, name) or 0) + value)
        if self.ttft_s is None:
            self.ttft_s = other.ttft_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "ttft_s": _round(self.ttft_s),
            "total_s": _round(self.total_s),
            "tokens_per_s": _round(self.tokens_per_s),
            "load_s": _round(self.load_s),
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


@dataclass
class Reply:
    text: str
    model: str
    engine: str
    stats: Stats = field(default_factory=Stats)
    data: Any = None  # parsed JSON when the request had a schema
    finish_reason: str | None = None  # "stop" | "length" | ...
    # Set when this item failed (for example schema validation); others in the batch still stand.
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "engine": self.engine,
            "text": self.text,
            "data": self.data,
            "finish_reason": self.finish_reason,
            "error": self.error,
            "stats": self.stats.to_dict(),
        }


@dataclass
class Chunk:
    """A streamed piece of a reply: `text` is the delta; the last chunk carries the whole `reply`."""

    text: str = ""
    reply: Reply | None = None


@dataclass(frozen=True)
class Capabilities:
    vision: bool = True
    max_images: int | None = None  # per request; None = no known limit
    images_per_message: int | None = None  # Llama 3.2 Vision in Ollama: one image per message
    schema: bool = True
    streaming: bool = True
    parallel: int = 1  # requests the backend serves at once
    batch: int = 1  # requests one generate() call runs together (in-process batching)
    max_pixels: int = DEFAULT_MAX_PIXELS  # resize budget for one image (a catalog model's own budget replaces it)
    pixel_ceiling: int | None = None  # the most the backend itself keeps (the processor's budget); None = unknown
    min_side: int = 28  # pad smaller images (Qwen-family models crash below 28 px)
    max_aspect: float = 200.0  # pad the short side of slivers beyond this ratio (Qwen-family processors refuse them)


class Engine(ABC):
    """One model behind one backend. Subclasses implement `_capabilities`, `_generate` and `_stream`."""

    name: str = "engine"

    def __init__(self, model: str, *, max_pixels: int | None = None) -> None:
        self.model = model
        self.max_pixels = max_pixels  # the user's image budget (-o max_pixels N) beats the engine's default

    @abstractmethod
    def _capabilities(self) -> Capabilities: ...

    def capabilities(self) -> Capabilities:
        caps = with_catalog_limits(self._capabilities(), self.model)
        return replace(caps, max_pixels=self.max_pixels) if self.max_pixels else caps

    @abstractmethod
    def _generate(self, requests: list[Request]) -> list[Reply]: ...

    @abstractmethod
    def _stream(self, request: Request) -> Iterator[Chunk]: ...

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        """Answer every request; a reply's `error` marks an item that failed on its own."""
        requests = list(requests)
        for r in requests:
            self.check(r)
        replies = self._generate(requests)
        return [finish(r, rep) for r, rep in zip(requests, replies)]

    def stream(self, request: Request) -> Iterator[Chunk]:
        self.check(request)
        if not self.capabilities().streaming:
            reply = self.generate([request])[0]
            yield Chunk(reply.text, None)
            yield Chunk("", reply)
            return
        for chunk in self._stream(request):
            if chunk.reply is not None:
                chunk = replace(chunk, reply=finish(request, chunk.reply))
            yield chunk

    def check(self, request: Request) -> None:
        """Refuse what this engine cannot do, loudly: never drop an image silently."""
        caps = self.capabilities()
        images = request.images
        if images and not caps.vision:
            raise Unsupported(
                f"model {self.model!r} on engine {self.name} cannot see images; "
                "choose a vision model (see `oculo models`)"
            )
        if caps.max_images is not None and len(images) > caps.max_images:
            raise Unsupported(
                f"model {self.model!r} takes at most {caps.max_images} image(s) per request, got {len(images)}; "
                "send fewer images at once or choose a model that takes more"
            )
        if caps.images_per_message is not None:
            for i, m in enumerate(request.messages, 1):
                if len(m.images) > caps.images_per_message:
                    raise Unsupported(
                        f"model {self.model!r} takes at most {caps.images_per_message} image(s) per message "
                        f"(message {i} has {len(m.images)}); ask about each image separately (--each)"
                    )
        if request.schema is not None and not caps.schema:
            raise Unsupported(f"engine {self.name} cannot constrain output to a JSON schema")

    def warm(self) -> None:  # noqa: B027 - an optional hook: engines with nothing to load need not override it
        """Load now what the first request would load (an in-process model's weights): a server calls this at
        start, so its first client does not wait and a broken model fails before anyone connects."""

    def close(self) -> None:  # noqa: B027 - an optional hook: engines holding nothing need not override it
        """Release connections or memory; engines are also context managers."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# The most pixels a catalog budget sends by default: Qwen2-VL's processor accepts 12.8 MP, about 16k image tokens
# per image, which no 8-16 GB card holds beside a 7B model; 3.2 MP (about 4k tokens) keeps fine print legible.
# `-o max_pixels N` goes past it on purpose.
NATIVE_PIXEL_CAP = 2048 * 1600


def with_catalog_limits(caps: Capabilities, model: str) -> Capabilities:
    """What the catalog knows about this model: its image limits tighten what the backend reports (never loosen
    them), and its native pixel budget (MiniCPM-V's 1.8 MP, Qwen2-VL's processor maximum) replaces the blanket
    default, within the backend's own ceiling where it has one."""
    spec = catalog_entry(model)
    if spec is None:
        return caps
    lim = spec.limits

    def tighter(a: int | None, b: int | None) -> int | None:
        return b if a is None else a if b is None else min(a, b)

    return replace(
        caps,
        max_images=tighter(caps.max_images, lim.images_per_request),
        images_per_message=tighter(caps.images_per_message, lim.images_per_message),
        max_pixels=tighter(tighter(caps.pixel_ceiling, lim.max_pixels), NATIVE_PIXEL_CAP) or caps.max_pixels,
        min_side=max(caps.min_side, lim.min_side),
        parallel=caps.parallel if lim.parallel else 1,
    )


def finish(request: Request, reply: Reply) -> Reply:
    """Parse and validate structured output; a bad item is marked, not raised, so a batch keeps its good replies."""
    if request.schema is None or reply.error is not None:
        return reply
    try:
        reply.data = validate_output(reply.text, request.schema)
    except SchemaViolation as e:
        reply.error = str(e)
    return reply


def validate_output(text: str, schema: dict[str, Any]) -> Any:
    """Strict JSON parse plus JSON Schema validation.

    A grammar can still let a control character or a truncated document through, so every engine's
    output is checked here, whatever enforced the structure upstream.
    """
    import jsonschema

    try:
        data = json.loads(text)  # strict=True by default: raw control characters inside strings fail
    except json.JSONDecodeError as e:
        cut_off = text.strip() and not text.rstrip().endswith(("}", "]"))
        hint = "; the reply was cut off: raise --max-tokens" if cut_off else ""
        # json's own wording ends in "at" for some errors ("Unterminated string starting at"): no "at at".
        raise SchemaViolation(f"reply is not valid JSON ({e.msg}: char {e.pos}){hint}") from None
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    errors = sorted(validator_cls(schema).iter_errors(data), key=lambda err: list(err.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SchemaViolation(f"reply does not match the schema at {where}: {err.message}{more}")
    return data
