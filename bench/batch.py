"""Batch throughput against `oculo serve` with the tiny model: items/s at concurrency 1, 2, 4, 8, and what the
runner itself costs per item (store, hashing, decoding, encoding) next to the engine's own time.

    python bench/batch.py [--n 48] [--max-tokens 16]

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from oculo.batch.jobs import JobSpec, run_image_job  # noqa: E402
from oculo.engines import Options, Request  # noqa: E402
from oculo.engines.ollama import OllamaEngine  # noqa: E402
from oculo.media.images import encode  # noqa: E402
from oculo.media.sources import expand  # noqa: E402
from oculo.testing import make_image, start_serve, tiny_model  # noqa: E402


def serve(model_dir: Path, dtype: str) -> tuple[subprocess.Popen, str]:
    """`oculo serve` on a free port; its address as an Ollama host (host:port)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    proc, base = start_serve(model_dir, "--dtype", dtype, env={**os.environ, "PYTHONPATH": src})
    return proc, base.removeprefix("http://")


def run(engine: OllamaEngine, sources: list, store: str, concurrency: int, max_tokens: int) -> tuple[float, float]:
    opts = Options(max_tokens=max_tokens, temperature=0)
    spec = JobSpec("bench", engine, {"prompt": "Describe."}, {"max_tokens": max_tokens}, store=store,
                   concurrency=concurrency, progress="off")
    engine_s = 0.0

    def keep(item, result) -> None:
        nonlocal engine_s
        engine_s += float((result.stats or {}).get("total_s") or 0.0)

    t0 = time.perf_counter()
    summary, _ = run_image_job(spec, sources, lambda p: Request.simple("Describe.", [p], options=opts), keep)
    wall = time.perf_counter() - t0
    assert summary.failed == 0, "items failed"
    return wall, engine_s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--dtype", default="auto", help="the server's --dtype: auto is int8 on a CPU, which answers "
                    "requests one at a time; float32 batches what arrives together")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="oculo-bench-batch-"))
    model = tiny_model("qwen2_vl", work / "tiny")
    for i in range(args.n):
        make_image(96 + (i % 5) * 8, 72, seed=i).save(work / f"img{i:04d}.png")
    sources = expand([str(work)])
    proc, host = serve(model, args.dtype)
    rows = {}
    try:
        for c in (1, 2, 4, 8):
            engine = OllamaEngine("tiny", host=host, parallel=c)
            wall, engine_s = run(engine, sources, str(work / f"store-{c}.sqlite3"), c, args.max_tokens)
            rows[c] = {"items_per_s": round(args.n / wall, 2), "parallelism": round(engine_s / wall, 2),
                       "engine_s_per_item": round(engine_s / args.n, 4)}
            print(f"concurrency {c}: {args.n / wall:6.2f} items/s, achieved parallelism {engine_s / wall:4.2f}")
        # Runner overhead: a fully cached rerun (read, hash, look up, record) plus decoding and encoding once.
        engine = OllamaEngine("tiny", host=host, parallel=1)
        cached_wall, _ = run(engine, sources, str(work / "store-1.sqlite3"), 1, args.max_tokens)
        t0 = time.perf_counter()
        from oculo.media.images import ImageLimits, load

        for s in sources:
            encode(load(s, ImageLimits()).image)
        prep = (time.perf_counter() - t0) / args.n
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    store_ms = cached_wall / args.n * 1000
    engine_ms = rows[1]["engine_s_per_item"] * 1000
    print(f"runner per item: store+hash {store_ms:.2f} ms, decode+encode {prep * 1000:.2f} ms; "
          f"engine {engine_ms:.1f} ms per item")
    best = max(rows, key=lambda c: rows[c]["items_per_s"])
    print(json.dumps({"bench": "batch", "n": args.n, "max_tokens": args.max_tokens, "dtype": args.dtype,
                      "by_concurrency": rows, "best_concurrency": best,
                      "speedup_best_vs_1": round(rows[best]["items_per_s"] / rows[1]["items_per_s"], 2),
                      "runner_store_ms_per_item": round(store_ms, 3), "runner_prep_ms_per_item": round(prep * 1000, 3),
                      "engine_ms_per_item": round(engine_ms, 2),
                      "overhead_share": round((store_ms + prep * 1000) / (engine_ms + store_ms + prep * 1000), 4)}))


if __name__ == "__main__":
    main()
