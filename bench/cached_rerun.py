"""Benchmark: a fully cached rerun of `oculo describe` over many images loads no model and takes seconds.

    python bench/cached_rerun.py [--items 1000] [--model DIR]

Makes --items small PNGs and a tiny random-weight model (unless --model names a model folder), runs
`oculo describe DIR --engine transformers -m MODEL --max-tokens 1` once to fill a fresh job store, then again: the
second run finds every item in the store. Both runs are real CLI subprocesses, timed end to end. A third, identical
run under `python -X importtime` tells whether the rerun imported torch at all: without torch no model can load.
The last line printed is one JSON object with the figures.
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

try:
    import oculo  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from oculo.testing import make_image, tiny_model


def run(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args[:6])} ... failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return seconds, proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--model", help="a model folder (default: a tiny random-weight Qwen2-VL built here)")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="oculo-bench-") as tmp:
        root = Path(tmp)
        images = root / "images"
        images.mkdir()
        for i in range(a.items):  # distinct content, so every item is its own cache entry
            make_image(32, 24, seed=i).save(images / f"{i:05d}.png")
        model = a.model or str(tiny_model("qwen2_vl", root / "model"))
        env = {**os.environ, "OCULO_STORE": str(root / "jobs.sqlite3")}
        src = str(Path(__file__).resolve().parents[1] / "src")
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "") if "PYTHONPATH" in env else src
        cmd = ["-m", "oculo", "describe", str(images), "--engine", "transformers", "-m", model,
               "--max-tokens", "1", "--batch-size", "32", "--progress", "off"]

        first_s, first = run([sys.executable, *cmd], env)
        rerun_s, rerun = run([sys.executable, *cmd], env)
        _, traced = run([sys.executable, "-X", "importtime", *cmd], env)
        imported = {line.split("|")[-1].strip() for line in traced.stderr.splitlines()
                    if line.startswith("import time:")}
        torch_imported = "torch" in imported

        same = first.stdout == rerun.stdout
        print(f"first run:  {a.items} items in {first_s:.2f} s")
        print(f"cached rerun: {a.items} items in {rerun_s:.2f} s ({a.items / rerun_s:.0f} items/s); "
              f"torch imported: {torch_imported}; same output: {same}")
        print(f"rerun summary: {rerun.stderr.strip().splitlines()[-1] if rerun.stderr.strip() else '(none)'}")
        print(json.dumps({"items": a.items, "first_s": round(first_s, 2), "rerun_s": round(rerun_s, 2),
                          "rerun_under_3s": rerun_s < 3.0, "model_loaded_on_rerun": torch_imported,
                          "same_output": same}))


if __name__ == "__main__":
    main()
