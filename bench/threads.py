"""Benchmark: CPU decoding with OpenMP's idle threads spinning (torch's default) or sleeping (oculo's default), on an
idle machine and beside one busy process.

    python bench/threads.py [--model HuggingFaceTB/SmolVLM-500M-Instruct] [--tokens 24] [--rounds 2]

On a machine with as many torch threads as cores, any other busy process (a second oculo, an OCR engine, a browser)
takes a core from one of torch's threads. With the default policy, the thread that still runs spins at every
parallel region waiting for the one that was descheduled, and decoding collapses; with OMP_WAIT_POLICY=PASSIVE it
sleeps instead. Each cell runs in a fresh process (OpenMP reads the policy once, when torch loads) on the same
saved random-weight model (bench/cpu.py's shapes); the busy neighbour is a plain Python loop, one per --busy.
Cells alternate over --rounds and the best of each is kept. The last line printed is one JSON object.
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

HERE = Path(__file__).resolve().parent
POLICIES = {"spin (torch default)": "", "passive (oculo default)": "PASSIVE"}

WORKER = r"""
import json, sys
sys.path[:0] = [sys.argv[3], sys.argv[4]]
from cpu import run_oculo
from oculo import Options, Request
from oculo.engines import ImagePart
from oculo.engines.local import TransformersEngine
from oculo.testing import make_image

engine = TransformersEngine(sys.argv[1], device="cpu", batch_size=1)
request = Request.simple("Describe this image.", [ImagePart(make_image(512, 512, seed=1), "512.png")],
                         options=Options(max_tokens=int(sys.argv[2])))
run_oculo(engine, request)  # warm-up
print(json.dumps(run_oculo(engine, request)))
"""


def cell(folder: str, tokens: int, policy: str, busy: int) -> dict:
    env = {**os.environ, "OMP_WAIT_POLICY": policy, "PYTHONWARNINGS": "ignore"}
    env.pop("OMP_NUM_THREADS", None)
    neighbours = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", WORKER, folder, str(tokens), str(HERE.parent / "src"), str(HERE)],
                             env=env, capture_output=True, text=True, timeout=900)
        if out.returncode:
            raise SystemExit(f"worker failed: {out.stderr.strip().splitlines()[-1]}")
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        figures["wall_s"] = round(time.perf_counter() - t0, 1)
        return figures
    finally:
        for n in neighbours:
            n.kill()
            n.wait()


def main() -> int:
    sys.path.insert(0, str(HERE))
    from cpu import SHAPES, build

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="HuggingFaceTB/SmolVLM-500M-Instruct", choices=list(SHAPES))
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--busy", type=int, default=1, help="busy neighbour processes in the loaded cells")
    args = ap.parse_args()
    for flag, value, least in (("--tokens", args.tokens, 2), ("--rounds", args.rounds, 1), ("--busy", args.busy, 1)):
        if value < least:
            ap.error(f"{flag} must be at least {least}")
    result: dict = {"cores": os.cpu_count(), "model": args.model, "tokens": args.tokens, "busy": args.busy}
    with tempfile.TemporaryDirectory(prefix="oculo-bench-threads-") as tmp:
        build(Path(tmp), args.model)
        best: dict[str, dict] = {}
        for _ in range(args.rounds):
            for load, busy in (("idle", 0), ("busy", args.busy)):
                for name, policy in POLICIES.items():
                    key = f"{load}, {name}"
                    got = cell(tmp, args.tokens, policy, busy)
                    print(f"{key:>36}: {got['decode_tokens_per_s']:6.1f} tok/s, ttft {got['ttft_s']:.2f} s",
                          file=sys.stderr, flush=True)
                    if got["decode_tokens_per_s"] > best.get(key, {}).get("decode_tokens_per_s", -1):
                        best[key] = got
    result["cells"] = best
    spin, passive = (f"{{}}, {n}" for n in POLICIES)
    for load in ("idle", "busy"):
        base, ours = (best[k.format(load)]["decode_tokens_per_s"] for k in (spin, passive))
        result[f"passive_over_spin_{load}"] = round(ours / base, 2) if base else None
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
