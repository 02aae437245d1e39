"""Benchmark: the same CPU job on the local executor and on 1 and 2 local Ray workers, and the driver's cost per item.

    python bench/ray.py [--pages 12]

The job is `oculo ocr DIR --engine tesseract` over generated text pages, each run with a fresh job store, so
nothing is cached. items/s is the job's own figure (from `--progress json`), measured from the first submitted
page to the last stored one, so on Ray it includes the workers starting (importing oculo, opening tesseract).
The driver's overhead per item is a job whose work does nothing, run through Ray workers: the time per item
that shipping a batch to an actor, getting its result back and writing it to the store costs, next to the
same no-op job on local threads. The local Ray cluster runs on loopback with 2 CPUs. The last line is one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# This file is named ray.py: its own folder must not shadow the ray package.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

try:
    import oculo  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import ray
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

from oculo.batch.ray_executor import RayExecutor
from oculo.batch.runner import Item, Result, run_items
from oculo.batch.store import Store
from oculo.cli import cli


def pages(folder: Path, n: int) -> Path:
    folder.mkdir()
    font = ImageFont.load_default(size=26)
    for i in range(n):
        img = Image.new("RGB", (1000, 700), "white")
        draw = ImageDraw.Draw(img)
        for line in range(10):
            draw.text((40, 40 + 62 * line), f"Line {line} of page {i}: the quick brown fox owes {i * 13 + line} euros",
                      fill="black", font=font)
        img.save(folder / f"page{i:02d}.png")
    return folder


def ocr_job(folder: Path, store: Path, extra: list[str]) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["ocr", str(folder), "--engine", "tesseract", "--store", str(store),
                                      "--progress", "json", *extra])
    if result.exit_code != 0:
        raise SystemExit(f"ocr {extra} failed: {result.output}")
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    final = next(e for e in events if e.get("event") == "finished")
    workers = next((e["workers"] for e in events if e.get("event") == "workers"), None)
    return {"items": final["done"], "seconds": final["seconds"], "items_per_s": final["items_per_s"],
            **({"workers": workers} if workers else {})}


def noop(payloads: list[Any]) -> list[Result]:
    return [Result({"n": p}) for p in payloads]


def overhead(tmp: Path, n: int, on_ray: bool) -> float:
    """Seconds per item of a job whose work does nothing: what the runner and executor cost by themselves."""
    items = [Item(f"k{on_ray}{i}", f"s{i}", None, i) for i in range(n)]
    with Store(tmp / f"noop-{on_ray}.db") as store:
        job = store.create_job(f"noop-{on_ray}")
        if on_ray:
            with RayExecutor(noop, None, workers=2) as pool:
                run_items(items[:4], noop, store=store, job_id=job, concurrency=2, submit=pool.submit)  # warm up
                t0 = time.perf_counter()
                run_items(items[4:], noop, store=store, job_id=job, concurrency=2, submit=pool.submit)
        else:
            t0 = time.perf_counter()
            run_items(items[4:], noop, store=store, job_id=job, concurrency=2)
        return (time.perf_counter() - t0) / (n - 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=12)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        folder = pages(tmp / "pages", args.pages)
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
        start_s = time.perf_counter() - t0
        try:
            local = ocr_job(folder, tmp / "local.db", ["--concurrency", "2"])
            print(f"local executor, 2 threads: {local['items_per_s']} items/s", file=sys.stderr)
            runs = {}
            for workers in (1, 2):
                runs[workers] = ocr_job(folder, tmp / f"ray{workers}.db",
                                        ["--executor", "ray", "--concurrency", str(workers)])
                print(f"ray, {workers} worker(s): {runs[workers]['items_per_s']} items/s", file=sys.stderr)
            ray_s, local_s = overhead(tmp, 204, True), overhead(tmp, 204, False)
        finally:
            ray.shutdown()
    one, two = runs[1]["items_per_s"], runs[2]["items_per_s"]
    print(json.dumps({
        "bench": "ray", "job": f"tesseract ocr of {args.pages} generated pages", "cluster_start_s": round(start_s, 1),
        "local_2_threads_items_per_s": local["items_per_s"],
        "ray_1_worker_items_per_s": one, "ray_2_workers_items_per_s": two,
        "speedup_2_over_1": round(two / one, 2) if one and two else None,
        "driver_overhead_ms_per_item_ray": round(ray_s * 1000, 2),
        "driver_overhead_ms_per_item_local_threads": round(local_s * 1000, 2),
        "workers": runs[2].get("workers"),
    }))


if __name__ == "__main__":
    main()
