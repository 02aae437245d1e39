"""`oculo jobs`: list, inspect and export the batch jobs kept in the job store."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from ..errors import InputError
from .common import OculoGroup

__all__ = ["jobs", "resume"]

_store_option = click.option(
    "--store", "store_path", type=click.Path(dir_okay=False, path_type=Path), default=None, envvar="OCULO_STORE",
    help="The job store (default: oculo's data folder, jobs.sqlite3). [env: OCULO_STORE]")


def _open(ctx: click.Context, store_path: Path | None, *, must_exist: bool = False) -> Any:
    from ..batch.store import Store, default_store_path

    path = store_path or (ctx.obj or {}).get("store_path") or default_store_path()
    if must_exist and not Path(path).exists():
        return None
    return Store(path)


def _job_or_fail(store: Any, job_id: int, path: Path | None) -> Any:
    job = store.job(job_id) if store is not None else None
    if job is None:
        where = f" in {store.path}" if store is not None else (f" in {path}" if path else "")
        raise InputError(f"no job {job_id}{where}; `oculo jobs` lists the jobs there")
    return job


@click.group(cls=OculoGroup, invoke_without_command=True)
@_store_option
@click.pass_context
def jobs(ctx: click.Context, store_path: Path | None) -> None:
    """List batch jobs (id, created, task, model, done/failed/pending/total)."""
    ctx.ensure_object(dict)
    if store_path is not None:
        ctx.obj["store_path"] = store_path
    if ctx.invoked_subcommand is not None:
        return
    store = _open(ctx, store_path, must_exist=True)
    rows = store.jobs() if store is not None else []
    if not rows:
        click.echo("no jobs yet")
        return
    click.echo(f"{'id':>5}  {'created':<25}  {'task':<10}  {'model':<28}  {'done':>6}  {'failed':>6}  "
               f"{'pending':>7}  {'total':>6}")
    for j in rows:
        click.echo(f"{j.id:>5}  {j.created:<25}  {j.task or '-':<10}  {j.model or '-':<28}  {j.done:>6}  "
                   f"{j.failed:>6}  {j.pending:>7}  {j.total:>6}")
    store.close()


@jobs.command("show")
@click.argument("job_id", type=int)
@_store_option
@click.pass_context
def show(ctx: click.Context, job_id: int, store_path: Path | None) -> None:
    """One job's summary and its failed items with their errors."""
    store = _open(ctx, store_path, must_exist=True)
    job = _job_or_fail(store, job_id, store_path)
    command = " ".join(job.command) if isinstance(job.command, list) else (job.command or "-")
    click.echo(f"job {job.id}  created {job.created}  status {job.status}")
    click.echo(f"command: {command}")
    click.echo(f"task: {job.task or '-'}  model: {job.model or '-'}  engine: {job.engine or '-'}")
    if job.options:
        click.echo(f"options: {json.dumps(job.options, ensure_ascii=False)}")
    click.echo(f"items: {job.total} total, {job.done} done, {job.failed} failed, {job.pending} pending")
    failed = store.items(job_id, "failed")
    if failed:
        click.echo("failed:")
        for it in failed:
            where = (it.source or it.key[:12]) + (f" [{it.part}]" if it.part else "")
            click.echo(f"  {where}: {it.error} (attempts: {it.attempts})")
    store.close()


@jobs.command("export")
@click.argument("job_id", type=int)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="FILE.jsonl, FILE.csv or FILE.parquet (CSV and Parquet: one column per output field).")
@click.option("--corrected", is_flag=True,
              help="Export the values as corrected in `oculo review`, with their re-verification and a review "
                   "column (corrected, checked, approved); the model's output stays in the store.")
@_store_option
@click.pass_context
def export(ctx: click.Context, job_id: int, out: Path, corrected: bool, store_path: Path | None) -> None:
    """Write a job's finished results again, from the store."""
    from ..sinks import ResultWriter

    if out.suffix.lower() not in (".jsonl", ".csv", ".parquet"):
        raise click.BadParameter("the file name must end in .jsonl, .csv or .parquet", param_hint="--out")
    writer = ResultWriter(out)  # before the store opens: a missing pyarrow is reported first
    store = _open(ctx, store_path, must_exist=True)
    _job_or_fail(store, job_id, store_path)
    rows = store.items(job_id, "done")
    if corrected:  # a person's review replaces the values; a failed document they corrected counts too
        from ..review import corrected_output

        reviews = store.reviews(job_id)
        rows = [r for r in store.items(job_id) if r.status == "done" or (r.key in reviews and r.output)]
        rows = [dataclasses.replace(r, output=corrected_output(r.output, reviews.get(r.key))) for r in rows]
    store.close()
    with writer:
        for it in rows:
            if out.suffix.lower() == ".jsonl":
                writer.write({"source": it.source, "part": it.part, "key": it.key, "output": it.output,
                              "stats": it.stats})
            else:
                output = it.output if isinstance(it.output, dict) else {"output": it.output}
                writer.write({"source": it.source, "part": it.part, "key": it.key, **output})
    click.echo(f"wrote {len(rows)} result(s) to {out}", err=True)


@click.command()
@click.argument("job_id", type=int)
@_store_option
@click.pass_context
def resume(ctx: click.Context, job_id: int, store_path: Path | None) -> None:
    """Continue job JOB_ID: run its command again, which skips every item already done."""
    store = _open(ctx, store_path, must_exist=True)
    try:
        job = _job_or_fail(store, job_id, store_path)
    finally:
        if store is not None:
            store.close()
    argv = list(job.command or [])[1:]
    if not argv:
        raise InputError(f"job {job_id} has no command recorded; run the original command again")
    if store_path and "--store" not in argv:
        argv += ["--store", str(store_path)]
    click.echo(f"oculo: resuming job {job_id}: oculo {' '.join(argv)}", err=True)
    from . import cli

    cli.main(args=argv, prog_name="oculo")
