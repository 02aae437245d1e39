"""What a task command prints, writes and exits with, kept in one place so every command keeps one contract.

- stdout: one record per item: strict JSON with --json (a failed item's record carries its `error`), else the
  rendered text of the items that succeeded.
- stderr: each error once, as `oculo: error: SOURCE: MESSAGE`; progress and a closing job summary unless quiet
  (`-q`, `--progress off`) or the run is one input on a non-terminal (a pipe wants the answer, not a report).
- exit code: 1 when any item failed (or, with --strict, had warnings), else 0. Usage errors (exit 2) are click's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..sinks import ResultWriter, dumps, strict_json

__all__ = ["Output", "one_line", "quiet_option"]

Render = Callable[[dict[str, Any]], str]


def quiet_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-q", "--quiet", is_flag=True,
                        help="Print nothing on stderr but errors: no progress, no summary.")(f)


def one_line(message: Any, source: str | None = None) -> str:
    """`SOURCE: MESSAGE` on one line, naming the source once even when the message already starts with it."""
    text = " ".join(str(message).split())
    if not source:
        return text
    for prefix in dict.fromkeys((source, Path(source).name)):
        if prefix and text.startswith(prefix + ": "):
            text = text[len(prefix) + 2:]
            break
    return f"{source}: {text}"


def default_render(record: dict[str, Any]) -> str:
    import json

    data = record.get("data")
    if data is not None:
        return json.dumps(strict_json({"data": data})["data"], ensure_ascii=False, indent=2, default=str)
    return str(record.get("text") or "")


class Output:
    """The output side of one task command; use as a context manager so `--out` is closed on any exit."""

    def __init__(self, *, as_json: bool = False, out: str | Path | None = None, quiet: bool = False,
                 progress: str = "auto", inputs: int = 1, headers: bool | None = None, strict: bool = False,
                 render: Render | None = None) -> None:
        self.as_json = as_json
        self.quiet = quiet or progress == "off"
        # One input into a pipe or a file: the caller wants the answer; progress and a job summary are noise.
        lone = inputs <= 1 and progress == "auto" and not _isatty(sys.stderr)
        self.progress = "off" if self.quiet or lone else progress
        self.show_summary = not (self.quiet or lone)
        self.headers = inputs > 1 if headers is None else headers
        self.strict = strict
        self.render = render or default_render
        self.writer = ResultWriter(out)
        self.failed = 0
        self.warned = 0

    @classmethod
    def from_kw(cls, kw: dict[str, Any], **options: Any) -> Output:
        """Takes --quiet and --progress out of a command's remaining options."""
        return cls(quiet=kw.pop("quiet", False), progress=kw.pop("progress", None) or "auto", **options)

    # -- records ------------------------------------------------------------------------------------

    def record(self, record: dict[str, Any], *, source: str | None = None, label: str | None = None,
               render: Render | None = None) -> dict[str, Any]:
        """Write one finished record, print it (JSON or text), and print its error once on stderr."""
        record = strict_json(record)
        self.writer.write(record)
        error = record.get("error")
        if error:
            self.failed += 1
            self.error(error, source if source is not None else record.get("source"))
        elif record.get("status") == "warnings" or ("status" not in record and record.get("warnings")):
            self.warned += 1
        if self.as_json:
            click.echo(dumps(record))
        elif not error:
            if self.headers and label:
                click.secho(f"== {label} ==", bold=True)
            click.echo((render or self.render)(record))
        return record

    def on_item(self, label: Callable[[Any, dict[str, Any]], str] | None = None) -> Callable[[Any, Any], None]:
        """The runner's `on_result`: each item's record (a failed item's made from its error) through `record`."""
        def show(item: Any, result: Any) -> None:
            record = dict(result.output or {})
            if not record:
                page = _page_of(item.part)
                record = {"source": item.source, **({"page": page} if page else {}), "status": "failed"}
            if result.error:
                record["error"] = result.error
                if "status" in record:
                    record["status"] = "failed"
            text = label(item, record) if label else f"{item.source}{' ' + item.part if item.part else ''}"
            self.record(record, source=item.source, label=text)
        return show

    # -- stderr -------------------------------------------------------------------------------------

    def error(self, message: Any, source: str | None = None) -> None:
        click.echo(f"oculo: error: {one_line(message, source)}", err=True)

    def note(self, text: str) -> None:
        """An informational line on stderr (what was written where): silenced by -q."""
        if not self.quiet:
            click.echo(f"oculo: {text}", err=True)

    def summary(self, text: str) -> None:
        """The closing line of a run: silenced by -q, --progress off, and for one input on a non-terminal."""
        if self.show_summary:
            click.echo(f"oculo: {text}", err=True)

    def job_summary(self, summary: Any, job_id: int) -> None:
        cached = f" ({summary.cached} from the store)" if summary.cached else ""
        self.summary(f"{summary.done} done{cached}, {summary.failed} failed in {summary.seconds:.1f} s; "
                     f"job {job_id} (oculo jobs show {job_id})")

    # -- the end ------------------------------------------------------------------------------------

    def finish(self, summary: Any = None, job_id: int | None = None, *, failed: int = 0) -> None:
        """Close --out, print the job summary, and exit 1 when anything failed (or warned, with --strict)."""
        self.close()
        if summary is not None and job_id is not None:
            self.job_summary(summary, job_id)
        bad = failed or self.failed or (summary.failed if summary is not None else 0)
        if bad or (self.strict and self.warned):
            raise SystemExit(1)

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> Output:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _page_of(part: str | None) -> int | None:
    if part and part.split()[-1].isdigit():
        return int(part.split()[-1])
    return None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
