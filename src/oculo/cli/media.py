"""`oculo screenshot`, `oculo chart`, `oculo compare` and `oculo prompts`: image tasks with their own shapes."""

from __future__ import annotations

from typing import Any

import click

from .common import (
    batch_options,
    build_settings,
    companion_engine,
    engine_options,
    gather_inputs,
    input_options,
    job_spec,
    open_checked_engine,
    prompt_file_option,
    task_prompt,
)
from .output import Output, quiet_option

__all__ = ["chart", "compare", "prompts", "screenshot"]

_OCR = ("auto", "rapidocr", "tesseract", "none")


def _task_options(f: Any) -> Any:
    for decorator in reversed([
        click.option("--ocr", type=click.Choice(_OCR), default="auto", show_default=True,
                     help="Classic OCR that checks the answer against the image's own text (auto: rapidocr, "
                          "else tesseract; none: no check)."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON record per image."),
        click.option("--out", "out", type=click.Path(dir_okay=False),
                     help="Also write the records to FILE.jsonl, .csv or .parquet (with pyarrow)."),
        click.option("--strict", is_flag=True, help="Exit 1 when any image has warnings."),
        prompt_file_option,
        batch_options,
    ]):
        f = decorator(f)
    return f


def _run_task(name: str, images: tuple[str, ...], model: str | None, engine: str | None, system: str | None,
              ocr: str, as_json: bool, out: str | None, strict: bool, kw: dict[str, Any]) -> None:
    """The task over every image (and PDF page) as a resumable job, each record checked in the worker."""
    from ..batch.jobs import run_image_job
    from ..media.sources import DOCUMENT_EXTENSIONS, expand
    from ..tasks.image_tasks import TASKS

    task = TASKS[name]
    inputs, filters = gather_inputs(images, kw)
    template = task_prompt(kw, name)
    settings, options = build_settings(kw)
    sources = expand(inputs, extensions=DOCUMENT_EXTENSIONS, **filters)  # missing files fail before a model loads
    output = Output.from_kw(kw, as_json=as_json, out=out, inputs=len(sources), strict=strict, render=task.render)
    eng = open_checked_engine(engine, model, settings)
    spec = job_spec(name, eng, {"prompt": template, "schema": task.json_schema(), "system": system, "ocr": ocr},
                    options, settings, kw, output.progress)
    with output:
        summary, job_id = run_image_job(
            spec, sources, lambda part: task.request(part, prompt=template, system=system, options=options),
            output.on_item(), post=lambda part, record: task.finish(record, part.image, ocr))
    output.finish(summary, job_id)


@click.command()
@click.argument("images", nargs=-1)
@input_options
@engine_options
@click.option("--bug-report", is_flag=True,
              help="Write a bug report: title, summary, steps to reproduce, expected, actual, environment, errors.")
@_task_options
def screenshot(images: tuple[str, ...], model: str | None, engine: str | None, system: str | None,
               bug_report: bool, ocr: str, as_json: bool, out: str | None, strict: bool, **kw: Any) -> None:
    """Read screenshots: what is on the screen, any error text verbatim, the likely cause and the fix.

    \b
    Each error message the model copies is looked up in the screenshot's own text (classic OCR);
    one that is not there as written is flagged as a warning.
    Example: oculo screenshot crash.png --bug-report --json
    """
    _run_task("bug-report" if bug_report else "screenshot", images, model, engine, system, ocr, as_json, out,
              strict, kw)


@click.command()
@click.argument("images", nargs=-1)
@input_options
@engine_options
@_task_options
def chart(images: tuple[str, ...], model: str | None, engine: str | None, system: str | None, ocr: str,
          as_json: bool, out: str | None, strict: bool, **kw: Any) -> None:
    """Read charts: type, title, axes with units, series, the trend, and a data table.

    \b
    Every value is marked as an estimate (~) unless it is printed on the chart, which the chart's own
    text (classic OCR) must confirm; values outside the axis range are flagged.
    """
    _run_task("chart", images, model, engine, system, ocr, as_json, out, strict, kw)


@click.command()
@click.argument("images", nargs=-1)
@input_options
@engine_options
@click.option("--schema", help="Answer as JSON: a JSON Schema file, or a pydantic model as module:Class.")
@click.option("--mode", type=click.Choice(("auto", "together", "describe")), default="auto", show_default=True,
              help="together: all images in one request; describe: each described, then the texts compared; "
                   "auto: together when the model takes that many images.")
@click.option("--text-model", help="With describe: the model that compares the descriptions (may be text-only).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--out", "out", type=click.Path(dir_okay=False),
              help="Also write the result to FILE.jsonl, .csv or .parquet (with pyarrow).")
@prompt_file_option
@quiet_option
def compare(images: tuple[str, ...], model: str | None, engine: str | None, system: str | None,
            schema: str | None, mode: str, text_model: str | None, as_json: bool, out: str | None,
            **kw: Any) -> None:
    """Say what differs between two or more images.

    \b
    Example: oculo compare before.png after.png
    """
    from .. import api
    from ..schemas import resolve_schema
    from ..tasks.compare import compare_images
    from ..tasks.prompts import read_prompt_file

    inputs, filters = gather_inputs(images, kw)
    if text_model and mode == "together":
        raise click.UsageError("--text-model compares descriptions; with --mode together there are none "
                               "(use --mode describe or auto)")
    prompt_file = kw.pop("prompt_file", None)
    custom = read_prompt_file(prompt_file) if prompt_file else None
    json_schema = resolve_schema(schema)[0] if schema else None
    settings, options = build_settings(kw)
    eng = open_checked_engine(engine, model, settings)
    parts = api.load_images(inputs, eng, **filters)
    text_engine = companion_engine(engine, text_model, settings) if text_model else None
    record = compare_images(eng, parts, schema=json_schema, prompt=custom, system=system, options=options,
                            mode=mode, text_engine=text_engine)
    with Output(as_json=as_json, out=out, quiet=kw.pop("quiet", False), headers=False) as output:
        output.record(record, source="")
    output.finish()


@click.command()
@click.argument("task", required=False)
@click.option("--part", default="prompt", show_default=True, help="Which of the task's prompts to print.")
def prompts(task: str | None, part: str) -> None:
    """List the tasks' built-in prompts, or print one to start a --prompt-file from."""
    from ..errors import InputError
    from ..tasks.prompts import parts, prompt, tasks

    if task is None:
        for name in tasks():
            click.echo(f"{name:<14} {', '.join(parts(name))}")
        return
    if task not in tasks():
        raise InputError(f"no task {task!r}; `oculo prompts` lists them: {', '.join(tasks())}")
    if part not in parts(task):
        raise InputError(f"task {task} has no prompt part {part!r}; it has {', '.join(parts(task))}")
    click.echo(prompt(task, part))
