"""`oculo ask` and `oculo describe`."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .. import api
from ..engines import Engine, Reply, open_engine
from .common import (batch_options, build_settings, engine_options, gather_inputs, input_options, job_spec,
                     prompt_file_option, report_summary, task_prompt)

_IMAGES_HELP = "Image paths, globs, folders, http(s) URLs, or - for stdin."


def _output_options(f: Any) -> Any:
    f = click.option("--out", "out", type=click.Path(dir_okay=False),
                     help="With several images: also write each result to FILE.jsonl, .csv or .parquet.")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Print the whole reply with stats as JSON.")(f)
    f = click.option("--stream/--no-stream", default=None,
                     help="Print tokens as they come (default: when writing to a terminal).")(f)
    return f


def _print_reply(reply: Reply, as_json: bool, header: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(reply.to_dict(), ensure_ascii=False, default=str))
        return
    if header:
        click.secho(f"== {header} ==", bold=True)
    click.echo(json.dumps(reply.data, ensure_ascii=False, indent=2) if reply.data is not None else reply.text)


def _finish(replies: list[tuple[str, Reply]]) -> None:
    failed = [(name, r) for name, r in replies if r.error]
    for name, r in failed:
        click.echo(f"oculo: error: {name}: {r.error}", err=True)
    if failed:
        sys.exit(1)


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
@batch_options
@_output_options
def ask(prompt: str, images: tuple[str, ...], model: str | None, engine: str | None, system: str | None,
        schema_path: str | None, each: bool, as_json: bool, stream: bool | None, out: str | None,
        **kw: Any) -> None:
    """Ask PROMPT about IMAGES (all in one request, or --each separately).

    \b
    Images: paths, globs, folders, http(s) URLs, or - for stdin.
    Example: oculo ask "What is written on the sign?" photo.jpg
    """
    inputs, filters = gather_inputs(images, kw, required=False)
    settings, options = build_settings(kw)
    schema = None
    if schema_path:
        from ..schemas import resolve_schema

        schema = resolve_schema(schema_path)[0]
    eng = open_engine(engine, model, settings)
    if each:
        from ..media.sources import DOCUMENT_EXTENSIONS, expand

        spec = job_spec("ask", eng, {"prompt": prompt, "system": system, "schema": schema}, options, settings, kw)
        _run_each(spec, expand(inputs, extensions=DOCUMENT_EXTENSIONS, **filters), lambda p: api.build_request(prompt, [p], system, options, schema),
                  as_json, out=out)
        return
    for key in ("store", "force", "concurrency", "progress"):
        kw.pop(key, None)
    parts = api.load_images(inputs, eng, **filters)
    request = api.build_request(prompt, parts, system, options, schema)
    if _streaming(stream, as_json):
        reply = _stream(eng, request)
    else:
        reply = eng.generate([request])[0]
        _print_reply(reply, as_json)
    _finish([(parts[0].name if len(parts) == 1 else "reply", reply)])


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
    eng = open_engine(engine, model, settings)
    from ..media.sources import DOCUMENT_EXTENSIONS, expand

    sources = expand(inputs, extensions=DOCUMENT_EXTENSIONS, **filters)
    if len(sources) == 1 and not is_pdf_source(sources[0]) and not out and _streaming(stream, as_json):
        parts = api.load_images(inputs, eng, **filters)
        reply = _stream(eng, api.build_request(prompt, parts, system, options, None))
        _finish([(parts[0].name, reply)])
        return
    spec = job_spec("describe", eng, {"prompt": prompt, "system": system}, options, settings, kw)
    _run_each(spec, sources, lambda p: api.build_request(prompt, [p], system, options, None), as_json,
              headers=len(sources) > 1, out=out)


def is_pdf_source(src: Any) -> bool:
    return str(src.name).lower().endswith(".pdf")


def _run_each(spec: Any, sources: list[Any], build: Any, as_json: bool, headers: bool = True,
              out: str | None = None) -> None:
    """One request per image through the job store: resumable, cached, printed and written as each finishes."""
    from ..batch.jobs import run_image_job
    from ..sinks import ResultWriter

    writer = ResultWriter(out)

    def show(item: Any, result: Any) -> None:
        record = result.output or {"source": item.source, "error": result.error}
        writer.write(record)
        out = result.output or {}
        if result.error:
            click.echo(f"oculo: error: {item.source}: {result.error}", err=True)
        if as_json:
            click.echo(json.dumps(out or {"source": item.source, "error": result.error}, ensure_ascii=False))
        elif out:
            if headers:
                click.secho(f"== {item.source}{' ' + item.part if item.part else ''} ==", bold=True)
            data = out.get("data")
            click.echo(json.dumps(data, ensure_ascii=False, indent=2) if data is not None else out.get("text", ""))

    try:
        summary, job_id = run_image_job(spec, sources, build, show)
    finally:
        writer.close()
    report_summary(summary, job_id)
