"""`oculo pull`: fetch a catalog model (or any Ollama tag / Hugging Face repo) for the engine that will run it."""

from __future__ import annotations

import sys

import click

from ..errors import OculoError


def _ollama_progress(tag: str, host: str | None) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from ..engines.pull import PullEvent, ollama_pull

    if not sys.stderr.isatty():  # logs get one line per status change, not a redrawn bar
        seen: set[str] = set()

        def log(e: PullEvent) -> None:
            key = e.status if not e.digest else f"{e.status} {e.digest[:19]}"
            if key not in seen:
                seen.add(key)
                click.echo(key, err=True)

        ollama_pull(tag, host=host, on_event=log)
        return

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  transient=False) as progress:
        tasks: dict[str, int] = {}

        def show(e: PullEvent) -> None:
            key = e.digest or e.status
            if key not in tasks:
                label = f"pulling {e.digest[7:19]}" if e.digest else e.status
                tasks[key] = progress.add_task(label, total=e.total or None)
            if e.total:
                progress.update(tasks[key], total=e.total, completed=e.completed or 0)
            elif not e.digest:
                progress.update(tasks[key], total=1, completed=1)

        ollama_pull(tag, host=host, on_event=show)


@click.command()
@click.argument("name")
@click.option("--engine", type=click.Choice(["auto", "ollama", "transformers"]), default="auto", show_default=True,
              help="Pull into Ollama, or into the Hugging Face cache for the in-process engine.")
@click.option("--ollama-host", envvar="OLLAMA_HOST", help="Ollama's address. [env: OLLAMA_HOST]")
def pull(name: str, engine: str, ollama_host: str | None) -> None:
    """Download model NAME: a catalog id (see `oculo models`), an Ollama tag, or a Hugging Face repo id."""
    from ..engines.ollama import ollama_reachable
    from ..engines.pull import hf_pull
    from ..models.catalog import find

    spec = find(name)
    if engine == "auto":
        wants_ollama = spec.ollama if spec else "/" not in name
        engine = "ollama" if wants_ollama and ollama_reachable(ollama_host) else "transformers"
    if engine == "ollama":
        tag = spec.ollama if spec else name
        if not tag:
            raise OculoError(f"{name} has no Ollama build; pull it for the in-process engine with "
                             f"`oculo pull {name} --engine transformers`")
        _ollama_progress(tag, ollama_host)
        click.echo(f"pulled {tag} into Ollama; try: oculo ask \"What is in this image?\" IMAGE -m {tag}")
        return
    repo = spec.hf if spec else name
    if not repo or "/" not in repo:
        raise OculoError(f"{name} is not a catalog id or a Hugging Face repo id (org/name); see `oculo models`")
    path = hf_pull(repo)
    flag = " --trust-remote-code" if spec is not None and spec.transformers == "remote-code" else ""
    click.echo(f"downloaded {repo} to {path}; try: oculo ask \"What is in this image?\" IMAGE "
               f"--engine transformers -m {repo}{flag}")
