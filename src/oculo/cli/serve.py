"""`oculo serve`: an Ollama- and OpenAI-compatible HTTP server in front of any engine."""

from __future__ import annotations

from typing import Any

import click

from ..engines import open_engine
from .common import build_settings, engine_options


@click.command()
@engine_options
@click.option("--host", "bind", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=11434, show_default=True, help="Port to listen on.")
@click.option("--name", help="Model name clients use (default: the model's last path part).")
@click.option("--max-queue", type=click.IntRange(min=0), default=512, show_default=True,
              help="Requests allowed to wait; beyond it clients get 503 and retry.")
def serve(model: str | None, engine: str | None, system: str | None, bind: str, port: int, name: str | None,
          max_queue: int, **kw: Any) -> None:
    """Serve a model over Ollama's /api and OpenAI's /v1 routes.

    \b
    Example: oculo serve --engine transformers -m Qwen/Qwen2.5-VL-3B-Instruct --port 11500
    Then:    OLLAMA_HOST=127.0.0.1:11500 oculo ask "hi" img.png --engine ollama -m Qwen2.5-VL-3B-Instruct
    """
    try:
        from ..server import run
    except ImportError as e:
        raise click.ClickException(f"the server needs {e.name}; install it with `pip install 'oculo[server]'`") from None
    settings, _ = build_settings(kw)
    eng = open_engine(engine, model, settings)
    eng.capabilities()  # load now, so the first client does not wait for the model and errors show here
    run(eng, host=bind, port=port, served_name=name, max_queue=max_queue)
