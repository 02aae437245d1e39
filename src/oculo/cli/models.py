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
    except Exception:  # no cache folder yet, or huggingface_hub missing: nothing is cached
        return set()


def _resolution(spec: Any) -> str:
    if spec.max_resolution:
        w, h = spec.max_resolution
        return f"{w}x{h}"
    return f"{spec.max_pixels / 1e6:.1f} MP" if spec.max_pixels else "?"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the catalog with local status as JSON.")
@click.option("--ollama-host", envvar="OLLAMA_HOST", help="Ollama's address. [env: OLLAMA_HOST]")
def models(as_json: bool, ollama_host: str | None) -> None:
    """The model catalog: size, memory, images, resolution, strengths, and what is here already."""
    from ..models.catalog import load_catalog
    from ..models.hardware import detect
    from ..models.recommend import need_gb

    machine = detect()
    tags = _ollama_tags(ollama_host)
    cached = _hf_cached()
    rows = []
    for spec in load_catalog():
        need = need_gb(spec)  # the same fit rule `oculo recommend` uses: Q4, 4k window, one image
        rows.append({
            **spec.model_dump(mode="json"),
            "memory_q4_estimate_gb": round(need, 1),
            "pulled_in_ollama": None if tags is None else bool(spec.ollama and spec.ollama in tags),
            "in_hf_cache": bool(spec.hf and spec.hf.lower() in cached),
            "fits_this_machine": need <= machine.usable_gb,
        })
    if as_json:
        click.echo(json.dumps({"machine": machine.to_dict(), "models": rows}, indent=2))
        return
    _table(rows, machine.usable_gb, tags is not None)


def _table(rows: list[dict[str, Any]], usable_gb: float, ollama_up: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..models.catalog import find

    t = Table(title=f"oculo models — {usable_gb:.1f} GB usable for models on this machine", show_lines=False)
    for col in ("id", "params", "Q4 GB", "images", "resolution", "strengths", "in-process", "ollama", "hf cache",
                "fits"):
        t.add_column(col, overflow="fold")
    for r in rows:
        spec = find(r["id"])
        in_process = {"native": "native", "remote-code": "remote code*", "unsupported": "no"}.get(
            r["transformers"], r["transformers"])
        t.add_row(r["id"], f"{r['params_b']:g}B", f"{r['mem_q4_gb']:g}", str(r["images_per_request"] or "many"),
                  _resolution(spec), ", ".join(r["strengths"]), in_process,
                  ("yes" if r["pulled_in_ollama"] else "no") if ollama_up else "-",
                  "yes" if r["in_hf_cache"] else "no", "yes" if r["fits_this_machine"] else "no")
    import sys

    console = Console(width=None if sys.stdout.isatty() else 160)  # pipes and logs get the whole table
    console.print(t)
    console.print("* remote code: runs in-process only with --trust-remote-code; by default use it through Ollama "
                  "(`oculo pull ID`).")


@click.command()
@click.option("--task", type=click.Choice(TASKS), default="general", show_default=True, help="What the model is for.")
@click.option("--vram", type=click.FloatRange(min=0, min_open=True), help="GB of GPU (or unified) memory to plan "
              "for; default: this machine's. [env: OCULO_VRAM_GB]")
@click.option("--json", "as_json", is_flag=True, help="Print id, reason and runner_up as JSON.")
def recommend(task: str, vram: float | None, as_json: bool) -> None:
    """Which model to run for TASK on this machine (or on --vram GB), and why."""
    from ..models.hardware import detect
    from ..models.recommend import recommend as pick

    machine = None
    if vram is None:
        machine = detect()
        vram = machine.usable_gb
    rec = pick(vram, task)
    out = {
        "id": rec.id, "reason": rec.reason, "runner_up": rec.runner_up, "runner_up_reason": rec.runner_up_reason,
        "alternatives": rec.alternatives, "task": task, "vram_gb": round(vram, 1),
        "ollama": rec.spec.ollama, "hf": rec.spec.hf, "memory_source": "--vram" if machine is None else "detected",
    }
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    where = f"{vram:.1f} GB ({'detected' if machine else 'given'})"
    click.echo(f"For {task} with {where}: {click.style(rec.id, bold=True)}")
    click.echo(f"  why: {rec.reason}")
    if rec.runner_up:
        click.echo(f"  runner-up: {rec.runner_up} — {rec.runner_up_reason}")
    if rec.alternatives:
        click.echo(f"  also: {', '.join(rec.alternatives)}")
    click.echo(f"  get it: oculo pull {rec.id}")
