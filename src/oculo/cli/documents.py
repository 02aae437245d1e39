"""`oculo ocr`, `oculo extract`, `oculo verify` and `oculo eval`: documents in, text or checked JSON out."""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

import click

from ..engines import ENGINES, open_engine
from ..errors import InputError
from .common import (
    batch_options,
    build_settings,
    check_engine_flags,
    engine_options,
    engine_options_with,
    gather_inputs,
    input_options,
    job_spec,
    open_checked_engine,
    prompt_file_option,
    task_prompt,
)
from .output import Output

_ANCHORS = ("auto", "text", "ocr", "none")


def _doc_options(f: Any) -> Any:
    f = click.option("--pages", help="Pages to read, e.g. 1-3,7 (default: all).")(f)
    f = click.option("--dpi", type=click.FloatRange(min=20, max=1200),
                     help="Render PDFs at this resolution (default: fit the model's pixel budget).")(f)
    return f


def _files(items: tuple[str, ...], kw: dict[str, Any], pages: str | None = None) -> list[Path]:
    """The documents. A lone PDF is opened up front, so a corrupt or locked file is reported before a model
    loads; among many, a bad one fails alone inside the job and the others go on."""
    from ..media.documents import is_pdf, text_layer
    from ..media.sources import DOCUMENT_EXTENSIONS, expand

    inputs, filters = gather_inputs(items, kw)
    paths = []
    for src in expand(inputs, extensions=DOCUMENT_EXTENSIONS, **filters):
        if src.path is None:
            raise InputError(f"{src.name}: documents must be files; download it first")
        paths.append(src.path)
    if len(paths) == 1:
        with open(paths[0], "rb") as fh:
            head = fh.read(1024)
        if is_pdf(head):
            text_layer(paths[0], pages=pages)
    return paths


@click.command()
@click.argument("files", nargs=-1)
@input_options
@engine_options_with(("rapidocr", "tesseract", *ENGINES),
                     "rapidocr (default, embedded) or tesseract for classic OCR; or a vision-model engine.")
@click.option("--format", "fmt", type=click.Choice(("text", "markdown", "json")), default="text", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False),
              help="Also write one record per page to FILE.jsonl, .csv or .parquet (with pyarrow).")
@prompt_file_option
@batch_options
@_doc_options
def ocr(files: tuple[str, ...], model: str | None, engine: str | None, system: str | None, fmt: str,
        out: str | None, pages: str | None, dpi: float | None, **kw: Any) -> None:
    """Read the text of documents and images (PDF pages, multi-page TIFF, images), page by page as a job.

    \b
    Classic engines give lines with boxes and confidences (--format json); a vision model
    (--engine ollama|openai|transformers, or -m) transcribes, keeping tables with --format markdown.
    A rerun skips the pages already read; `oculo resume ID` continues an interrupted run.
    """
    from ..batch.jobs import run_page_job
    from ..tasks.ocr import CLASSIC, ocr_document

    if engine is None:
        engine = "auto" if model else "rapidocr"
    if engine in CLASSIC:
        check_engine_flags(engine)  # before any file is read: flags a classic engine cannot use are a usage error
        if kw.get("prompt_file"):
            raise click.UsageError(f"--prompt-file is for vision models; {engine} reads without a prompt")
        if fmt == "markdown":
            raise click.UsageError(f"--format markdown (tables kept) needs a vision model; {engine} gives plain "
                                   "text: use --format text, or -m MODEL")
    template = None if engine in CLASSIC else task_prompt(kw, "ocr", "markdown" if fmt == "markdown" else "prompt")
    kw.pop("prompt_file", None)
    paths = _files(files, kw, pages)
    settings, options = build_settings(kw)
    reader = open_engine(engine, model, settings)
    if engine not in CLASSIC:
        check_engine_flags(reader.name)
    # What changes the text: the prompt (and system prompt) for a vision model, the resolution for all. The
    # display format of classic OCR does not, so its text, json and markdown runs share their cache.
    what = {"dpi": dpi, **({"prompt": template} if template else {}), **({"system": system} if system else {})}
    headers = len(paths) > 1 or pages is not None or any(str(p).lower().endswith((".pdf", ".tif", ".tiff"))
                                                         for p in paths)
    output = Output.from_kw(kw, as_json=fmt == "json", out=out, inputs=len(paths), headers=headers,
                            render=lambda record: record["text"])
    spec = job_spec("ocr", reader, what, options, settings, kw, output.progress)

    def read(path: Path, numbers: list[int]) -> list[dict[str, Any]]:
        return [p.to_dict() for p in ocr_document(path, reader, fmt=fmt, pages=",".join(map(str, numbers)),
                                                  dpi=dpi, options=options, prompt=template, system=system)]

    with output:
        summary, job_id = run_page_job(spec, paths, pages, read, output.on_item(
            label=lambda item, record: f"{Path(item.source).name} page {record.get('page')}"))
    output.finish(summary, job_id)


def _page_of(item: Any) -> int | None:
    return int(item.part.split()[-1]) if item.part else None


@click.command()
@click.argument("files", nargs=-1)
@input_options
@engine_options
@click.option("--schema", "schema", default="invoice", show_default=True,
              help="invoice, receipt, a JSON Schema file, or a pydantic model as module:Class.")
@click.option("--anchor", type=click.Choice(_ANCHORS), default="auto", show_default=True,
              help="Put the document's own text in the prompt: the PDF text layer, classic OCR, or nothing.")
@click.option("--pages-per-request", type=click.IntRange(min=1),
              help="Pages sent together (default: as many as the model takes).")
@click.option("--out", "out", type=click.Path(dir_okay=False),
              help="Also write results to FILE.jsonl, .csv or .parquet (with pyarrow).")
@click.option("--strict", is_flag=True, help="Exit 1 when any document has warnings.")
@click.option("--attempts", type=click.IntRange(1, 4), default=4, show_default=True,
              help="Tries per document when the answer fails validation (temperature rises 0.0 to 0.8).")
@prompt_file_option
@batch_options
@_doc_options
def extract(files: tuple[str, ...], model: str | None, engine: str | None, system: str | None, schema: str,
            anchor: str, pages_per_request: int | None, out: str | None, strict: bool, attempts: int,
            pages: str | None, dpi: float | None, **kw: Any) -> None:
    """Extract JSON from documents with a schema, validate it, and check every number against the document.

    \b
    Example: oculo extract invoice.pdf --schema invoice --out invoices.csv
    Each result has a status: ok, warnings (a sum that does not add up, a value not in the document), or failed.
    """
    from ..batch.jobs import run_document_job
    from ..schemas import resolve_schema
    from ..tasks.extract import extract_document

    json_schema = resolve_schema(schema)[0]  # a bad schema fails before any model loads
    template = task_prompt(kw, "extract")
    paths = _files(files, kw, pages)
    settings, options = build_settings(kw)
    # Every extraction record is JSON: --json is not needed, and its text rendering is the same line.
    output = Output.from_kw(kw, as_json=True, out=out, inputs=len(paths), strict=strict)
    eng = open_checked_engine(engine, model, settings)
    what = {"schema": json_schema, "anchor": anchor, "pages": pages, "dpi": dpi,
            "pages_per_request": pages_per_request, "attempts": attempts, "prompt": template,
            **({"system": system} if system else {})}
    spec = job_spec("extract", eng, what, options, settings, kw, output.progress)
    with output:
        summary, job_id = run_document_job(spec, paths, lambda p: extract_document(
            p, eng, schema, pages=pages, dpi=dpi, anchor=anchor, pages_per_request=pages_per_request,
            options=options, attempts=attempts, prompt_template=template, system=system), output.on_item())
    output.finish(summary, job_id)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The extraction to check (JSON; an oculo result or the bare record).")
@click.option("--schema", default="invoice", type=click.Choice(("invoice", "receipt")), show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the verification as JSON.")
@click.option("--strict", is_flag=True, help="Exit 1 when there are warnings.")
def verify(file: str, data_path: str, schema: str, as_json: bool, strict: bool) -> None:
    """Check an extraction made elsewhere against the document's own text: sums, grounding, plausibility."""
    from ..checks import verify as run_checks
    from ..media.documents import open_document
    from ..tasks.extract import document_text

    try:
        data = json.loads(Path(data_path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{data_path}: not valid JSON ({e}); pass the extraction as a JSON object") from None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]  # an oculo extract result line
    if not isinstance(data, dict):
        raise InputError(f"{data_path}: expected one JSON object with the extracted fields")
    from ..checks.layout import layout_from_pdf

    doc = open_document(file, max_pixels=4_000_000)
    text = document_text(doc, None, "none", "rapidocr") or ""  # no text at all: verify says grounding failed
    layout = layout_from_pdf(file) if any(p.text for p in doc) else None  # boxes from the text layer
    v = run_checks(data, text, schema=schema, layout=layout)
    if as_json:
        click.echo(json.dumps(v.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(f"{file}: {v.status}, {v.summary()}")
        for w in v.to_dict()["warnings"]:
            click.echo(f"  {w['field']}: {w['message']}")
    sys.exit(1 if v.status == "failed" or (strict and v.status == "warnings") else 0)


@click.command(name="eval")
@click.option("--data", "folder", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of documents, each with a ground-truth NAME.json beside it.")
@click.option("--models", required=True,
              help="Comma-separated models to compare, each MODEL (run with --engine) or ENGINE:MODEL, e.g. "
                   "ollama:qwen2.5vl:7b,openai:gpt-4o (an openai: entry sends the images to its --base-url).")
@click.option("--fields", default=None, help="Comma-separated fields (default: vendor,date,total,tax,line_count).")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False),
              help="JSON mapping oculo field -> ground-truth field (default: invoice2data's names).")
@click.option("--schema", default="invoice", show_default=True)
@click.option("--anchor", type=click.Choice(_ANCHORS), default="auto", show_default=True,
              help="Put the document's own text in the prompt (see `oculo extract`).")
@click.option("--attempts", type=click.IntRange(1, 4), default=4, show_default=True,
              help="Tries per document when the answer fails validation.")
@click.option("--json", "as_json", is_flag=True, help="Print scores as JSON.")
@engine_options
@_doc_options
def eval_(folder: str, models: str, fields: str | None, mapping: str | None, schema: str, anchor: str,
          attempts: int, as_json: bool, model: str | None, engine: str | None, system: str | None,
          pages: str | None, dpi: float | None, **kw: Any) -> None:
    """Compare models on documents with ground truth: a tick or cross per field, score, speed."""
    from ..engines.openai import openai_base_url
    from ..tasks.evaluate import FIELDS, evaluate, find_documents, leaves_machine, load_mapping, parse_models
    from ..tasks.extract import extract_document

    if model:
        raise click.UsageError("-m/--model is one model; eval compares several: pass --models A,B")
    entries = parse_models(models, ENGINES)
    pairs = find_documents(folder)
    field_list = [f.strip() for f in fields.split(",")] if fields else list(FIELDS)
    mapping_data = load_mapping(mapping)
    settings, options = build_settings(kw)
    engines = [open_engine(entry.engine or engine, entry.model, settings) for entry in entries]  # none loads yet
    _check_flags_for({e.name for e in engines})
    for entry, eng in zip(entries, engines):
        if eng.name == "openai" and leaves_machine(url := openai_base_url(settings.base_url)):
            click.echo(f"warning: {entry.label} sends the documents' images to {url}; they leave this machine",
                       err=True)
    scores = []
    for entry, eng in zip(entries, engines):
        run = partial(extract_document, engine=eng, schema=schema, pages=pages, dpi=dpi, anchor=anchor,
                      options=options, attempts=attempts, system=system)
        try:
            scores.append(evaluate(pairs, entry.label, run, field_list, mapping_data))
        finally:
            eng.close()
    if as_json:
        click.echo(json.dumps({"documents": len(pairs), "fields": field_list,
                               "models": [s.to_dict() for s in scores]}, indent=2))
        return
    _score_table(scores, field_list, len(pairs))


def _check_flags_for(names: set[str]) -> None:
    """One engine: its own flag check. Several (`--models ollama:a,openai:b`): refuse only the flags none reads."""
    if len(names) == 1:
        check_engine_flags(next(iter(names)))
        return
    from .common import _IN_PROCESS, refuse

    used = ", ".join(sorted(names))
    if "transformers" not in names:
        refuse(*_IN_PROCESS, why=f"is for the in-process engine; none of the engines compared ({used}) reads it")
    if "ollama" not in names:
        refuse("ollama_host", why=f"is for the ollama engine; none of the engines compared ({used}) reads it")
    if "openai" not in names:
        refuse("base_url", "api_key", why=f"is for the openai engine; none of the engines compared ({used}) reads it")


def _score_table(scores: list[Any], fields: list[str], n_docs: int) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"oculo eval — {n_docs} document(s)")
    t.add_column("model", overflow="fold")
    for f in fields:
        t.add_column(f, justify="center")
    for col in ("score", "s/doc", "tok/s"):
        t.add_column(col, justify="right")
    for s in scores:
        cells = []
        for f in fields:
            marks = s.per_field.get(f, [])
            ok = sum(marks)
            cells.append("-" if not marks else "✓" if ok == len(marks) else "✗" if ok == 0 else f"{ok}/{len(marks)}")
        d = s.to_dict()
        t.add_row(s.model, *cells, f"{s.score:.0%}", f"{d['seconds_per_document'] or 0:.1f}",
                  f"{d['tokens_per_s']:.0f}" if d["tokens_per_s"] else "-")
    Console().print(t)
