"""`oculo serve`: an Ollama- and OpenAI-compatible HTTP server in front of any engine."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import click

from ..engines import open_engine
from ..errors import InputError
from .common import build_settings, engine_options


@click.command()
@engine_options
@click.option("--host", "bind", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback by default; 0.0.0.0 exposes the server to your network).")
@click.option("--port", type=click.IntRange(1, 65535), default=11434, show_default=True, help="Port to listen on.")
@click.option("--name", help="Model name clients use (default: the model's last path part).")
@click.option("--max-queue", type=click.IntRange(min=0), default=512, show_default=True,
              help="Requests allowed to wait; beyond it clients get 503 and retry.")
@click.option("--max-body-mb", type=click.IntRange(min=1), default=32, show_default=True,
              help="Largest request body; bigger ones get 413.")
@click.option("--max-images", type=click.IntRange(min=1), default=16, show_default=True,
              help="Most images in one request.")
@click.option("--max-output-tokens", type=click.IntRange(min=1), default=8192, show_default=True,
              help="Most tokens one request may ask to generate.")
@click.option("--max-prompt-chars", type=click.IntRange(min=1),
              help="Longest prompt text (default: from the model's context length).")
@click.option("--max-connections", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Open connections at once; beyond it new ones get 503.")
@click.option("--idle-timeout", type=click.FloatRange(min=1), default=5.0, show_default=True,
              help="Seconds an idle keep-alive connection stays open; also the limit for sending a body (x6).")
@click.option("--allow-host", multiple=True, metavar="NAME",
              help="Also answer requests whose Host header is NAME (repeatable); '*' turns the check off.")
@click.option("--allow-url-images", is_flag=True,
              help="Fetch http(s) image_url parts (public addresses only, never private or loopback ones).")
def serve(model: str | None, engine: str | None, system: str | None, bind: str, port: int, name: str | None,
          max_queue: int, max_body_mb: int, max_images: int, max_output_tokens: int, max_prompt_chars: int | None,
          max_connections: int, idle_timeout: float, allow_host: tuple[str, ...], allow_url_images: bool,
          **kw: Any) -> None:
    """Serve a model over Ollama's /api and OpenAI's /v1 routes.

    --max-tokens, --temperature, --seed, --stop and --system are the defaults for requests that do not set
    their own. With --api-key (or OCULO_API_KEY) every request must send `Authorization: Bearer KEY`.

    \b
    Example: oculo serve --engine transformers -m Qwen/Qwen2.5-VL-3B-Instruct --port 11500
    Then:    OLLAMA_HOST=127.0.0.1:11500 oculo ask "hi" img.png --engine ollama -m Qwen2.5-VL-3B-Instruct
    """
    try:
        from ..server import ServeConfig, run
    except ImportError as e:
        raise click.ClickException(
            f"the server needs {e.name}; install it with `pip install 'oculo[server]'`") from None
    server_key = kw.pop("api_key", None)
    settings, defaults = build_settings(kw)
    # On `serve`, --api-key guards this server; an upstream OpenAI-compatible server's key comes from its env var.
    settings = replace(settings, api_key=os.environ.get("OPENAI_API_KEY"))
    config = ServeConfig(
        defaults=replace(defaults, extra={}), system=system, max_body_bytes=max_body_mb * 1024 * 1024,
        max_images=max_images, max_output_tokens=max_output_tokens, max_prompt_chars=max_prompt_chars,
        body_timeout_s=idle_timeout * 6, api_key=server_key or None, bind=bind,
        allowed_hosts=tuple(h.lower() for h in allow_host), allow_url_images=allow_url_images,
    )
    if defaults.max_tokens is not None and defaults.max_tokens > max_output_tokens:
        raise click.BadParameter(f"is over --max-output-tokens ({max_output_tokens})", param_hint="--max-tokens")
    eng = open_engine(engine, model, settings)
    eng.warm()  # load now, so the first client does not wait for the model and errors show here
    try:
        run(eng, host=bind, port=port, served_name=name, max_queue=max_queue, config=config,
            max_connections=max_connections, idle_timeout_s=idle_timeout,
            on_ready=lambda line: click.echo(line, err=True))
    except InputError as e:
        raise click.ClickException(str(e)) from None


for _param in serve.params:  # the shared --api-key means "key for an upstream server"; here it guards this one
    if _param.name == "api_key":
        _param.envvar = "OCULO_API_KEY"
        _param.help = "Require this key from clients (Authorization: Bearer KEY; 401 otherwise). [env: OCULO_API_KEY]"
