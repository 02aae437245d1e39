"""Task commands as jobs through the real CLI: per-item failures, cached reruns, resume, jobs listing."""

from __future__ import annotations

import json

import pytest

from .conftest import cli_env, oculo

pytestmark = pytest.mark.slow


def _lines(proc) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]


def test_corrupt_file_among_good_ones_fails_alone_and_reruns_come_from_the_store(served, images, tmp_path):
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    store = tmp_path / "jobs.sqlite3"
    env = cli_env(OLLAMA_HOST=served.removeprefix("http://"), OCULO_STORE=str(store))
    args = ("describe", str(images["small"]), str(bad), str(images["wide"]), "--engine", "ollama", "-m", "tiny",
            "--json", "--max-tokens", "6", "--progress", "plain")
    first = oculo(*args, env=env)
    assert first.returncode == 1
    rows = _lines(first)
    good = [r for r in rows if not r.get("error")]
    assert len(rows) == 3 and len(good) == 2 and all(r["stats"]["generated_tokens"] for r in good)
    err = first.stderr.decode()
    assert "corrupt.jpg" in err and "2 done, 1 failed" in err

    second = oculo(*args, "--out", str(tmp_path / "d.csv"), env=env)
    assert "2 done (2 from the store), 1 failed" in second.stderr.decode()
    import csv

    rows_csv = list(csv.DictReader((tmp_path / "d.csv").open()))
    assert len(rows_csv) == 3 and sum(1 for r in rows_csv if r["error"]) == 1
    assert sorted(r["text"] for r in rows_csv if not r["error"]) == sorted(r["text"] for r in good)
    import pyarrow.parquet as pq

    third = oculo(*args, "--out", str(tmp_path / "d.parquet"), env=env)
    assert third.returncode == 1
    table = pq.read_table(tmp_path / "d.parquet").to_pylist()
    assert sorted(r["source"] for r in table) == sorted(r["source"] for r in rows_csv)
    assert sorted(r["text"] for r in _lines(second) if not r.get("error")) == sorted(r["text"] for r in good)

    forced = oculo(*args, "--force", env=env)
    assert "from the store" not in forced.stderr.decode()

    jobs = oculo("jobs", "--store", str(store), env=env)
    assert jobs.returncode == 0 and "describe" in jobs.stdout.decode()

    import sqlite3

    job_id = sqlite3.connect(store).execute("SELECT max(id) FROM jobs").fetchone()[0]
    resumed = oculo("resume", str(job_id), env=env)
    assert "2 done (2 from the store), 1 failed" in resumed.stderr.decode()
    assert oculo("resume", "999", env=env).returncode == 1


def test_extract_reruns_skip_finished_documents(tiny_qwen, tmp_path):
    from pathlib import Path

    from PIL import Image

    docs = []
    for i, color in enumerate(("white", "lightgray")):
        p = tmp_path / f"doc{i}.pdf"
        Image.new("RGB", (300, 400), color).save(p)
        docs.append(p)
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"n": {"type": "integer", "minimum": 0,
                                  "maximum": 9}}, "required": ["n"], "additionalProperties": False}))
    env = cli_env(OCULO_STORE=str(tmp_path / "jobs.sqlite3"))
    args = ("extract", *map(str, docs), "--schema", str(schema), "--engine", "transformers", "-m", str(tiny_qwen),
            "--max-tokens", "20", "--attempts", "1", "--anchor", "none")
    first = oculo(*args, env=env)
    assert first.returncode == 0, first.stderr.decode()
    again = oculo(*args, "--out", str(tmp_path / "out.jsonl"), env=env)
    assert "2 done (2 from the store)" in again.stderr.decode()
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(Path(r["source"]).name for r in written) == ["doc0.pdf", "doc1.pdf"]


def test_describe_a_pdf_goes_page_by_page_and_resumes_per_page(tiny_qwen, tmp_path):
    from PIL import Image

    pdf = tmp_path / "three.pdf"
    pages = [Image.new("RGB", (200, 260), c) for c in ("white", "gray", "black")]
    pages[0].save(pdf, save_all=True, append_images=pages[1:])
    env = cli_env(OCULO_STORE=str(tmp_path / "jobs.sqlite3"))
    # one input into a pipe prints no summary by default; --progress plain asks for it
    args = ("describe", str(pdf), "--engine", "transformers", "-m", str(tiny_qwen), "--json", "--max-tokens", "5",
            "--progress", "plain")
    first = oculo(*args, env=env)
    assert first.returncode == 0, first.stderr.decode()
    assert sorted(r["page"] for r in _lines(first)) == [1, 2, 3]
    again = oculo(*args, env=env)
    assert "3 done (3 from the store)" in again.stderr.decode()


def test_a_url_input_is_fetched_once(tmp_path, images):
    import http.server
    import threading

    from oculo.batch.jobs import JobSpec, run_image_job
    from oculo.engines import Request
    from oculo.media.sources import expand
    from oculo.testing import FakeEngine

    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(images["small"].parent), **kw)

        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{images['small'].name}"

    # The engine is beside the point here: this test counts downloads, so it answers without a model.
    echo = FakeEngine(lambda request: f"{request.images[0].image.size}", model="m")

    try:
        spec = JobSpec("t", echo, {"p": 1}, store=str(tmp_path / "s.sqlite3"), progress="off")
        seen = []
        summary, _ = run_image_job(spec, expand([url]), lambda p: Request.simple("x", [p]),
                                   lambda item, r: seen.append(r.output["text"]))
    finally:
        server.shutdown()
    assert summary.done == 1 and seen and len(hits) == 1
