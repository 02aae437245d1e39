"""The job store: one SQLite file that remembers every batch job, every item's outcome and a results cache.

Every finished item is committed on its own, so a crash, Ctrl-C or kill -9 loses at most the items still
in flight; WAL keeps the file consistent and lets `oculo jobs` read while a run writes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = [
    "ITEM_STATUSES",
    "ItemRow",
    "JobSummary",
    "ReviewRow",
    "Store",
    "canonical_json",
    "content_hash",
    "default_store_path",
    "file_hash",
    "item_key",
    "job_signature",
]

ITEM_STATUSES = ("pending", "done", "failed")

# Append-only: a released migration is never edited, a schema change is a new entry at the end.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            created TEXT NOT NULL,
            signature TEXT,
            command TEXT,
            task TEXT,
            model TEXT,
            engine TEXT,
            options TEXT,
            status TEXT NOT NULL DEFAULT 'running'
        )""",
        "CREATE INDEX jobs_signature ON jobs(signature)",
        """CREATE TABLE items (
            job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            source TEXT,
            part TEXT,
            status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
            output TEXT,
            error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            stats TEXT,
            updated TEXT NOT NULL,
            UNIQUE (job_id, key)
        )""",
        "CREATE INDEX items_job_status ON items(job_id, status)",
        """CREATE TABLE results (
            key TEXT PRIMARY KEY,
            output TEXT,
            stats TEXT,
            created TEXT NOT NULL
        )""",
    ],
    # `oculo review`: a person's corrections kept beside the model's output (items.output is never rewritten).
    # corrections is the log of every edit; reviews holds each item's current corrected record and its check.
    [
        """CREATE TABLE corrections (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            field TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('correct', 'check', 'uncheck', 'approve')),
            value TEXT,
            created TEXT NOT NULL
        )""",
        "CREATE INDEX corrections_item ON corrections(job_id, key)",
        """CREATE TABLE reviews (
            job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            data TEXT,
            verification TEXT,
            corrected TEXT NOT NULL DEFAULT '[]',
            checked TEXT NOT NULL DEFAULT '[]',
            approved TEXT,
            updated TEXT NOT NULL,
            PRIMARY KEY (job_id, key)
        )""",
    ],
]


def default_store_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("oculo")) / "jobs.sqlite3"


def canonical_json(obj: Any) -> str:
    """One spelling per value, so equal work always hashes to the same key."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_hash(path: Path) -> str:
    """`content_hash` of a file of any size, read in chunks (a video need not fit in memory)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def item_key(content_hash: str, task: str, model: str, prompt_or_schema: Any, options: Any,
             *, part: str | None = None) -> str:
    """The cache key of one piece of work; `part` (page/frame) only enters when given, so old keys stay valid."""
    doc: dict[str, Any] = {"content": content_hash, "task": task, "model": model,
                           "prompt": prompt_or_schema, "options": options}
    if part is not None:
        doc["part"] = str(part)
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()


def job_signature(task: str, model: str, engine: str, options: Any, prompt_or_schema: Any,
                  inputs: Iterable[str | Path]) -> str:
    """Rerunning the same command finds the same job: same work over the same (sorted) inputs."""
    doc = {"task": task, "model": model, "engine": engine, "options": options,
           "prompt": prompt_or_schema, "inputs": sorted(str(p) for p in inputs)}
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _dumps(obj: Any) -> str | None:
    return None if obj is None else json.dumps(obj, ensure_ascii=False, default=str)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class JobSummary:
    id: int
    created: str
    task: str | None
    model: str | None
    total: int
    done: int
    failed: int
    pending: int
    engine: str | None = None
    status: str | None = None
    command: Any = None
    options: Any = None
    signature: str | None = None


@dataclass(frozen=True)
class ItemRow:
    job_id: int
    key: str
    source: str | None
    part: str | None
    status: str
    output: Any
    error: str | None
    attempts: int
    stats: Any
    updated: str


@dataclass(frozen=True)
class ReviewRow:
    """A person's review of one item: the corrected record, its re-verification, and what they did."""
    job_id: int
    key: str
    data: Any  # the corrected record (None until a value is corrected: the model's output stands)
    verification: Any  # verify(...).to_dict() of `data`, run when it was saved
    corrected: list[str]  # field paths a person changed
    checked: list[str]  # field paths a person marked checked
    approved: str | None  # when the document was approved
    updated: str


_JOB_SELECT = """
    SELECT j.id, j.created, j.task, j.model,
           COUNT(i.key),
           COALESCE(SUM(i.status = 'done'), 0),
           COALESCE(SUM(i.status = 'failed'), 0),
           COALESCE(SUM(i.status = 'pending'), 0),
           j.engine, j.status, j.command, j.options, j.signature
    FROM jobs j LEFT JOIN items i ON i.job_id = j.id
"""


class Store:
    """A job store on one SQLite file; safe to share between threads of one process (one lock, one connection)."""

    def __init__(self, path: str | Path | None = None, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so each record is exactly one transaction.
            self._db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None,
                                       check_same_thread=False)
        except (OSError, sqlite3.Error) as e:
            raise InputError(f"cannot open the job store {self.path}: {e}; pass another --store PATH") from None
        self._lock = threading.RLock()
        self._db.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable against process crashes
        self._db.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    # -- plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading a read lock.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _migrate(self) -> None:
        with self._tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")
            # Re-read inside the write lock: another process may have migrated while we waited.
            have = db.execute("SELECT COALESCE(MAX(version), 0) FROM migrations").fetchone()[0]
            if have > len(MIGRATIONS):
                raise InputError(f"the job store {self.path} was written by a newer oculo (schema {have}); "
                                 "upgrade oculo or pass another --store PATH")
            for version, statements in enumerate(MIGRATIONS[have:], start=have + 1):
                for sql in statements:
                    db.execute(sql)
                db.execute("INSERT INTO migrations(version, applied) VALUES (?, ?)", (version, _now()))
            db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs -------------------------------------------------------------------------------------

    def create_job(self, signature: str | None = None, *, command: Any = None, task: str | None = None,
                   model: str | None = None, engine: str | None = None, options: Any = None) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO jobs(created, signature, command, task, model, engine, options, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'running')",
                (_now(), signature, _dumps(command), task, model, engine, _dumps(options)))
            assert cur.lastrowid is not None  # set by every INSERT
            return cur.lastrowid

    def find_job(self, signature: str) -> int | None:
        """The newest job with this signature, so a rerun continues where the last one stopped."""
        rows = self._query("SELECT id FROM jobs WHERE signature = ? ORDER BY id DESC LIMIT 1", (signature,))
        return rows[0][0] if rows else None

    def set_job_status(self, job_id: int, status: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET status = ? WHERE id = ?", (status, job_id))

    def jobs(self) -> list[JobSummary]:
        return [self._summary(r) for r in self._query(_JOB_SELECT + " GROUP BY j.id ORDER BY j.id")]

    def job(self, job_id: int) -> JobSummary | None:
        rows = self._query(_JOB_SELECT + " WHERE j.id = ? GROUP BY j.id", (job_id,))
        return self._summary(rows[0]) if rows else None

    @staticmethod
    def _summary(r: tuple[Any, ...]) -> JobSummary:
        return JobSummary(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                          _loads(r[10]), _loads(r[11]), r[12])

    # -- items ------------------------------------------------------------------------------------

    def add_items(self, job_id: int, items: Iterable[tuple[str, str | None, str | None]]) -> None:
        """Register (key, source, part) as pending; items already known keep their status."""
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO items(job_id, key, source, part, status, updated) "
                "VALUES (?, ?, ?, ?, 'pending', ?)",
                [(job_id, key, source, part, _now()) for key, source, part in items])

    def record(self, job_id: int, key: str, source: str | None, part: str | None, status: str,
               output: Any = None, error: str | None = None, attempts: int = 0, stats: Any = None) -> None:
        """Upsert one item (and, when done, the results cache) in one transaction; attempts add up across runs."""
        if status not in ITEM_STATUSES:
            raise ValueError(f"item status must be one of {ITEM_STATUSES}, not {status!r}")
        now = _now()
        out, st = _dumps(output), _dumps(stats)
        with self._tx() as db:
            db.execute(
                "INSERT INTO items(job_id, key, source, part, status, output, error, attempts, stats, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(job_id, key) DO UPDATE SET source = excluded.source, part = excluded.part, "
                "status = excluded.status, output = excluded.output, error = excluded.error, "
                "attempts = items.attempts + excluded.attempts, stats = excluded.stats, updated = excluded.updated",
                (job_id, key, source, part, status, out, error, attempts, st, now))
            if status == "done":
                db.execute("INSERT OR REPLACE INTO results(key, output, stats, created) VALUES (?, ?, ?, ?)",
                           (key, out, st, now))

    def cached(self, key: str) -> dict[str, Any] | None:
        """{"output": ..., "stats": ...} of a finished result from any job, or None."""
        rows = self._query("SELECT output, stats FROM results WHERE key = ?", (key,))
        return {"output": _loads(rows[0][0]), "stats": _loads(rows[0][1])} if rows else None

    def done_keys(self, job_id: int) -> set[str]:
        return {r[0] for r in self._query("SELECT key FROM items WHERE job_id = ? AND status = 'done'", (job_id,))}

    def items(self, job_id: int, status: str | None = None) -> list[ItemRow]:
        sql = ("SELECT job_id, key, source, part, status, output, error, attempts, stats, updated "
               "FROM items WHERE job_id = ?")
        args: list[Any] = [job_id]
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        rows = self._query(sql + " ORDER BY rowid", args)
        return [ItemRow(r[0], r[1], r[2], r[3], r[4], _loads(r[5]), r[6], r[7], _loads(r[8]), r[9]) for r in rows]

    # -- reviews (oculo review) -------------------------------------------------------------------

    def review(self, job_id: int, key: str) -> ReviewRow | None:
        rows = self._query("SELECT job_id, key, data, verification, corrected, checked, approved, updated "
                           "FROM reviews WHERE job_id = ? AND key = ?", (job_id, key))
        return self._review_row(rows[0]) if rows else None

    def reviews(self, job_id: int) -> dict[str, ReviewRow]:
        rows = self._query("SELECT job_id, key, data, verification, corrected, checked, approved, updated "
                           "FROM reviews WHERE job_id = ?", (job_id,))
        return {r[1]: self._review_row(r) for r in rows}

    @staticmethod
    def _review_row(r: tuple[Any, ...]) -> ReviewRow:
        return ReviewRow(r[0], r[1], _loads(r[2]), _loads(r[3]), _loads(r[4]), _loads(r[5]), r[6], r[7])

    def _review_tx(self, db: sqlite3.Connection, job_id: int, key: str, field: str, action: str,
                   value: Any, **changes: Any) -> None:
        if not db.execute("SELECT 1 FROM items WHERE job_id = ? AND key = ?", (job_id, key)).fetchone():
            raise InputError(f"job {job_id} has no item {key[:12]}; `oculo jobs show {job_id}` lists its items")
        now = _now()
        db.execute("INSERT INTO corrections(job_id, key, field, action, value, created) VALUES (?, ?, ?, ?, ?, ?)",
                   (job_id, key, field, action, json.dumps(value, ensure_ascii=False), now))
        db.execute("INSERT OR IGNORE INTO reviews(job_id, key, updated) VALUES (?, ?, ?)", (job_id, key, now))
        sets = ", ".join(f"{col} = ?" for col in changes)
        db.execute(f"UPDATE reviews SET {sets + ', ' if sets else ''}updated = ? WHERE job_id = ? AND key = ?",
                   [*changes.values(), now, job_id, key])

    def correct(self, job_id: int, key: str, field: str, value: Any, data: Any, verification: Any) -> ReviewRow:
        """Log a corrected value and keep the whole corrected record with its re-verification beside the output."""
        with self._tx() as db:
            old = db.execute("SELECT corrected FROM reviews WHERE job_id = ? AND key = ?", (job_id, key)).fetchone()
            corrected = _loads(old[0]) if old else []
            if field not in corrected:
                corrected.append(field)
            self._review_tx(db, job_id, key, field, "correct", value, data=_dumps(data),
                            verification=_dumps(verification), corrected=_dumps(corrected))
        return self.review(job_id, key)  # type: ignore[return-value]

    def mark_checked(self, job_id: int, key: str, field: str, checked: bool = True) -> ReviewRow:
        with self._tx() as db:
            old = db.execute("SELECT checked FROM reviews WHERE job_id = ? AND key = ?", (job_id, key)).fetchone()
            fields = [f for f in (_loads(old[0]) if old else []) if f != field] + ([field] if checked else [])
            self._review_tx(db, job_id, key, field, "check" if checked else "uncheck", None, checked=_dumps(fields))
        return self.review(job_id, key)  # type: ignore[return-value]

    def approve(self, job_id: int, key: str) -> ReviewRow:
        now = _now()
        with self._tx() as db:
            self._review_tx(db, job_id, key, "", "approve", None, approved=now)
        return self.review(job_id, key)  # type: ignore[return-value]

    def corrections(self, job_id: int, key: str | None = None) -> list[dict[str, Any]]:
        """The log of every review action, oldest first."""
        sql = "SELECT key, field, action, value, created FROM corrections WHERE job_id = ?"
        args: list[Any] = [job_id]
        if key is not None:
            sql += " AND key = ?"
            args.append(key)
        return [{"key": r[0], "field": r[1], "action": r[2], "value": _loads(r[3]), "created": r[4]}
                for r in self._query(sql + " ORDER BY id", args)]
