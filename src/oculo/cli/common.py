"""Options shared by the task commands, and the one place that turns errors into one-line messages."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypedDict

import click

from ..engines import ENGINES, EngineSettings, Options
from ..errors import OculoError


class OculoGroup(click.Group):
    """Prints OculoError as one line and exits 1; a traceback only with --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OculoError as e:
            if (ctx.obj or {}).get("debug") or "--debug" in sys.argv:
                raise
            click.echo(f"oculo: error: {e}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("oculo: interrupted", err=True)
            ctx.exit(130)


def parse_value(text: str) -> Any:
    """`-o num_ctx 8192` should send a number, `-o keep_alive 5m` a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def engine_options_with(engines: tuple[str, ...], engine_help: str) -> Callable[[Callable[..., Any]], Any]:
    """-m/--engine/-o and the generation settings every task command takes; `engines` are the choices."""
    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        return _engine_options(f, engines, engine_help)
    return decorate


def _engine_options(f: Callable[..., Any], engines: tuple[str, ...], engine_help: str) -> Callable[..., Any]:
    decorators = [
        click.option("-m", "--model", envvar="OCULO_MODEL", help="Model: an Ollama tag, a served model name, "
                      "a Hugging Face repo id or a local model folder. [env: OCULO_MODEL]"),
        click.option("--engine", type=click.Choice(engines), envvar="OCULO_ENGINE", default=None, help=engine_help),
        click.option("--system", help="A system prompt."),
        click.option("-o", "--option", "extra", type=(str, str), multiple=True, metavar="KEY VALUE",
                     help="An engine option, repeatable (e.g. -o num_ctx 8192 -o keep_alive 5m); "
                      "-o max_pixels N sets the image budget."),
        click.option("--max-tokens", type=click.IntRange(min=1), help="Most tokens to generate."),
        click.option("--temperature", type=click.FloatRange(min=0), help="0 = greedy (deterministic)."),
        click.option("--seed", type=int, help="Sampling seed."),
        click.option("--stop", multiple=True, help="Stop at this text (repeatable)."),
        click.option("--ollama-host", envvar="OLLAMA_HOST", help="Ollama's address. [env: OLLAMA_HOST]"),
        click.option("--base-url", envvar="OPENAI_BASE_URL",
                     help="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1. [env: OPENAI_BASE_URL]"),
        click.option("--api-key", envvar="OPENAI_API_KEY", help="Key for that server. [env: OPENAI_API_KEY]"),
        click.option("--device", help="In-process engine: cuda, mps or cpu (default: the best present)."),
        click.option("--dtype", type=click.Choice(("auto", "float32", "bfloat16", "float16", "int8")),
                     help="In-process engine: weights' precision (default auto: int8 on CPU, bfloat16/float16 on "
                          "a GPU); float32 is exact fp32, int8 is CPU only."),
        click.option("--no-download", "no_download", is_flag=True,
                     help="In-process engine: fail instead of downloading a model missing from the cache "
                          "(as do OCULO_NO_DOWNLOAD=1 and HF_HUB_OFFLINE=1)."),
        click.option("--trust-remote-code", is_flag=True,
                     help="In-process engine: allow models that ship their own Python code."),
        click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
                     help="In-process engine: requests generated together."),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


engine_options = engine_options_with(
    ENGINES, "Where the model runs; auto = Ollama when reachable, else in-process. [env: OCULO_ENGINE]")


# `-o` keys that name a field oculo sets itself: the flag that sets it, so a request's own fields always win.
RESERVED_OPTIONS = {
    "model": "-m/--model", "messages": "the prompt and images", "stream": "--stream", "stream_options": "--stream",
    "format": "--schema", "response_format": "--schema", "options": "separate -o KEY VALUE pairs",
    "max_tokens": "--max-tokens", "num_predict": "--max-tokens", "max_completion_tokens": "--max-tokens",
    "temperature": "--temperature", "seed": "--seed", "stop": "--stop", "system": "--system",
    "images": "the image arguments",
}


def build_settings(kw: dict[str, Any]) -> tuple[EngineSettings, Options]:
    extra = {k: parse_value(v) for k, v in kw.pop("extra", ())}
    for key in extra:
        if key in RESERVED_OPTIONS:
            raise click.UsageError(f"-o {key} would override a field oculo sets itself; use "
                                   f"{RESERVED_OPTIONS[key]} instead")
    max_pixels = extra.pop("max_pixels", None)  # oculo's own setting, not the engine's: never sent on
    if max_pixels is not None and (not isinstance(max_pixels, int) or max_pixels < 28 * 28):
        raise click.BadParameter("max_pixels must be a whole number of at least 784", param_hint="-o max_pixels")
    settings = EngineSettings(
        host=kw.pop("ollama_host", None), base_url=kw.pop("base_url", None), api_key=kw.pop("api_key", None),
        device=kw.pop("device", None), dtype=kw.pop("dtype", None),
        trust_remote_code=kw.pop("trust_remote_code", False), batch_size=kw.pop("batch_size", 8),
        max_pixels=max_pixels, no_download=kw.pop("no_download", False), extra=extra,
    )
    options = Options(max_tokens=kw.pop("max_tokens", None), temperature=kw.pop("temperature", None),
                      seed=kw.pop("seed", None), stop=list(kw.pop("stop", ()) or ()), extra=extra)
    return settings, options


def given(name: str) -> bool:
    """Whether the user typed this option on the command line (not a default, not the environment)."""
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE


def refuse(*names: str, why: str) -> None:
    """A usage error (exit 2) for the first of these options that was given: accepted-and-ignored is a lie."""
    for name in names:
        if given(name):
            raise click.UsageError(f"--{name.replace('_', '-')} {why}")


# Options that only one kind of engine reads; given to another, they would be dropped without a word.
_IN_PROCESS = ("device", "dtype", "trust_remote_code", "batch_size")
_GENERATION = ("system", "max_tokens", "temperature", "seed", "stop")


def check_engine_flags(engine_name: str) -> None:
    """Refuse the engine options the chosen engine would ignore; call once the engine is known."""
    from ..tasks.ocr import CLASSIC

    if engine_name in CLASSIC:
        if given("extra"):
            raise click.UsageError(f"-o is for vision-model engines; {engine_name} takes no options")
        refuse("model", *_GENERATION, *_IN_PROCESS, "ollama_host", "base_url", "api_key",
               why=f"is for vision models; {engine_name} reads text without one (pass -m MODEL or "
                   "--engine ollama|openai|transformers to read with a vision model)")
        return
    if engine_name != "transformers":
        refuse(*_IN_PROCESS, why=f"is for the in-process engine (--engine transformers); "
                                 f"the {engine_name} engine does not read it")
    if engine_name != "ollama":
        refuse("ollama_host", why=f"is for --engine ollama; the {engine_name} engine does not read it")
    if engine_name != "openai":
        refuse("base_url", "api_key", why=f"is for --engine openai; the {engine_name} engine does not read it")


def open_checked_engine(engine: str | None, model: str | None, settings: EngineSettings) -> Any:
    """The engine for this command, with the flags it would ignore refused: before opening it when it was named
    (so a usage error never waits on a server), and once `auto` has chosen one."""
    from ..engines import open_engine

    if engine not in (None, "auto"):
        check_engine_flags(engine)
    eng = open_engine(engine, model, settings)
    check_engine_flags(eng.name)
    return eng


def input_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--include/--exclude for folders and globs, and --from-list for inputs kept in a file."""
    f = click.option("--from-list", "from_list", type=click.Path(dir_okay=False),
                     help="Also read inputs from FILE, one path or URL a line.")(f)
    f = click.option("--exclude", multiple=True, metavar="PATTERN",
                     help="Skip files in folders/globs matching this pattern, e.g. '*_thumb.*' (repeatable).")(f)
    f = click.option("--include", multiple=True, metavar="PATTERN",
                     help="Only files in folders/globs matching this pattern, e.g. 'scans/*.png' (repeatable).")(f)
    return f


class Filters(TypedDict):
    """--include / --exclude, as keyword arguments for media.expand and api.load_images."""

    include: tuple[str, ...]
    exclude: tuple[str, ...]


def gather_inputs(items: tuple[str, ...], kw: dict[str, Any], *,
                  required: bool = True) -> tuple[list[str], Filters]:
    """The inputs from arguments and --from-list, and the include/exclude filters, taken out of `kw`."""
    from ..media.sources import read_list

    inputs = list(items)
    from_list = kw.pop("from_list", None)
    if from_list:
        inputs += read_list(from_list)
    if required and not inputs:
        raise click.UsageError("give at least one input (a file, folder, glob or URL) or --from-list FILE")
    return inputs, {"include": tuple(kw.pop("include", ()) or ()), "exclude": tuple(kw.pop("exclude", ()) or ())}


def companion_engine(engine: str | None, model: str, settings: EngineSettings) -> Any:
    """A second model beside the main one (a text-only summarizer): on the same server when one was chosen,
    else found as `auto` finds it, since the in-process engine loads vision models only."""
    from ..engines import open_engine

    return open_engine(engine if engine in ("ollama", "openai") else None, model, settings)


def prompt_file_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--prompt-file", "prompt_file", type=click.Path(dir_okay=False),
                        help="Use the prompt in FILE instead of the built-in one "
                             "(`oculo prompts TASK` prints it, to start from).")(f)


def task_prompt(kw: dict[str, Any], task: str, part: str = "prompt") -> str:
    """The --prompt-file's text when given (taken out of `kw`), else the task's built-in prompt."""
    from ..tasks.prompts import prompt, read_prompt_file

    path = kw.pop("prompt_file", None)
    return read_prompt_file(path) if path else prompt(task, part)


def batch_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The job store and the runner's settings, for commands that work through many inputs."""
    from .output import quiet_option

    f = quiet_option(f)
    f = click.option("--progress", "progress", type=click.Choice(("auto", "bar", "plain", "json", "off")),
                     default="auto", show_default=True,
                     help="Progress on stderr: a bar on a terminal, periodic lines otherwise (none for one input "
                          "into a pipe), or JSON; off = as -q.")(f)
    f = click.option("--concurrency", type=click.IntRange(min=1),
                     help="Requests in flight (default: the engine's parallel slots; 1 in-process); "
                          "with --executor ray, the number of Ray workers.")(f)
    f = click.option("--ray-address", "ray_address", envvar="RAY_ADDRESS", metavar="ADDRESS",
                     help="The Ray cluster for --executor ray, e.g. 10.0.0.5:6379 (default: start one on this "
                          "machine). [env: RAY_ADDRESS]")(f)
    f = click.option("--executor", type=click.Choice(("local", "ray")), default="local", show_default=True,
                     help="Where the work runs: threads here, or Ray actors (one engine each) on a cluster; "
                          "the job store stays here either way. Ray: pip install 'oculo[ray]'.")(f)
    f = click.option("--force", is_flag=True, help="Redo items that are already done in the job store.")(f)
    f = click.option("--store", "store", envvar="OCULO_STORE", type=click.Path(dir_okay=False),
                     help="Job store (SQLite) that makes reruns resume and skip finished items. [env: OCULO_STORE]")(f)
    return f


def drop_job_options(kw: dict[str, Any], why: str) -> None:
    """For a run that is not a job (one streamed answer): the job options go, and --executor ray is refused."""
    if kw.get("executor") == "ray":
        raise click.UsageError(f"--executor ray {why}")
    if given("ray_address"):
        raise click.UsageError(f"--ray-address {why}")
    for key in ("store", "force", "concurrency", "executor", "ray_address"):
        kw.pop(key, None)


def job_spec(task: str, engine: Any, prompt_or_schema: Any, options: Options, settings: EngineSettings,
             kw: dict[str, Any], progress: str) -> Any:
    """The job for this run; `progress` is the mode the command's `Output` chose."""
    from ..batch.jobs import JobSpec, options_key

    executor, ray_address = kw.pop("executor", "local") or "local", kw.pop("ray_address", None)
    if executor == "ray":
        from ..batch.ray_executor import require_ray

        require_ray()
    elif given("ray_address"):
        raise click.UsageError("--ray-address is for --executor ray; add --executor ray or drop it")
    return JobSpec(task, engine, prompt_or_schema, options_key(options), store=kw.pop("store", None),
                   force=kw.pop("force", False), concurrency=kw.pop("concurrency", None),
                   progress=progress, command=list(sys.argv), executor=executor, ray_address=ray_address,
                   engine_settings=settings)
