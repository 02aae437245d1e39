"""`oculo pull`: fetch a catalog model (or any Ollama tag / Hugging Face repo) for the engine that will run it."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import OculoError


def _ollama_progress(tag: str, host: str | None) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn

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
        tasks: dict[str, TaskID] = {}

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


def _ollama_tag(name: str, spec: Any) -> str:
    """The tag to send to Ollama for NAME, or a one-line error saying which tag (or engine) to use instead."""
    from ..errors import ModelNotFound
    from ..models.catalog import ollama_tag_for

    if spec is None:
        if "/" in name and not name.lower().startswith(("library/", "registry.ollama.ai/")):
            raise OculoError(f"{name} is not in the catalog and looks like a Hugging Face repo: download it for the "
                             f"in-process engine with `oculo pull {name} --engine transformers` (or pass --engine "
                             "ollama if it is an Ollama namespace/model)")
        return name  # any other Ollama tag goes to Ollama as given
    tag, other = ollama_tag_for(spec)
    if tag:
        return tag
    instead = f"; the closest model that has one is {other.name}: `oculo pull {other.ollama}`" if other else ""
    raise ModelNotFound(f"{spec.name} has no Ollama build{instead}; or download it for the in-process engine with "
                        f"`oculo pull {spec.id} --engine transformers`")


@click.command()
@click.argument("name")
@click.option("--engine", type=click.Choice(["auto", "ollama", "transformers"]), default="auto", show_default=True,
              help="Where to pull: Ollama (auto), or the Hugging Face cache for the in-process engine "
              "(transformers).")
@click.option("--trust-remote-code", is_flag=True, help="With --engine transformers: download a model that ships "
              "its own code (MiniCPM-V, Moondream, InternVL), which runs only with this flag.")
@click.option("--ollama-host", envvar="OLLAMA_HOST", help="Ollama's address. [env: OLLAMA_HOST]")
def pull(name: str, engine: str, trust_remote_code: bool, ollama_host: str | None) -> None:
    """Download model NAME: an Ollama tag (`moondream`, `llava:13b`, `qwen2.5vl:7b`), a catalog id (see `oculo
    models`), or with --engine transformers a Hugging Face repo id."""
    from ..engines.pull import hf_pull
    from ..models.catalog import find

    if trust_remote_code and engine != "transformers":
        raise click.UsageError("--trust-remote-code is for the in-process engine; add --engine transformers")
    spec = find(name)
    if engine != "transformers":  # Ollama speaks tags; Hugging Face downloads are asked for by name only
        tag = _ollama_tag(name, spec)
        _ollama_progress(tag, ollama_host)
        click.echo(f"pulled {tag} into Ollama; try: oculo ask \"What is in this image?\" IMAGE -m {tag}")
        return
    repo = spec.hf if spec else name
    if not repo or "/" not in repo:
        raise OculoError(f"{name} is not a catalog id or a Hugging Face repo id (org/name); see `oculo models`")
    remote_code = spec is not None and spec.transformers == "remote-code"
    if remote_code and not trust_remote_code:
        assert spec is not None  # remote_code implies a catalog entry
        alt = f", or pull it into Ollama with `oculo pull {spec.ollama}`" if spec.ollama else ""
        raise OculoError(f"{spec.name} ships its own code, which the in-process engine runs only with "
                         f"--trust-remote-code: add it if you trust {repo}{alt}")
    path = hf_pull(repo)
    flag = " --trust-remote-code" if remote_code else ""
    click.echo(f"downloaded {repo} to {path}; try: oculo ask \"What is in this image?\" IMAGE "
               f"--engine transformers -m {repo}{flag}")
