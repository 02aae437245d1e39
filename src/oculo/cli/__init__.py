"""The `oculo` command: thin wrappers that parse, call the library, and render."""

from __future__ import annotations

import click

from .common import OculoGroup


@click.group(cls=OculoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, envvar="OCULO_DEBUG", help="Show tracebacks for errors.")
@click.version_option(package_name="oculo", prog_name="oculo")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Run local vision-language models on private images."""
    ctx.obj = {"debug": debug}


def _register() -> None:
    from .alt_text import alt_text
    from .ask import ask, describe
    from .doctor import doctor
    from .documents import eval_, extract, ocr, verify
    from .jobs import jobs, resume
    from .media import chart, compare, prompts, screenshot
    from .models import models, recommend
    from .pull import pull
    from .review import review
    from .serve import serve
    from .video import video

    for command in (ask, describe, alt_text, ocr, extract, verify, eval_, screenshot, chart, compare, video, serve,
                    models, recommend, pull, doctor, jobs, resume, prompts, review):
        cli.add_command(command)


_register()


def main() -> None:
    cli.main(prog_name="oculo")


__all__ = ["cli", "main"]
