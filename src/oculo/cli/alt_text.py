"""`oculo alt-text`: short alt text for images, to a CSV or straight into the HTML that shows them."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import click

from .. import html_alt
from ..engines import ImagePart, Stats, open_engine
from ..errors import OculoError
from ..tasks.alt_text import DEFAULT_MAX_CHARS, AltText
from .common import (
    Filters,
    batch_options,
    build_settings,
    check_engine_flags,
    engine_options,
    gather_inputs,
    input_options,
    job_spec,
    prompt_file_option,
    task_prompt,
)
from .output import Output


def _write_csv(path: str, results: list[AltText]) -> None:
    try:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["path", "alt_text", "error"])
            for r in results:
                w.writerow([r.source, r.text, r.error or ""])
    except OSError as e:
        raise OculoError(f"{path}: cannot write the CSV ({e.strerror or e}); check the folder") from None


@click.command("alt-text")
@click.argument("inputs", nargs=-1)
@input_options
@engine_options
@click.option("--max-chars", type=click.IntRange(min=10), default=DEFAULT_MAX_CHARS, show_default=True,
              help="Longest alt text allowed; longer answers are cut at a word boundary.")
@click.option("--out", "out_csv", type=click.Path(dir_okay=False), help="Write a CSV: path, alt_text, error.")
@click.option("--html", "html_dir", type=click.Path(file_okay=False, exists=True),
              help="Folder of HTML files: fill their missing alt attributes (describes the images they use "
                   "when no INPUTS are given).")
@click.option("--write", is_flag=True,
              help="With --html: change the files (a .bak copy is kept); default is a dry run.")
@click.option("--overwrite", is_flag=True, help="With --html: replace alt text that is already there too.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per image.")
@prompt_file_option
@batch_options
def alt_text(inputs: tuple[str, ...], model: str | None, engine: str | None, system: str | None, max_chars: int,
             out_csv: str | None, html_dir: str | None, write: bool, overwrite: bool, as_json: bool,
             **kw: Any) -> None:
    """Write short alt text for INPUTS, or for the images used by the HTML files under --html DIR.

    \b
    Inputs: image paths, globs, folders, http(s) URLs, or - for stdin.
    Examples:
      oculo alt-text photos/ --out alt.csv
      oculo alt-text --html site/ --write
    """
    listed, filters = gather_inputs(inputs, kw, required=False)
    if not listed and not html_dir:
        raise click.UsageError("give images to describe, or --html DIR")
    if (write or overwrite) and not html_dir:
        raise click.UsageError("--write and --overwrite need --html DIR")
    template = task_prompt(kw, "alt-text")
    settings, options = build_settings(kw)
    refs = html_alt.scan(html_dir) if html_dir else []
    output = Output.from_kw(kw, as_json=as_json, inputs=max(len(listed), 2 if html_dir else 0), headers=False,
                            render=lambda record: f"{record['path']}\t{record['alt_text']}")
    eng = open_engine(engine, model, settings)
    try:
        check_engine_flags(eng.name)
        what = {"max_chars": max_chars, "system": system, "prompt": template}
        spec = job_spec("alt-text", eng, what, options, settings, kw, output.progress)
        results, summary = _describe(eng, listed, refs, overwrite, max_chars, options, system, spec, filters,
                                     template)
    finally:
        eng.close()

    with output:
        for r in results:
            output.record(r.to_dict(), source=r.source)
    if out_csv:
        _write_csv(out_csv, results)
    if html_dir:
        _update_html(html_dir, refs, results, overwrite, write, output)
    if summary is not None:
        done, cached, failed, job_id = summary
        output.summary(f"{done} described ({cached} from the store), {failed} failed; job {job_id}")
    output.finish()


def _describe(eng: Any, inputs: list[str], refs: list[html_alt.ImgRef], overwrite: bool, max_chars: int,
              options: Any, system: str | None, spec: Any, filters: Filters,
              template: str) -> tuple[list[AltText], tuple[int, int, int, int] | None]:
    """Alt text for each input as a resumable job: a rerun over 20,000 product photos skips what is done."""
    from ..batch.jobs import run_image_job
    from ..engines import Request
    from ..media.sources import expand
    from ..tasks.alt_text import alt_options, alt_prompt, finish_alt

    contexts: dict[str, str | None] = {}
    if not inputs:
        # Only images some page still needs alt text for; a missing file is reported with the HTML, not here.
        for ref in refs:
            if (overwrite or not ref.alt) and ref.image_path.is_file():
                contexts.setdefault(str(ref.image_path), ref.context)
        inputs = list(contexts)
    if not inputs:
        return [], None
    sources = expand(inputs, **filters)

    def context(name: str) -> str | None:
        return contexts.get(name) or _file_context(name)

    opts = alt_options(options, max_chars)
    results: dict[str, AltText] = {}

    def build(part: ImagePart) -> Request:
        return Request.simple(alt_prompt(max_chars, context(part.name), template), [part], system=system,
                              options=opts)

    def collect(item: Any, result: Any) -> None:
        stats = Stats(**{k: v for k, v in (result.stats or {}).items() if k != "tokens_per_s"})
        text = (result.output or {}).get("text")
        results[item.source] = finish_alt(item.source, text, result.error, stats, max_chars)

    summary, job_id = run_image_job(spec, sources, build, collect, item_extra=context)
    return ([results.get(src.name) or AltText(src.name, "", "no result", Stats()) for src in sources],
            (summary.done, summary.cached, summary.failed, job_id))


def _file_context(name: str) -> str | None:
    # A descriptive file name ("golden-gate-at-dusk.jpg") helps; the prompt tells the model to trust the pixels.
    stem = Path(name.split("?", 1)[0]).stem.replace("-", " ").replace("_", " ").strip()
    return f'file name "{stem}"' if stem and any(c.isalpha() for c in stem) else None


def _update_html(html_dir: str, refs: list[html_alt.ImgRef], results: list[AltText], overwrite: bool,
                 write: bool, output: Output) -> None:
    texts: dict[str | os.PathLike[str], str] = {
        os.path.abspath(r.source): r.text for r in results if r.text and "://" not in r.source}
    changes = html_alt.plan(html_dir, texts, overwrite, refs=refs)
    for c in changes:
        old = "" if c.old_alt is None else f' (was alt="{c.old_alt}")'
        line = f'{c.html_path}:{c.line}: {c.image_path.name} alt="{c.new_alt}"{old}'
        if output.as_json:  # stdout holds JSON records only; the planned changes are a note beside them
            output.note(line)
        else:
            click.echo(line)
    missing = html_alt.undescribed(refs, texts, overwrite)
    for ref in missing:
        why = "no such file" if not ref.image_path.is_file() else "not described"
        output.note(f"note: {ref.html_path}:{ref.line}: {ref.image_path} ({why}); alt left as it is")
    if not changes:
        output.note("no alt attributes to change")
    elif write:
        written = html_alt.apply(changes)
        output.note(f"updated {len(changes)} alt attribute(s) in {len(written)} file(s); originals kept as .bak")
    else:
        output.note(f"dry run: {len(changes)} alt attribute(s) would change; pass --write to apply")
