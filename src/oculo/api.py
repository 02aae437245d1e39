"""The library's front door: `ask` and `describe`, the same pipeline the CLI and the server use."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from .engines import Engine, EngineSettings, ImagePart, Options, Reply, Request, open_engine
from .engines.base import Chunk
from .tasks.prompts import prompt

__all__ = ["ask", "ask_stream", "build_request", "chart", "compare", "describe", "load_images", "schema_of",
           "screenshot", "video", "DESCRIBE_PROMPT"]

DESCRIBE_PROMPT = prompt("describe")


def _engine(engine: Engine | str | None, model: str | None, settings: EngineSettings | None) -> Engine:
    return engine if isinstance(engine, Engine) else open_engine(engine, model, settings)


def _options(options: Options | None, max_tokens: int | None, temperature: float | None, seed: int | None,
             stop: Sequence[str] | str | None) -> Options | None:
    """`options` with the keyword settings laid over it: a keyword given wins, one left out keeps `options`'."""
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise ValueError(f"max_tokens must be a whole number of at least 1, got {max_tokens!r}")
    if temperature is not None and not temperature >= 0:  # also refuses NaN
        raise ValueError(f"temperature must be 0 or more, got {temperature!r}")
    given: dict[str, Any] = {k: v for k, v in (("max_tokens", max_tokens), ("temperature", temperature),
                                               ("seed", seed)) if v is not None}
    if stop is not None:
        given["stop"] = [stop] if isinstance(stop, str) else list(stop)
    return replace(options or Options(), **given) if given else options


def load_images(images: Sequence[Any], engine: Engine, *, include: Sequence[str] = (),
                exclude: Sequence[str] = (), pages: str | None = None) -> list[ImagePart]:
    """Paths, globs, folders, URLs, `-` and bytes, decoded and sized for this engine's model.

    A PDF becomes its pages, each one image (`pages` chooses them, as "1-3,7"); they render at 150 dpi or more
    (see media.documents).
    """
    from .media import ImageLimits, expand
    from .media.sources import DOCUMENT_EXTENSIONS

    if not images:
        return []
    # Every input is found first, so a missing file fails before anything is decoded or the model loads.
    # Raw inputs alone are expanded together, so a file named twice is sent once.
    groups = [list(images)] if not any(isinstance(i, ImagePart) for i in images) else [[i] for i in images]
    found = [g[0] if isinstance(g[0], ImagePart) else expand(g, include=include, exclude=exclude,
                                                             extensions=DOCUMENT_EXTENSIONS) for g in groups]
    limits = ImageLimits.from_capabilities(engine.capabilities())
    out: list[ImagePart] = []
    for item in found:  # the caller's order, decoded and raw inputs mixed
        out.extend([item] if isinstance(item, ImagePart) else _load_pages(item, limits, pages))
    return out


def _load_pages(sources: Sequence[Any], limits: Any, pages: str | None) -> list[ImagePart]:
    from .media import load_all
    from .media.documents import is_pdf, open_document
    from .media.sources import Source

    out: list[ImagePart] = []
    plain: list[Any] = []
    for src in sources:
        data = src.read()  # once: a URL is not fetched again to decode it
        if not is_pdf(data):
            plain.append(Source.from_bytes(data, src.name))
            continue
        out.extend(load_all(plain, limits))  # in order: the images before this PDF, then its pages
        plain = []
        doc = open_document(Source.from_bytes(data, src.name), pages=pages,
                            max_pixels=limits.max_pixels, min_side=limits.min_side)
        out.extend(ImagePart(p.image, f"{src.name} page {p.number}") for p in doc)
    return out + load_all(plain, limits)


def schema_of(schema: Any) -> tuple[dict[str, Any] | None, Any]:
    """A JSON Schema dict, or a pydantic model class (whose instances then come back in `Reply.data`)."""
    if schema is None or isinstance(schema, dict):
        return schema, None
    if hasattr(schema, "model_json_schema"):
        return schema.model_json_schema(), schema
    raise TypeError("schema must be a JSON Schema dict or a pydantic model class")


def build_request(prompt: str, parts: list[ImagePart], system: str | None, options: Options | None,
             schema: dict[str, Any] | None) -> Request:
    return Request.simple(prompt, parts, system=system, options=options, schema=schema)


def _typed(reply: Reply, model_cls: Any) -> Reply:
    if model_cls is not None and reply.error is None and reply.data is not None:
        reply.data = model_cls.model_validate(reply.data)
    return reply


# Every front-door function takes the generation settings as keywords (max_tokens, temperature, seed, stop),
# as the CLI takes them as flags; `options=` still works, and a keyword given wins over it.

def ask(prompt: str, images: Sequence[Any] = (), *, engine: Engine | str | None = None, model: str | None = None,
        system: str | None = None, schema: Any = None, max_tokens: int | None = None,
        temperature: float | None = None, seed: int | None = None, stop: Sequence[str] | str | None = None,
        options: Options | None = None, settings: EngineSettings | None = None) -> Reply:
    """One question about one or more images (all sent in one request)."""
    options = _options(options, max_tokens, temperature, seed, stop)
    eng = _engine(engine, model, settings)
    js, cls = schema_of(schema)
    reply = eng.generate([build_request(prompt, load_images(images, eng), system, options, js)])[0]
    return _typed(reply, cls)


def ask_stream(prompt: str, images: Sequence[Any] = (), *, engine: Engine | str | None = None,
               model: str | None = None, system: str | None = None, schema: Any = None,
               max_tokens: int | None = None, temperature: float | None = None, seed: int | None = None,
               stop: Sequence[str] | str | None = None, options: Options | None = None,
               settings: EngineSettings | None = None) -> Iterator[Chunk]:
    options = _options(options, max_tokens, temperature, seed, stop)
    eng = _engine(engine, model, settings)
    js, _ = schema_of(schema)
    yield from eng.stream(build_request(prompt, load_images(images, eng), system, options, js))


def describe(images: Sequence[Any], *, engine: Engine | str | None = None, model: str | None = None,
             prompt: str = DESCRIBE_PROMPT, system: str | None = None, schema: Any = None,
             max_tokens: int | None = None, temperature: float | None = None, seed: int | None = None,
             stop: Sequence[str] | str | None = None, options: Options | None = None,
             settings: EngineSettings | None = None) -> list[Reply]:
    """One description per image, sent as one batch so the engine can work on several at once."""
    options = _options(options, max_tokens, temperature, seed, stop)
    eng = _engine(engine, model, settings)
    js, cls = schema_of(schema)
    parts = load_images(images, eng)
    return [_typed(r, cls) for r in eng.generate([build_request(prompt, [p], system, options, js) for p in parts])]


def screenshot(images: Sequence[Any], *, bug_report: bool = False, engine: Engine | str | None = None,
               model: str | None = None, prompt: str | None = None, system: str | None = None,
               max_tokens: int | None = None, temperature: float | None = None, seed: int | None = None,
               stop: Sequence[str] | str | None = None, options: Options | None = None,
               settings: EngineSettings | None = None, ocr: str = "auto") -> list[dict[str, Any]]:
    """Each screenshot read (or a bug report written), its error text checked against the screen's own text.

    The task has its own schema; there is no `schema=`."""
    from .tasks.image_tasks import run_task

    options = _options(options, max_tokens, temperature, seed, stop)
    eng = _engine(engine, model, settings)
    return run_task("bug-report" if bug_report else "screenshot", eng, load_images(images, eng), prompt=prompt,
                    system=system, options=options, ocr=ocr)


def chart(images: Sequence[Any], *, engine: Engine | str | None = None, model: str | None = None,
          prompt: str | None = None, system: str | None = None, max_tokens: int | None = None,
          temperature: float | None = None, seed: int | None = None, stop: Sequence[str] | str | None = None,
          options: Options | None = None, settings: EngineSettings | None = None,
          ocr: str = "auto") -> list[dict[str, Any]]:
    """Each chart read into data, with a table whose values are estimates unless printed on the chart.

    The task has its own schema; there is no `schema=`."""
    from .tasks.image_tasks import run_task

    options = _options(options, max_tokens, temperature, seed, stop)
    eng = _engine(engine, model, settings)
    return run_task("chart", eng, load_images(images, eng), prompt=prompt, system=system, options=options, ocr=ocr)


def compare(images: Sequence[Any], *, engine: Engine | str | None = None, model: str | None = None,
            schema: Any = None, mode: str = "auto", prompt: str | None = None, system: str | None = None,
            max_tokens: int | None = None, temperature: float | None = None, seed: int | None = None,
            stop: Sequence[str] | str | None = None, options: Options | None = None,
            settings: EngineSettings | None = None, text_engine: Engine | None = None) -> dict[str, Any]:
    """What differs between two or more images: in one request when the model takes them all."""
    from .tasks.compare import compare_images

    options = _options(options, max_tokens, temperature, seed, stop)
    eng = _engine(engine, model, settings)
    js, _ = schema_of(schema)
    return compare_images(eng, load_images(images, eng), schema=js, prompt=prompt, system=system, options=options,
                          mode=mode, text_engine=text_engine)


def video(path: str, *, engine: Engine | str | None = None, model: str | None = None, fps: float | None = None,
          max_gap: float = 30.0, min_scene: float = 0.6, query: str | None = None, summarize: bool = True,
          summary_engine: Engine | None = None, system: str | None = None, max_tokens: int | None = None,
          temperature: float | None = None, seed: int | None = None, stop: Sequence[str] | str | None = None,
          options: Options | None = None, settings: EngineSettings | None = None) -> Any:
    """A video's sampled frames described with their times, and a summary; `render_video` formats it.

    The frames have their own prompt and schema; there is no `schema=`."""
    from .tasks.video import describe_video

    options = _options(options, max_tokens, temperature, seed, stop)
    eng = _engine(engine, model, settings)
    return describe_video(path, eng, fps=fps, max_gap=max_gap, min_scene=min_scene, query=query,
                          summary_engine=summary_engine, summarize=summarize, options=options, system=system)
