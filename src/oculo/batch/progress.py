"""Progress for batch runs: a rich bar on a terminal, plain periodic lines in logs, JSON lines for machines.

A `Progress` is the runner's `on_progress` callback: `run_items(..., on_progress=progress)`.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Literal, TextIO

from .runner import RunSummary

__all__ = ["Progress", "ProgressMode"]

ProgressMode = Literal["auto", "bar", "plain", "json", "off"]


class Progress:
    def __init__(self, total: int, *, mode: ProgressMode = "auto", stream: TextIO | None = None,
                 interval_s: float = 5.0, label: str = "items", clock: Any = time.monotonic) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "plain"
        self.mode = mode
        self.interval_s = interval_s
        self.label = label
        self._clock = clock
        self._last_emit: float | None = None
        self._last: RunSummary | None = None
        self._bar: Any = None
        self._task: Any = None
        if mode == "bar":
            self._start_bar()

    # -- numbers ----------------------------------------------------------------------------------

    @staticmethod
    def rates(s: RunSummary) -> dict[str, Any]:
        """Rates count only items actually run: cached ones finish instantly and would flatter the ETA."""
        ran = s.finished - s.cached
        items_per_s = ran / s.seconds if s.seconds > 0 and ran > 0 else None
        tokens_per_s = s.generated_tokens / s.seconds if s.seconds > 0 and s.generated_tokens else None
        left = s.total - s.finished
        eta_s = left / items_per_s if items_per_s else (0.0 if left == 0 else None)
        return {"items_per_s": items_per_s, "tokens_per_s": tokens_per_s, "eta_s": eta_s}

    def snapshot(self, s: RunSummary, *, final: bool = False) -> dict[str, Any]:
        r = self.rates(s)
        return {
            "event": "finished" if final else "progress",
            "total": s.total, "done": s.done, "cached": s.cached, "failed": s.failed,
            "pending": s.total - s.finished, "seconds": round(s.seconds, 3),
            "generated_tokens": s.generated_tokens,
            "items_per_s": _r(r["items_per_s"]), "tokens_per_s": _r(r["tokens_per_s"]), "eta_s": _r(r["eta_s"]),
        }

    # -- the callback -----------------------------------------------------------------------------

    def __call__(self, s: RunSummary) -> None:
        self.update(s)

    def update(self, s: RunSummary) -> None:
        self._last = s
        if self.mode == "off":
            return
        if self.mode == "bar":
            self._update_bar(s)
            return
        now = self._clock()
        # Throttled; the first update always shows and close() writes the last, so logs show both ends.
        if self._last_emit is not None and now - self._last_emit < self.interval_s:
            return
        self._last_emit = now
        self._emit(s)

    def close(self) -> None:
        """The final line (plain/json) or the finished bar; call once when the run ends."""
        if self._bar is not None:
            if self._last is not None:
                self._update_bar(self._last)
            self._bar.stop()
            self._bar = None
        elif self._last is not None and self.mode in ("plain", "json"):
            self._emit(self._last, final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- output -----------------------------------------------------------------------------------

    def _emit(self, s: RunSummary, *, final: bool = False) -> None:
        snap = self.snapshot(s, final=final)
        if self.mode == "json":
            line = json.dumps(snap)
        else:
            line = (f"{'finished' if final else 'progress'}: {s.finished}/{s.total} {self.label} "
                    f"({s.done} done, {s.cached} cached, {s.failed} failed)"
                    f" {_fmt(snap['items_per_s'], 'items/s')} {_fmt(snap['tokens_per_s'], 'tokens/s')}"
                    f" eta {_fmt_eta(snap['eta_s'])}")
        self.stream.write(line + "\n")
        self.stream.flush()

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rates]}"), TextColumn("[red]{task.fields[failures]}"),
            console=Console(file=self.stream), transient=False)
        self._task = self._bar.add_task(self.label, total=self.total, rates="", failures="")
        self._bar.start()

    def _update_bar(self, s: RunSummary) -> None:
        r = self.rates(s)
        # Our own ETA, not rich's: rich would count cached items as speed.
        rates = (f"{_fmt(r['items_per_s'], 'items/s')} {_fmt(r['tokens_per_s'], 'tok/s')} "
                 f"eta {_fmt_eta(r['eta_s'])}")
        self._bar.update(self._task, completed=s.finished, rates=rates,
                         failures=f"{s.failed} failed" if s.failed else "")


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _fmt(x: float | None, unit: str) -> str:
    return f"- {unit}" if x is None else f"{x:.1f} {unit}"


def _fmt_eta(eta_s: float | None) -> str:
    if eta_s is None:
        return "?"
    m, s = divmod(round(eta_s), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
