"""`oculo ask` and `oculo describe`."""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import api
from ..engines import Engine, Reply
from .common import (
    batch_options,
    build_settings,
    drop_job_options,
    engine_options,
    gather_inputs,
    input_options,
    job_spec,
    open_checked_engine,
    prompt_file_option,
    refuse,
    task_prompt,
)
from .output import Output

_IMAGES_HELP = "Image paths, globs, folders, http(s) URLs, or - for stdin."


def _output_options(f: Any) -> Any:
    f = click.option("--out", "out", type=click.Path(dir_okay=False),
                     help="Also write each result to FILE.jsonl, .csv or .parquet.")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Print the whole reply with stats as JSON.")(f)
    f = click.option("--stream/--no-stream", default=None,
                     help="Print tokens as they come (default: when writing to a terminal; one request, "
                          "without --json or --out).")(f)
    return f


def _streaming(flag: bool | None, as_json: bool) -> bool:
    return not as_json and (sys.stdout.isatty() if flag is None else flag)


def _stream(engine: Engine, request: Any) -> Reply:
    reply = None
    for chunk in engine.stream(request):
        if chunk.text:
            click.echo(chunk.text, nl=False)
            sys.stdout.flush()
        if chunk.reply is not None:
            reply = chunk.reply
    click.echo()
    assert reply is not None
    return reply


@click.command()
@click.argument("prompt")
@click.argument("images", nargs=-1)
@input_options
@engine_options
@click.option("--schema", "schema_path", help="What the answer must match: a JSON Schema file, invoice, receipt, "
              "or a pydantic model as module:Class.")
@click.option("--each", is_flag=True, help="Ask about each image separately instead of all in one request.")
@click.option("--pages", help="Pages of a PDF to send, e.g. 1-3,7 (default: all; one request).")
@batch_options
@_output_options
def ask(prompt: str, images: tuple[str, ...], model: str | None, engine: str | None, system: str | None,
        schema_path: str | None, each: bool, pages: str | None, as_json: bool, stream: bool | None,
        out: str | None, **kw: Any) -> None:
    """Ask PROMPT about IMAGES (all in one request, or --each separately).

    \b
    Images: paths, globs, folders, http(s) URLs, or - for stdin. A PDF is sent as its pages' images.
    Example: oculo ask "What is written on the sign?" photo.jpg
    """
    inputs, filters = gather_inputs(images, kw, required=False)
    if pages is not None and each:
        raise click.UsageError("--pages chooses the pages sent in one request; --each asks about every page "
                               "separately (drop one of them)")
    if stream and (as_json or out or each):
        raise click.UsageError("--stream prints one reply's text as it comes; it cannot go with --json, --out "
                               "or --each")
    if not each:
        refuse("store", "force", "concurrency", why="is for --each (a job over many images); one request over "
                                                    "all images has no job")
        if kw.get("progress") not in ("auto", "off"):
            raise click.UsageError("--progress is for --each; one request has no progress to show (-q or "
                                   "--progress off silence the rest)")
    settings, options = build_settings(kw)
    schema = None
    if schema_path:
        from ..schemas import resolve_schema

        schema = resolve_schema(schema_path)[0]
    if each:
        from ..media.sources import DOCUMENT_EXTENSIONS, expand

        sources = expand(inputs, extensions=DOCUMENT_EXTENSIONS, **filters)
        eng = open_checked_engine(engine, model, settings)
        output = Output.from_kw(kw, as_json=as_json, out=out, inputs=len(sources))
        spec = job_spec("ask", eng, {"prompt": prompt, "system": system, "schema": schema}, options, settings, kw,
                        output.progress)
        _run_each(spec, sources, lambda p: api.build_request(prompt, [p], system, options, schema), output)
        return
    drop_job_options(kw, "runs a job over many images; add --each to ask about each image")
    eng = open_checked_engine(engine, model, settings)
    parts = api.load_images(inputs, eng, pages=pages, **filters)
    _check_pages(parts, eng, pages)
    request = api.build_request(prompt, parts, system, options, schema)
    with Output.from_kw(kw, as_json=as_json, out=out, headers=False) as output:
        name = parts[0].name if len(parts) == 1 else None
        if _streaming(stream, as_json or bool(out)):
            reply = _stream(eng, request)
            if reply.error:  # the text was printed as it came; only the error is left to report
                output.record(reply.to_dict(), source=name)
        else:
            reply = eng.generate([request])[0]
            output.record(reply.to_dict(), source=name)
        output.finish()


@click.command()
@click.argument("images", nargs=-1)
@input_options
@engine_options
@click.option("--prompt", help="Override the describe prompt.")
@prompt_file_option
@batch_options
@_output_options
def describe(images: tuple[str, ...], model: str | None, engine: str | None, system: str | None,
             prompt: str | None, as_json: bool, stream: bool | None, out: str | None, **kw: Any) -> None:
    """Describe each image in detail.

    \b
    Images: paths, globs, folders, http(s) URLs, or - for stdin.
    Several images are described one by one, batched where the engine allows.
    """
    inputs, filters = gather_inputs(images, kw)
    if prompt and kw.get("prompt_file"):
        raise click.UsageError("give --prompt or --prompt-file, not both")
    prompt = prompt or task_prompt(kw, "describe")
    kw.pop("prompt_file", None)
    settings, options = build_settings(kw)
    from ..media.sources import DOCUMENT_EXTENSIONS, expand

    sources = expand(inputs, extensions=DOCUMENT_EXTENSIONS, **filters)
    one = len(sources) == 1 and not is_pdf_source(sources[0])
    if stream and not (one and not out and not as_json):
        raise click.UsageError("--stream prints one image's description as it comes; it cannot go with several "
                               "images, a PDF, --json or --out")
    eng = open_checked_engine(engine, model, settings)
    output = Output.from_kw(kw, as_json=as_json, out=out, inputs=len(sources))
    if one and not out and _streaming(stream, as_json):
        drop_job_options(kw, "runs a job over many images; one streamed description runs here "
                             "(add --no-stream or --json to run it as a job)")
        parts = api.load_images(inputs, eng, **filters)
        reply = _stream(eng, api.build_request(prompt, parts, system, options, None))
        if reply.error:
            output.record(reply.to_dict(), source=parts[0].name)
        output.finish()
        return
    spec = job_spec("describe", eng, {"prompt": prompt, "system": system}, options, settings, kw, output.progress)
    _run_each(spec, sources, lambda p: api.build_request(prompt, [p], system, options, None), output)


def _check_pages(parts: list[Any], eng: Engine, pages: str | None) -> None:
    """A PDF's pages past the model's image limit fail here, naming the two ways forward; --pages without a PDF
    would do nothing, so it is refused."""
    from ..errors import InputError

    paged = [p.name for p in parts if " page " in p.name]
    if pages is not None and not paged:
        raise click.UsageError("--pages chooses pages of a PDF; none of the inputs is a PDF")
    limit = eng.capabilities().max_images
    if paged and limit is not None and len(parts) > limit:
        doc = paged[0].rsplit(" page ", 1)[0]
        raise InputError(f"{doc}: {len(parts)} images in one request but model {eng.model!r} takes at most {limit}; "
                         f"choose pages with --pages (e.g. --pages 1-{limit}) or ask about each page with --each")


def is_pdf_source(src: Any) -> bool:
    return str(src.name).lower().endswith(".pdf")


def _run_each(spec: Any, sources: list[Any], build: Any, output: Output) -> None:
    """One request per image through the job store: resumable, cached, printed and written as each finishes."""
    from ..batch.jobs import run_image_job

    with output:
        summary, job_id = run_image_job(spec, sources, build, output.on_item())
    output.finish(summary, job_id)
