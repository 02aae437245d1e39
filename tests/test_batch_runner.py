"""The batch runner: resume after kill -9, cache hits, per-item failures, retries, --force, progress output."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from oculo.batch import Item, Progress, Result, RunSummary, Store, content_hash, item_key, run_items
from oculo.errors import EngineUnreachable


def make_items(n: int, task: str = "ask") -> list[Item]:
    items = []
    for i in range(n):
        payload = f"file-{i}".encode()
        key = item_key(content_hash(payload), task, "m", "what?", {})
        items.append(Item(key, f"f{i}.png", None, payload))
    return items


class Counter:
    """A `work` that hashes its payloads and counts every call and every item it sees."""

    def __init__(self, fail: set[bytes] = frozenset(), transient: dict[bytes, int] | None = None):
        self.calls = 0
        self.seen: list[bytes] = []
        self.fail = fail
        self.transient = dict(transient or {})  # payload -> how many more times it fails transiently
        self.lock = threading.Lock()

    def __call__(self, payloads):
        with self.lock:
            self.calls += 1
            self.seen += payloads
        out = []
        for p in payloads:
            with self.lock:
                left = self.transient.get(p, 0)
                if left:
                    self.transient[p] = left - 1
            if left:
                out.append(Result(None, "server busy", {}, transient=True))
            elif p in self.fail:
                out.append(Result(None, f"cannot read {p.decode()}", {}, transient=False))
            else:
                out.append(Result({"sha": hashlib.sha256(p).hexdigest()}, None, {"generated_tokens": 2}))
        return out


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "jobs.sqlite3")
    yield s
    s.close()


def test_runs_records_and_keeps_input_order(store):
    items = make_items(20)
    job = store.create_job("sig")
    work = Counter()
    seen = []
    s = run_items(items, work, store=store, job_id=job, concurrency=4, batch_size=3,
                  on_result=lambda it, r: seen.append((threading.current_thread().name, it.key)))
    assert (s.total, s.done, s.cached, s.failed, s.generated_tokens) == (20, 20, 0, 0, 40)
    assert work.calls == 7  # ceil(20 / 3) batches
    assert [r.output["sha"] for r in s.results] == [hashlib.sha256(it.payload).hexdigest() for it in items]
    assert {name for name, _ in seen} == {threading.current_thread().name}  # callbacks run in the caller
    assert sorted(k for _, k in seen) == sorted(it.key for it in items)
    assert store.job(job).done == 20 and store.job(job).status == "finished"


def test_fully_cached_rerun_makes_no_calls(store):
    items = make_items(15)
    run_items(items, Counter(), store=store, job_id=store.create_job("sig"), concurrency=2)
    same_job = Counter()
    s = run_items(items, same_job, store=store, job_id=store.find_job("sig"), concurrency=2)
    assert same_job.calls == 0 and (s.done, s.cached) == (15, 15)
    new_job = Counter()
    job2 = store.create_job("another")
    written = []
    s = run_items(items, new_job, store=store, job_id=job2, on_result=lambda it, r: written.append(r.cached))
    assert new_job.calls == 0 and (s.done, s.cached, s.generated_tokens) == (15, 15, 0)
    assert written == [True] * 15
    assert store.job(job2).done == 15  # the new job holds the cached results too, for export


def test_force_redoes_everything(store):
    items = make_items(10)
    job = store.create_job("sig")
    run_items(items, Counter(), store=store, job_id=job)
    work = Counter()
    s = run_items(items, work, store=store, job_id=job, force=True, concurrency=3)
    assert len(work.seen) == 10 and (s.done, s.cached) == (10, 0)
    assert all(r.attempts == 2 for r in store.items(job))


def test_a_failing_item_fails_alone(store):
    items = make_items(10)
    bad = items[4].payload
    job = store.create_job("sig")
    work = Counter(fail={bad})
    s = run_items(items, work, store=store, job_id=job, concurrency=3, batch_size=2, retries=3, backoff_s=0)
    assert (s.total, s.done, s.failed) == (10, 9, 1)
    assert s.results[4].error == "cannot read file-4"
    assert work.seen.count(bad) == 1  # permanent: not retried
    failed = store.items(job, "failed")
    assert [(f.source, f.error, f.attempts) for f in failed] == [("f4.png", "cannot read file-4", 1)]
    assert store.cached(items[4].key) is None
    summary = store.job(job)
    assert (summary.done, summary.failed, summary.pending) == (9, 1, 0)


def test_transient_errors_are_retried(store):
    items = make_items(6)
    flaky, hopeless = items[1].payload, items[2].payload
    job = store.create_job("sig")
    work = Counter(transient={flaky: 2, hopeless: 99})
    s = run_items(items, work, store=store, job_id=job, concurrency=2, batch_size=3, retries=3, backoff_s=0)
    assert (s.done, s.failed) == (5, 1)
    assert work.seen.count(flaky) == 3 and s.results[1].attempts == 3
    assert work.seen.count(hopeless) == 4  # one try plus three retries
    assert work.seen.count(items[0].payload) == 1  # the good neighbours in the batch are not re-sent
    assert s.results[2].error == "server busy"


def test_raised_errors_fail_the_batch_and_unreachable_is_transient(store):
    items = make_items(4)
    state = {"calls": 0}

    def work(payloads):
        state["calls"] += 1
        if state["calls"] == 1:
            raise EngineUnreachable("ollama is not running")
        if b"file-3" in payloads:
            raise ValueError("corrupt")
        return [Result({"ok": True}) for _ in payloads]

    s = run_items(items, work, store=store, job_id=store.create_job("s"), retries=2, backoff_s=0)
    assert (s.done, s.failed) == (3, 1)
    assert s.results[3].error == "unexpected failure (corrupt); rerun with --debug and report it"


def test_duplicate_keys_run_once(store):
    items = make_items(3)
    items.append(Item(items[0].key, "copy-of-f0.png", None, items[0].payload))
    work = Counter()
    s = run_items(items, work, store=store, job_id=store.create_job("s"))
    assert len(work.seen) == 3 and s.done == 4 and s.results[3] is s.results[0]


def test_keyboard_interrupt_leaves_store_consistent(store):
    items = make_items(30)
    job = store.create_job("sig")

    def on_result(item, result):
        if item.key == items[5].key:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_items(items, Counter(), store=store, job_id=job, on_result=on_result)
    j = store.job(job)
    assert j.status == "interrupted" and j.total == 30 and j.done >= 6 and j.done + j.pending == 30
    s = run_items(items, (w := Counter()), store=store, job_id=job)
    assert s.done == 30 and len(w.seen) == 30 - j.done


KILL_SCRIPT = textwrap.dedent("""
    import hashlib, sys, time
    from oculo.batch import Item, Result, Store, content_hash, item_key, job_signature, run_items

    db, counter = sys.argv[1], sys.argv[2]
    payloads = [f"document {i}".encode() * 50 for i in range(300)]
    items = [Item(item_key(content_hash(p), "ask", "m", "p", {}), f"doc{i}.png", None, p)
             for i, p in enumerate(payloads)]
    store = Store(db)
    sig = job_signature("ask", "m", "e", {}, "p", [it.source for it in items])
    job = store.find_job(sig) or store.create_job(sig, command=sys.argv, task="ask", model="m", engine="e")
    log = open(counter, "a", buffering=1)

    def work(batch):
        out = []
        for p in batch:
            log.write("x\\n")  # one line per item handed to work: the test counts calls from here
            time.sleep(0.01)
            out.append(Result({"sha": hashlib.sha256(p).hexdigest()}, None, {"generated_tokens": 1}))
        return out

    s = run_items(items, work, store=store, job_id=job, concurrency=2)
    print(s.done, s.cached, s.failed)
""")


def test_resume_after_sigkill(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    db, first, second = tmp_path / "jobs.sqlite3", tmp_path / "calls1", tmp_path / "calls2"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(first)], env=env)
    done_at_kill = 0
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if db.exists():
                try:
                    with sqlite3.connect(db, timeout=5) as c:
                        done_at_kill = c.execute("SELECT COUNT(*) FROM items WHERE status = 'done'").fetchone()[0]
                except sqlite3.OperationalError:
                    pass  # schema not created yet
            if done_at_kill >= 50 or proc.poll() is not None:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL

    c = sqlite3.connect(db)
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    done_before = c.execute("SELECT COUNT(*) FROM items WHERE status = 'done'").fetchone()[0]
    c.close()
    assert 50 <= done_before < 300

    out = subprocess.run([sys.executable, str(script), str(db), str(second)], env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == ["300", str(done_before), "0"]
    assert len(second.read_text().splitlines()) == 300 - done_before  # only the unfinished were run

    c = sqlite3.connect(db)
    assert c.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1  # the rerun continued the same job
    assert c.execute("SELECT COUNT(*), COUNT(DISTINCT key), SUM(status = 'done') FROM items").fetchone() == (
        300, 300, 300)
    assert c.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 300
    c.close()


# -- progress ---------------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_progress_plain_is_throttled():
    buf, clock = io.StringIO(), Clock()
    p = Progress(10, mode="auto", stream=buf, interval_s=5, clock=clock)
    assert p.mode == "plain"  # a StringIO is not a terminal
    for i in range(1, 11):
        clock.t = i
        p(RunSummary(total=10, done=i, failed=0, seconds=float(i), generated_tokens=10 * i))
    p.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3  # t=1, t=6, then the final line
    assert lines[0].startswith("progress: 1/10 items (1 done, 0 cached, 0 failed) 1.0 items/s 10.0 tokens/s eta 0:09")
    assert lines[-1].startswith("finished: 10/10 items")


def test_progress_json():
    buf = io.StringIO()
    with Progress(4, mode="json", stream=buf, interval_s=0) as p:
        p(RunSummary(total=4, done=2, cached=1, failed=1, seconds=2.0, generated_tokens=30))
    first, last = (json.loads(x) for x in buf.getvalue().splitlines())
    assert first == {"event": "progress", "total": 4, "done": 2, "cached": 1, "failed": 1, "pending": 1,
                     "seconds": 2.0, "generated_tokens": 30, "items_per_s": 1.0, "tokens_per_s": 15.0,
                     "eta_s": 1.0}
    assert last["event"] == "finished"


def test_progress_bar_renders(store):
    buf = io.StringIO()
    p = Progress(5, mode="bar", stream=buf)
    run_items(make_items(5), Counter(fail={b"file-0"}), store=store, job_id=store.create_job("s"), on_progress=p)
    p.close()
    assert "5/5" in buf.getvalue() and "1 failed" in buf.getvalue()
