"""`oculo review [JOB]`: a local page to check an extraction job's documents and correct what was flagged."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError
from .jobs import _open, _store_option

__all__ = ["review"]


@click.command()
@click.argument("job_id", type=int, required=False)
@click.option("--no-browser", is_flag=True, help="Print the page's address; do not open a browser.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="The loopback port (0: a free one).")
@_store_option
@click.pass_context
def review(ctx: click.Context, job_id: int | None, no_browser: bool, port: int, store_path: Path | None) -> None:
    """Open a local page over extraction job JOB (default: the newest): each page beside its fields, every
    warning on its field; correct values, mark fields checked, approve documents.

    \b
    Corrections are kept beside the model's output; export them with: oculo jobs export JOB --corrected --out F
    The page listens on 127.0.0.1 only. Keys: j / k flagged fields, n / p documents.
    """
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise InputError("oculo review needs the server extra; install it with: pip install 'oculo[server]'") \
            from None
    from ..review import ReviewJob, newest_extract_job
    from ..review.server import serve

    store = _open(ctx, store_path, must_exist=True)
    if store is None:
        raise InputError(f"no job store at {store_path or 'the default place'}; run oculo extract first, "
                         "or pass --store PATH")
    if job_id is None:
        job_id = newest_extract_job(store)
        if job_id is None:
            raise InputError(f"no extraction job in {store.path}; run oculo extract first, or pass --store PATH")
    job = ReviewJob(store, job_id)

    def ready(url: str) -> None:
        click.echo(f"oculo review: job {job_id} at {url}  (Ctrl-C to stop)", err=True)
        click.echo(url)
        if not no_browser:
            import webbrowser

            webbrowser.open(url)

    try:
        serve(job, port=port, on_ready=ready)
    finally:
        store.close()
