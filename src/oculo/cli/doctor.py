"""`oculo doctor`."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--ollama-host", envvar="OLLAMA_HOST", help="Ollama's address. [env: OLLAMA_HOST]")
@click.option("--base-url", envvar="OPENAI_BASE_URL", help="An OpenAI-compatible server. [env: OPENAI_BASE_URL]")
def doctor(as_json: bool, ollama_host: str | None, base_url: str | None) -> None:
    """Can `oculo ask` run now, with which engine and model, and how fast; then the machine, every engine, OCR and
    video, each problem with its fix. Exits 1 when a problem is found, always when nothing can answer."""
    from ..doctor import diagnose

    report = diagnose(ollama_host=ollama_host, base_url=base_url)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        mark = {True: click.style("ok ", fg="green"), False: click.style("!! ", fg="red"), None: "   "}
        for c in report.checks:
            click.echo(f"{mark[c.ok]}{c.area:<13}{c.name:<18}{c.detail}")
            if c.fix:
                click.echo(f"{'':<34}{'fix' if c.ok is False else 'hint'}: {c.fix}")
        n = len(report.problems)
        ask = report.ask
        if ask is not None:
            click.echo(f"\noculo ask: {ask.detail}" + (f"\n  fix: {ask.fix}" if ask.ok is False and ask.fix else ""))
        click.echo(f"\n{n} problem(s) found" if n else "\nno problems found")
    if report.problems:
        raise SystemExit(1)
