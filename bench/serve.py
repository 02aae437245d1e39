"""Concurrent load against `oculo serve` with the tiny model: latency p50/p95, throughput, errors, the server's RSS
before and after, and how fast malformed requests and stream disconnects are dealt with under that load.

    python bench/serve.py [--n 120] [--concurrency 8] [--max-tokens 8]

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from oculo.testing import make_image, start_serve, tiny_model


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def serve(model_dir: Path, max_tokens: int) -> tuple[subprocess.Popen, str]:
    return start_serve(model_dir, "--name", "tiny", "--max-tokens", str(max_tokens),
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})


def png_b64(seed: int) -> str:
    buf = io.BytesIO()
    make_image(96, 64, seed=seed).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=120, help="requests in the load phase")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=8, help="the server's default (oculo serve --max-tokens)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        proc, base = serve(tiny_model("qwen2_vl", Path(tmp) / "tiny"), args.max_tokens)
        try:
            client = httpx.Client(base_url=base, timeout=120)
            images = [png_b64(i) for i in range(8)]
            client.post("/api/generate", json={"model": "tiny", "prompt": "warm up", "stream": False})
            rss_before = rss_mb(proc.pid)

            def one(i: int) -> tuple[float, int, int]:
                body = {"model": "tiny", "stream": False, "messages": [
                    {"role": "user", "content": f"describe {i}", "images": [images[i % len(images)]]}]}
                t0 = time.perf_counter()
                r = client.post("/api/chat", json=body)
                tokens = r.json().get("eval_count", 0) if r.status_code == 200 else 0
                return time.perf_counter() - t0, r.status_code, tokens

            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                results = list(pool.map(one, range(args.n)))
            wall = time.perf_counter() - t0
            latencies = sorted(r[0] for r in results)
            errors = sum(1 for r in results if r[1] != 200)
            over_cap = sum(1 for r in results if r[2] > args.max_tokens)

            # A megabyte prompt is refused before any compute.
            t1 = time.perf_counter()
            long = client.post("/api/generate", json={"model": "tiny", "prompt": "word " * 200_000, "stream": False})
            long_prompt_s = time.perf_counter() - t1

            # Stream disconnects: each generation stops and its slot comes back.
            t2 = time.perf_counter()
            for _ in range(10):
                with client.stream("POST", "/api/chat", json={"model": "tiny", "options": {"num_predict": 2000},
                                                              "messages": [{"role": "user", "content": "go"}]}) as r:
                    next(r.iter_lines())
            after = client.post("/api/generate", json={"model": "tiny", "prompt": "x", "stream": False})
            disconnects_s = time.perf_counter() - t2
            rss_after = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)

    figures = {
        "requests": args.n, "concurrency": args.concurrency, "errors": errors, "over_token_cap": over_cap,
        "wall_s": round(wall, 2), "req_per_s": round(args.n / wall, 2),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(latencies[max(0, int(len(latencies) * 0.95) - 1)] * 1000, 1),
        "rss_before_mb": round(rss_before, 1), "rss_after_mb": round(rss_after, 1),
        "long_prompt_status": long.status_code, "long_prompt_s": round(long_prompt_s, 3),
        "ten_disconnects_then_answer_s": round(disconnects_s, 2), "after_disconnects_status": after.status_code,
    }
    print(f"{args.n} requests at concurrency {args.concurrency}: p50 {figures['p50_ms']} ms, "
          f"p95 {figures['p95_ms']} ms, {figures['req_per_s']} req/s, {errors} errors; "
          f"RSS {figures['rss_before_mb']} -> {figures['rss_after_mb']} MB")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
