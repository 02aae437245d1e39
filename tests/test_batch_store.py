"""The job store (SQLite) and the `oculo jobs` commands over it."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest
from click.testing import CliRunner

from oculo.batch.store import Store, content_hash, item_key, job_signature
from oculo.cli.jobs import jobs


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "jobs.sqlite3")
    yield s
    s.close()


def test_pragmas_and_migrations(tmp_path):
    path = tmp_path / "s.sqlite3"
    Store(path).close()
    Store(path).close()  # reopening must not re-apply migrations
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version FROM migrations").fetchall() == [(1,), (2,)]
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"jobs", "items", "results", "migrations"} <= tables


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO migrations VALUES (99, 'x')")
    db.commit()
    db.close()
    with pytest.raises(Exception, match="newer oculo"):
        Store(path)


def test_keys_are_canonical():
    h = content_hash(b"abc")
    assert h == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    a = item_key(h, "ask", "m", "what?", {"temperature": 0, "seed": 1})
    b = item_key(h, "ask", "m", "what?", {"seed": 1, "temperature": 0})
    assert a == b and len(a) == 64
    assert a != item_key(h, "ask", "m", "what else?", {"seed": 1, "temperature": 0})
    assert a != item_key(h, "ask", "m", "what?", {"seed": 1, "temperature": 0}, part="2")
    s1 = job_signature("ask", "m", "ollama", {}, "p", ["b.png", "a.png"])
    assert s1 == job_signature("ask", "m", "ollama", {}, "p", ["a.png", "b.png"])
    assert s1 != job_signature("ask", "m", "openai", {}, "p", ["a.png", "b.png"])


def test_record_upserts_and_caches(store):
    job = store.create_job("sig", command=["oculo", "ask"], task="ask", model="m", engine="e", options={"a": 1})
    assert store.find_job("sig") == job and store.find_job("other") is None
    store.add_items(job, [("k1", "a.png", None), ("k2", "b.pdf", "3")])
    store.record(job, "k1", "a.png", None, "failed", None, "boom", 1, {})
    assert store.cached("k1") is None  # failures never enter the cache
    store.record(job, "k1", "a.png", None, "done", {"x": 1}, None, 2, {"generated_tokens": 5})
    assert store.cached("k1") == {"output": {"x": 1}, "stats": {"generated_tokens": 5}}
    rows = store.items(job)
    assert [(r.key, r.status) for r in rows] == [("k1", "done"), ("k2", "pending")]
    assert rows[0].attempts == 3  # attempts add up across runs
    assert rows[1].part == "3"
    summary = store.job(job)
    assert (summary.total, summary.done, summary.failed, summary.pending) == (2, 1, 0, 1)
    assert summary.command == ["oculo", "ask"] and summary.options == {"a": 1}
    assert store.job(999) is None
    assert [j.id for j in store.jobs()] == [job]
    with pytest.raises(ValueError):
        store.record(job, "k3", None, None, "weird")


def test_results_cache_is_global(store):
    j1 = store.create_job("s1")
    store.record(j1, "k", "a", None, "done", {"v": 1}, None, 1, {})
    store.create_job("s2")
    assert store.cached("k")["output"] == {"v": 1}


def test_cached_results_survive_a_second_connection(tmp_path):
    path = tmp_path / "s.sqlite3"
    with Store(path) as a, Store(path) as b:
        job = a.create_job("sig")
        a.record(job, "k", "x", None, "done", {"v": 2}, None, 1, {})
        assert b.cached("k")["output"] == {"v": 2}
        assert b.job(job).done == 1


# -- oculo jobs -------------------------------------------------------------------------------------


@pytest.fixture
def filled(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    with Store(path) as s:
        job = s.create_job("sig", command=["oculo", "extract", "scans/"], task="extract", model="qwen2.5vl:3b",
                           engine="ollama", options={"temperature": 0})
        s.add_items(job, [("k1", "a.png", None), ("k2", "b.png", None), ("k3", "c.pdf", "2"),
                          ("k4", "d.png", None)])
        s.record(job, "k1", "a.png", None, "done", {"total": 12.5, "lines": [1, 2]}, None, 1, {"generated_tokens": 3})
        s.record(job, "k2", "b.png", None, "done", {"total": 7, "vendor": "ACME"}, None, 1, {})
        s.record(job, "k3", "c.pdf", "2", "failed", None, "reply is not valid JSON", 3, {})
    return path, job


def test_jobs_list(filled):
    path, job = filled
    r = CliRunner().invoke(jobs, ["--store", str(path)])
    assert r.exit_code == 0, r.output
    line = next(ln for ln in r.output.splitlines() if ln.strip().startswith(str(job)))
    assert "extract" in line and "qwen2.5vl:3b" in line
    assert line.split()[-4:] == ["2", "1", "1", "4"]


def test_jobs_list_empty(tmp_path):
    r = CliRunner().invoke(jobs, ["--store", str(tmp_path / "none.sqlite3")])
    assert r.exit_code == 0 and "no jobs" in r.output
    assert not (tmp_path / "none.sqlite3").exists()  # listing must not create a store


def test_jobs_show(filled):
    path, job = filled
    r = CliRunner().invoke(jobs, ["show", str(job), "--store", str(path)])
    assert r.exit_code == 0, r.output
    assert "oculo extract scans/" in r.output
    assert "4 total, 2 done, 1 failed, 1 pending" in r.output
    assert "c.pdf [2]: reply is not valid JSON (attempts: 3)" in r.output


def test_jobs_export_jsonl(filled, tmp_path):
    path, job = filled
    out = tmp_path / "out.jsonl"
    r = CliRunner().invoke(jobs, ["export", str(job), "--out", str(out), "--store", str(path)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert [(x["source"], x["output"]) for x in rows] == [
        ("a.png", {"total": 12.5, "lines": [1, 2]}), ("b.png", {"total": 7, "vendor": "ACME"})]


def test_jobs_export_csv(filled, tmp_path):
    path, job = filled
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(jobs, ["--store", str(path), "export", str(job), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["source", "part", "key", "total", "lines", "vendor"]
    assert rows[0]["lines"] == "[1, 2]" and rows[0]["vendor"] == ""
    assert rows[1]["vendor"] == "ACME" and rows[1]["total"] == "7"


@pytest.mark.parametrize("args", [["show", "42"], ["export", "42", "--out", "x.jsonl"]])
def test_jobs_unknown_id(filled, args, tmp_path):
    path, _ = filled
    r = CliRunner().invoke(jobs, [*args, "--store", str(path)])
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == [f"oculo: error: no job 42 in {path}; `oculo jobs` lists the jobs there"]


def test_jobs_export_bad_suffix(filled, tmp_path):
    path, job = filled
    r = CliRunner().invoke(jobs, ["export", str(job), "--out", str(tmp_path / "x.txt"), "--store", str(path)])
    assert r.exit_code == 2


def test_jobs_export_parquet(filled, tmp_path):
    import pyarrow.parquet as pq

    path, job = filled
    out = tmp_path / "out.parquet"
    r = CliRunner().invoke(jobs, ["export", str(job), "--out", str(out), "--store", str(path)])
    assert r.exit_code == 0, r.output
    rows = pq.read_table(out).to_pylist()
    assert [(x["source"], x["total"], x["vendor"]) for x in rows] == [("a.png", 12.5, None), ("b.png", 7, "ACME")]
    assert json.loads(rows[0]["lines"]) == [1, 2]
