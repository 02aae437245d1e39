"""`oculo models` and `oculo recommend`: the catalog, what this machine holds, and what to run."""

from __future__ import annotations

import json
from typing import Any

import click

TASKS = ("general", "ocr", "documents", "ui", "charts", "multilingual", "video")


def _ollama_tags(host: str | None) -> set[str] | None:
    import httpx

    from ..engines.ollama import ollama_host

    try:
        models = httpx.get(ollama_host(host) + "/api/tags", timeout=1.5, trust_env=False).json().get("models") or []
    except (httpx.HTTPError, ValueError):
        return None  # no Ollama: the column says "-" rather than "no"
    names = {m.get("name") or m.get("model") for m in models}
    return names | {n.removesuffix(":latest") for n in names if n}


def _hf_cached() -> set[str]:
    try:
        from huggingface_hub import scan_cache_dir

        return {r.repo_id.lower() for r in scan_cache_dir().repos if r.repo_type == "model"}
    except Exception:  # noqa: BLE001 - no cache folder yet, or huggingface_hub missing: nothing is cached
        return set()


def _resolution(spec: Any) -> str:
    if spec.max_resolution:
        w, h = spec.max_resolution
        return f"{w}x{h}"
    return f"{spec.max_pixels / 1e6:.1f} MP" if spec.max_pixels else "?"


def _images(spec: Any) -> str:
    """Images per request; "1/many" where Ollama's build takes fewer than the model in-process."""
    ollama = spec.limits_for("ollama").images_per_request
    local = spec.limits_for("transformers").images_per_request
    if ollama == local:
        return str(local or "many")
    return f"{ollama or 'many'}/{local or 'many'}"


def _here(row: dict[str, Any], ollama_up: bool) -> str:
    places = [p for p, yes in (("ollama", row["pulled_in_ollama"]), ("hf", row["in_hf_cache"])) if yes]
    if places:
        return "both" if len(places) == 2 else places[0]
    return "-" if not ollama_up and not row["in_hf_cache"] else "no"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the whole catalog with local status as JSON.")
@click.option("--wide", is_flag=True, help="Every column: resolution, strengths, in-process support, Hugging Face "
              "repo, per-engine image limits.")
@click.option("--ollama-host", envvar="OLLAMA_HOST", help="Ollama's address. [env: OLLAMA_HOST]")
def models(as_json: bool, wide: bool, ollama_host: str | None) -> None:
    """The model catalog, what is here already, and what fits this machine (narrow, like `ollama list`)."""
    from ..models.catalog import load_catalog
    from ..models.hardware import detect
    from ..models.recommend import need_gb

    if as_json and wide:
        raise click.UsageError("--json already holds every column; give --json or --wide, not both")
    machine = detect()
    tags = _ollama_tags(ollama_host)
    cached = _hf_cached()
    rows = []
    for spec in load_catalog():
        need = need_gb(spec)  # the one memory figure; `oculo recommend` checks fit with the same number
        rows.append({
            **spec.model_dump(mode="json"),
            "memory_gb": need,
            "images_ollama": spec.limits_for("ollama").images_per_request,
            "images_in_process": spec.limits_for("transformers").images_per_request,
            "pulled_in_ollama": None if tags is None else bool(spec.ollama and spec.ollama in tags),
            "in_hf_cache": bool(spec.hf and spec.hf.lower() in cached),
            "fits_this_machine": need <= machine.usable_gb,
        })
    if as_json:
        click.echo(json.dumps({"machine": machine.to_dict(), "models": rows}, indent=2))
    elif wide:
        _table(rows, machine.usable_gb, tags is not None)
    else:
        _narrow(rows, machine, tags is not None)


def _narrow(rows: list[dict[str, Any]], machine: Any, ollama_up: bool) -> None:
    """Fixed columns that fit 80 characters, like `ollama list`; --wide and --json hold the rest."""
    from ..models.catalog import find

    where = "no GPU, system RAM" if machine.accelerator == "cpu" and not machine.memory_overridden else "GPU memory"
    click.echo(f"{machine.usable_gb:.1f} GB usable for models ({where}); MEMORY is at Q4 with a 4k window")
    fmt = "{:<20}  {:>6}  {:>6}  {:>6}  {:<19}  {:<6}  {:<4}"
    click.echo(fmt.format("ID", "PARAMS", "MEMORY", "IMAGES", "OLLAMA TAG", "HERE", "FITS").rstrip())
    for r in rows:
        spec = find(r["id"])
        tag = r["ollama"] or "-"
        click.echo(fmt.format(r["id"], f"{r['params_b']:.1f}B", f"{r['memory_gb']:g} GB", _images(spec), tag,
                              _here(r, ollama_up), "yes" if r["fits_this_machine"] else "no").rstrip())
    click.echo("IMAGES a/b: a through Ollama, b in-process (see --wide). Get one: oculo pull ID")


def _table(rows: list[dict[str, Any]], usable_gb: float, ollama_up: bool) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    from ..models.catalog import find

    t = Table(title=f"oculo models — {usable_gb:.1f} GB usable for models on this machine", show_lines=False)
    for col in ("id", "params", "memory GB (Q4)", "images ollama/in-process", "resolution", "strengths",
                "in-process", "ollama tag", "hf repo", "ollama", "hf cache", "fits"):
        t.add_column(col, overflow="fold")
    for r in rows:
        spec = find(r["id"])
        assert spec is not None  # the rows come from the catalog
        in_process = {"native": "native", "remote-code": "remote code*", "unsupported": "no"}.get(
            r["transformers"], r["transformers"])
        images = _images(spec) + ("†" if spec.images_why else "")
        tag = r["ollama"] or "none"
        if not r["ollama"] and r["ollama_instead"]:
            instead = find(r["ollama_instead"])
            assert instead is not None  # ollama_instead names a catalog entry
            tag = f"none (try {instead.ollama})"
        t.add_row(r["id"], f"{r['params_b']:g}B", f"{r['memory_gb']:g}", images, _resolution(spec),
                  ", ".join(r["strengths"]), in_process, tag, r["hf"] or "-",
                  ("yes" if r["pulled_in_ollama"] else "no") if ollama_up else "-",
                  "yes" if r["in_hf_cache"] else "no", "yes" if r["fits_this_machine"] else "no")
    console = Console(width=None if sys.stdout.isatty() else 250)  # pipes and logs get the whole table
    console.print(t)
    for r in rows:
        if r["images_why"]:
            console.print(f"† {r['id']}: {r['images_why']}")
    console.print("* remote code: runs in-process only with --trust-remote-code; by default use it through Ollama "
                  "(`oculo pull ID`).")


@click.command()
@click.option("--task", type=click.Choice(TASKS), default="general", show_default=True, help="What the model is for.")
@click.option("--vram", type=click.FloatRange(min=0, min_open=True), help="GB of GPU (or unified) memory to plan "
              "for; default: this machine's. [env: OCULO_VRAM_GB]")
@click.option("--prefer", type=click.Choice(["quality", "speed"]), help="For --task video: the most accurate "
              "model (quality, the default) or the quickest per frame (speed).")
@click.option("--json", "as_json", is_flag=True, help="Print the pick, whether it fits, and the reasons as JSON.")
def recommend(task: str, vram: float | None, prefer: str | None, as_json: bool) -> None:
    """Which model to run for TASK on this machine (or on --vram GB), and why."""
    from ..models.hardware import detect
    from ..models.recommend import recommend as pick

    if prefer is not None and task != "video":
        raise click.UsageError("--prefer chooses between the video picks; use it with --task video")
    machine = None
    cpu = False
    if vram is None:
        machine = detect()
        vram = machine.usable_gb
        cpu = machine.accelerator == "cpu" and not machine.memory_overridden
    rec = pick(vram, task, prefer=prefer or "quality", cpu=cpu, cores=machine.cores if machine else None)
    out = {
        "id": rec.id, "fits": rec.fits, "memory_gb": rec.memory_gb, "reason": rec.reason,
        "runner_up": rec.runner_up, "runner_up_reason": rec.runner_up_reason, "alternatives": rec.alternatives,
        "task": task, "prefer": rec.prefer, "device": rec.device, "vram_gb": round(vram, 1),
        "ollama": rec.spec.ollama, "hf": rec.spec.hf, "memory_source": "--vram" if machine is None else "detected",
    }
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    kind = "RAM, no GPU" if cpu else "detected" if machine else "given"
    fit = "fits" if rec.fits else "does not fit in full"
    click.echo(f"For {task} with {vram:.1f} GB ({kind}): {click.style(rec.id, bold=True)} "
               f"({rec.memory_gb:g} GB, {fit})")
    click.echo(f"  why: {rec.reason}")
    if rec.runner_up:
        click.echo(f"  runner-up: {rec.runner_up} — {rec.runner_up_reason}")
    if rec.alternatives:
        click.echo(f"  also: {', '.join(rec.alternatives)}")
    flag = " --trust-remote-code" if rec.spec.transformers == "remote-code" else ""
    get = rec.spec.ollama or f"{rec.id} --engine transformers{flag}"
    click.echo(f"  get it: oculo pull {get}")
