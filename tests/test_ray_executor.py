"""`--executor ray` on a real local Ray cluster (no mocks): same records as the local executor, every item once,
a poison item fails alone, and a driver killed with SIGKILL mid-run loses and redoes nothing on the rerun."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

from oculo.cli import cli as main

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'oculo[ray]')")
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                                     reason="tesseract is not installed (apt-get install tesseract-ocr)")


@pytest.fixture(scope="module")
def cluster() -> Any:
    """Two CPUs on loopback; the CLI run in-process finds it initialized and uses it (and leaves it running)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _pages(folder: Path, n: int) -> Path:
    folder.mkdir()
    font = ImageFont.load_default(size=28)
    for i in range(n):
        img = Image.new("RGB", (640, 180), "white")
        draw = ImageDraw.Draw(img)
        draw.text((20, 30), f"Page number {i} of the stack", fill="black", font=font)
        draw.text((20, 100), f"Total due {i * 7 + 3} dollars", fill="black", font=font)
        img.save(folder / f"p{i:02d}.png")
    return folder


def _records(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _rows(store: Path) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT key, status, output, updated FROM items ORDER BY key").fetchall()


@needs_tesseract
def test_ocr_on_ray_gives_the_local_records(cluster: str, tmp_path: Path) -> None:
    pages = _pages(tmp_path / "pages", 6)
    runner = CliRunner()
    args = ["ocr", str(pages), "--engine", "tesseract", "--format", "json", "--progress", "json"]
    local = runner.invoke(main, [*args, "--store", str(tmp_path / "local.db")])
    on_ray = runner.invoke(main, [*args, "--store", str(tmp_path / "ray.db"), "--executor", "ray"])
    assert local.exit_code == 0, local.output
    assert on_ray.exit_code == 0, on_ray.output

    def key(r: dict[str, Any]) -> str:
        return r["source"]

    ours, theirs = sorted(_records(on_ray.stdout), key=key), sorted(_records(local.stdout), key=key)
    assert len(ours) == 6 and len({r["source"] for r in ours}) == 6  # every page once
    assert ours == theirs
    assert "Total due 10 dollars" in next(r["text"] for r in ours if r["source"].endswith("p01.png"))
    # The stores agree item by item: same keys, same outputs.
    assert [(k, s, o) for k, s, o, _ in _rows(tmp_path / "ray.db")] == \
        [(k, s, o) for k, s, o, _ in _rows(tmp_path / "local.db")]
    workers = [json.loads(line) for line in on_ray.stderr.splitlines() if '"workers"' in line]
    assert len(workers) == 1 and sum(w["items"] for w in workers[0]["workers"]) == 6

    again = runner.invoke(main, [*args, "--store", str(tmp_path / "ray.db"), "--executor", "ray"])
    assert again.exit_code == 0
    assert '"cached": 6' in again.stderr  # a rerun on Ray skips what is stored


@pytest.mark.slow
def test_describe_with_the_tiny_model_on_ray_gives_the_local_records(cluster: str, tiny_qwen: Path,
                                                                    tmp_path: Path) -> None:
    """The in-process engine travels as its recipe: each actor opens the tiny model itself."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, colour in enumerate(["red", "green", "blue", "white"]):
        Image.new("RGB", (56 + 28 * i, 56), colour).save(folder / f"{i}.png")
    runner = CliRunner()
    args = ["describe", str(folder), "--engine", "transformers", "-m", str(tiny_qwen), "--device", "cpu", "--json",
            "--max-tokens", "5", "--temperature", "0", "--batch-size", "2", "--progress", "off"]
    local = runner.invoke(main, [*args, "--store", str(tmp_path / "local.db")])
    on_ray = runner.invoke(main, [*args, "--store", str(tmp_path / "ray.db"), "--executor", "ray"])
    assert local.exit_code == 0, local.output
    assert on_ray.exit_code == 0, on_ray.output

    def texts(out: str) -> list[tuple[str, str]]:
        return sorted((r["source"], r["text"]) for r in _records(out))

    assert len(texts(on_ray.stdout)) == 4 and texts(on_ray.stdout) == texts(local.stdout)

    def stored(db: Path) -> list[tuple[str, str, dict[str, Any]]]:  # timings differ run to run; the rest may not
        return [(k, s, {f: v for f, v in json.loads(o).items() if f != "stats"}) for k, s, o, _ in _rows(db)]

    assert stored(tmp_path / "ray.db") == stored(tmp_path / "local.db")


def test_poison_item_fails_alone(cluster: str, tmp_path: Path) -> None:
    from oculo.batch.ray_executor import RayExecutor
    from oculo.batch.runner import Item, Result, run_items
    from oculo.batch.store import Store

    def work(payloads: list[str]) -> list[Result]:
        if "poison" in payloads:
            os._exit(1)  # the worker process dies, as a segfault in a decoder would
        return [Result({"echo": p}) for p in payloads]

    items = [Item(f"k{i}", f"s{i}", None, p) for i, p in enumerate(["a", "poison", "b", "c"])]
    with Store(tmp_path / "s.db") as store, RayExecutor(work, None, workers=2, worker_restarts=1) as pool:
        summary = run_items(items, work, store=store, job_id=store.create_job("sig"), batch_size=2,
                            concurrency=pool.workers, submit=pool.submit)
    assert (summary.done, summary.failed) == (3, 1)
    bad = summary.results[1]
    assert bad is not None and bad.output is None
    assert bad.error == "the Ray worker running it died on each of its 2 attempts; see the worker's log " \
                        "(`ray logs`) for why"
    assert [r.output for r in summary.results if r and r.output] == [{"echo": "a"}, {"echo": "b"}, {"echo": "c"}]


@needs_tesseract
def test_killed_driver_loses_and_redoes_nothing(cluster: str, tmp_path: Path) -> None:
    total = 12
    pages = _pages(tmp_path / "pages", total)
    store = tmp_path / "s.db"
    cmd = [sys.executable, "-m", "oculo", "ocr", str(pages), "--engine", "tesseract", "--executor", "ray",
           "--concurrency", "1", "--store", str(store), "-q"]
    driver = subprocess.Popen(cmd, env={**os.environ, "RAY_ADDRESS": cluster}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    done: list[tuple[str, str, str, str]] = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and driver.poll() is None:
            if store.exists():
                try:
                    done = [r for r in _rows(store) if r[1] == "done"]
                except sqlite3.OperationalError:  # the schema is still being made
                    done = []
                if len(done) >= 2:
                    break
            time.sleep(0.2)
        assert driver.poll() is None, f"the driver ended before it was killed: {driver.stderr.read()!r}"
        assert len(done) >= 2, "no page was stored within 120 s"
        driver.send_signal(signal.SIGKILL)
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.wait(10)
    stored = {k: (o, u) for k, s, o, u in _rows(store) if s == "done"}
    assert 2 <= len(stored) < total  # killed mid-run

    rerun = CliRunner().invoke(main, ["ocr", str(pages), "--engine", "tesseract", "--executor", "ray",
                                      "--store", str(store), "--format", "json", "--progress", "json"])
    assert rerun.exit_code == 0, rerun.output
    rows = _rows(store)
    assert len(rows) == total and {s for _, s, _, _ in rows} == {"done"}  # every page once, all done
    for k, _, o, u in rows:  # what was stored before the kill is kept as it was, not redone
        if k in stored:
            assert (o, u) == stored[k]
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1  # the rerun continued the same job
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == total
    assert f'"cached": {len(stored)}' in rerun.stderr
    assert len(_records(rerun.stdout)) == total


def test_ray_address_without_ray_executor_is_a_usage_error(tmp_path: Path) -> None:
    img = tmp_path / "a.png"
    Image.new("RGB", (32, 32), "white").save(img)
    result = CliRunner().invoke(main, ["ocr", str(img), "--engine", "tesseract", "--ray-address", "127.0.0.1:1",
                                       "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 2
    assert "--ray-address is for --executor ray" in result.output


def test_without_ray_installed_the_error_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as it does where Ray is not installed
    img = tmp_path / "a.png"
    Image.new("RGB", (32, 32), "white").save(img)
    result = CliRunner().invoke(main, ["ocr", str(img), "--engine", "tesseract", "--executor", "ray",
                                       "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == \
        "oculo: error: --executor ray needs Ray; install it with `pip install 'oculo[ray]'`"


@pytest.mark.parametrize("args", [("ask", "hi"), ("ask", "hi", "--ray-address", "127.0.0.1:1")])
def test_ray_where_no_job_runs_is_a_usage_error(tmp_path: Path, args: tuple[str, ...]) -> None:
    img = tmp_path / "a.png"
    Image.new("RGB", (32, 32), "white").save(img)
    result = CliRunner().invoke(main, [*args, str(img), "--executor", "ray", "--engine", "openai",
                                       "--base-url", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 2, result.output
    assert "runs a job over many images; add --each to ask about each image" in result.output


def test_an_address_where_no_cluster_answers_is_one_line(tmp_path: Path) -> None:
    img = tmp_path / "a.png"
    Image.new("RGB", (32, 32), "white").save(img)
    store = tmp_path / "s.db"
    # A fresh process: this one has the test cluster initialized, and Ray keeps one cluster per process.
    done = subprocess.run([sys.executable, "-m", "oculo", "ocr", str(img), "--engine", "tesseract", "--executor",
                           "ray", "--ray-address", "127.0.0.1:1", "--store", str(store)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(
        "oculo: error: 127.0.0.1:1: no Ray cluster answers there (")
    assert done.stderr.strip().endswith("start one with `ray start --head`, or fix --ray-address / RAY_ADDRESS")
    assert not store.exists()  # the cluster is reached before the store opens: no empty job left behind


def test_work_that_cannot_travel_is_one_line_before_any_cluster_starts() -> None:
    import threading

    from oculo.batch.ray_executor import RayExecutor
    from oculo.errors import OculoError

    lock = threading.Lock()

    def work(payloads: list[Any]) -> list[Any]:
        with lock:
            return payloads

    started = ray.is_initialized()
    with pytest.raises(OculoError) as e:
        RayExecutor(work, None)
    assert str(e.value) == ("this job's work cannot be sent to Ray workers (cannot pickle '_thread.lock' object); "
                            "run it with --executor local")
    assert ray.is_initialized() == started
