"""Video: sampled frames described in batches with their times, a summary across them, and captions.

Frames stream from the sampler to the model a batch at a time and only their text is kept, so a long video
costs flat memory. The summary reads the timeline; a long timeline is summarized in parts first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engines import Engine, ImagePart, Options, Request, Stats
from .prompts import fill
from .prompts import prompt as builtin_prompt

__all__ = ["FrameNote", "VideoResult", "clock", "describe_video", "summarize_timeline", "FORMATS", "render_video"]

FORMATS = ("markdown", "json", "srt", "vtt")
TIMELINE_CHARS = 12_000  # one summary request's share of a small model's context; longer goes in parts
QUERY_SCHEMA = {
    "type": "object",
    "properties": {"description": {"type": "string", "maxLength": 400}, "match": {"type": "boolean"}},
    "required": ["description", "match"],
    "additionalProperties": False,
}


@dataclass
class FrameNote:
    t: float
    scene: int
    text: str
    match: bool | None = None  # with a query: does this frame show it
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": round(self.t, 3), "scene": self.scene, "text": self.text}
        if self.match is not None:
            out["match"] = self.match
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class VideoResult:
    source: str
    duration: float | None
    sampling: str  # "scenes" or "fps=F"
    scenes: list[Any] = field(default_factory=list)  # media.video.Scene
    frames: list[FrameNote] = field(default_factory=list)
    summary: str | None = None
    query: str | None = None
    stats: Stats = field(default_factory=Stats)
    error: str | None = None  # the summary's, when it failed; frame errors are on the frames
    cached: int = 0  # frames found in the job store, not described again

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source, "duration": None if self.duration is None else round(self.duration, 3),
            "sampling": self.sampling,
            "scenes": [{"start": round(s.start, 3), "end": round(s.end, 3)} for s in self.scenes],
            "frames": [f.to_dict() for f in self.frames], "summary": self.summary,
        }
        if self.query is not None:
            out["query"] = self.query
            out["matches"] = [round(f.t, 3) for f in self.frames if f.match]
        if self.error:
            out["error"] = self.error
        out["stats"] = self.stats.to_dict()
        return out


def clock(t: float, *, decimals: int = 1) -> str:
    """Seconds as H:MM:SS.s, the way people quote a moment in a video."""
    t = max(0.0, t)
    h, rest = divmod(t, 3600)
    m, s = divmod(rest, 60)
    width = 3 + decimals if decimals else 2
    return f"{int(h)}:{int(m):02d}:{s:0{width}.{decimals}f}"


def describe_video(path: str | Path, engine: Engine, *, fps: float | None = None, max_gap: float = 30.0,
                   min_scene: float = 0.6, query: str | None = None, prompt: str | None = None,
                   summary_engine: Engine | None = None, summarize: bool = True, options: Options | None = None,
                   system: str | None = None, batch: int | None = None,
                   on_frame: Callable[[FrameNote], Any] | None = None, cache: Any = None) -> VideoResult:
    """Sample `path`, describe each chosen frame (batched), and summarize the timeline.

    `cache` (a batch.jobs.PartCache) holds finished frames and the summary, so a rerun describes only the rest.
    """
    from ..media.video import VideoSampler

    caps = engine.capabilities()
    sampler = VideoSampler(path, fps=fps, max_gap=max_gap, min_scene=min_scene, max_pixels=caps.max_pixels)
    opts = (options or Options()).with_defaults(max_tokens=200, temperature=0.0)
    # One engine call's worth of frames: what the in-process engine batches, or a server's parallel slots.
    per_call = batch or max(1, caps.batch, caps.parallel)
    result = VideoResult(str(path), sampler.info.duration, f"fps={fps:g}" if fps else "scenes", query=query)
    template = prompt or builtin_prompt("video-frame")

    def request(frame: Any) -> Request:
        text = fill(template, time=clock(frame.t))
        if query:
            text += fill(builtin_prompt("video-frame", "query"), query=query)
        part = ImagePart(frame.image, f"{Path(str(path)).name} at {clock(frame.t)}")
        return Request.simple(text, [part], system=system, options=opts, schema=QUERY_SCHEMA if query else None)

    def note_of(frame: Any, reply: Any) -> FrameNote:
        if query and reply.error is None and isinstance(reply.data, dict):
            return FrameNote(frame.t, frame.scene, str(reply.data.get("description", "")).strip(),
                             bool(reply.data.get("match")))
        # A failed structured answer is raw JSON: not a description to show.
        return FrameNote(frame.t, frame.scene, "" if query and reply.error else reply.text.strip(), error=reply.error)

    def flush(chunk: list[Any]) -> None:
        notes: list[FrameNote | None] = []
        todo = []
        for frame in chunk:
            hit = cache.lookup(_part(frame.t)) if cache is not None else None
            notes.append(None if hit is None else FrameNote(frame.t, frame.scene, hit.get("text", ""),
                                                            hit.get("match")))
            if hit is None:
                todo.append((len(notes) - 1, frame))
            else:
                result.cached += 1
        replies = engine.generate([request(f) for _, f in todo]) if todo else []
        for (i, frame), reply in zip(todo, replies):
            result.stats.add(reply.stats)
            described = notes[i] = note_of(frame, reply)
            if cache is not None:  # recorded at once: a crash later in the video loses nothing described
                cache.save(_part(frame.t), described.to_dict(), reply.error, reply.stats.to_dict())
        for note in notes:
            assert note is not None
            result.frames.append(note)
            if on_frame:
                on_frame(note)

    chunk: list[Any] = []
    for frame in sampler.frames():
        chunk.append(frame)
        if len(chunk) >= per_call:
            flush(chunk)
            chunk = []  # the images go: only their text is kept
    if chunk:
        flush(chunk)
    result.scenes = list(sampler.scenes)
    if result.duration is None and result.scenes:
        result.duration = result.scenes[-1].end
    if summarize and any(f.text for f in result.frames):
        lines = [(f.t, f.text) for f in result.frames if f.text]
        writer = summary_engine or engine
        part = "summary " + hashlib.sha256(repr((writer.name, writer.model, lines)).encode()).hexdigest()[:16]
        hit = cache.lookup(part) if cache is not None else None
        if hit is not None:
            result.summary = hit.get("summary")
        else:
            stats = Stats()
            result.summary, result.error = summarize_timeline(writer, lines, options=options,
                                                              system=system, stats=stats)
            result.stats.add(stats)
            if cache is not None:
                cache.save(part, {"summary": result.summary}, result.error, stats.to_dict())
    return result


def _part(t: float) -> str:
    return f"frame {t:.3f}"


def summarize_timeline(engine: Engine, lines: Iterable[tuple[float, str]], *, options: Options | None = None,
                       system: str | None = None, stats: Stats | None = None,
                       limit: int = TIMELINE_CHARS) -> tuple[str | None, str | None]:
    """(summary, error): one text-only request, or parts summarized first when the timeline is long."""
    opts = (options or Options()).with_defaults(max_tokens=400, temperature=0.0)
    entries = [f"[{clock(t)}] {' '.join(text.split())}" for t, text in lines]
    for _ in range(6):  # each round shrinks the timeline several-fold; the cap only guards a degenerate limit
        parts: list[list[str]] = [[]]
        size = 0  # characters in the last part, newlines included
        for entry in entries:
            if parts[-1] and size + len(entry) > limit:
                parts.append([])
                size = 0
            parts[-1].append(entry[:limit])
            size += len(entry[:limit]) + 1
        replies = engine.generate([Request.simple(fill(builtin_prompt("video-summary"), timeline="\n".join(p)),
                                                  system=system, options=opts) for p in parts])
        for reply in replies:
            if stats is not None:
                stats.add(reply.stats)
            if reply.error:
                return None, f"the summary failed: {reply.error}"
        if len(replies) == 1:
            return replies[0].text.strip(), None
        # Each part's summary becomes one line of a shorter timeline, stamped with where the part starts.
        entries = [f"{p[0].split(']')[0]}] {' '.join(r.text.split())}" for p, r in zip(parts, replies)]
    return "\n".join(entries), None


def render_video(result: VideoResult, fmt: str) -> str:
    if fmt == "json":
        import json

        return json.dumps(result.to_dict(), ensure_ascii=False)
    if fmt in ("srt", "vtt"):
        return _captions(result, fmt)
    return _markdown(result)


def _markdown(r: VideoResult) -> str:
    length = f"{clock(r.duration, decimals=0)}" if r.duration is not None else "unknown length"
    lines = [f"# {Path(r.source).name}", "",
             f"{length} · {len(r.scenes)} scene(s) · {len(r.frames)} frame(s) described · sampling: {r.sampling}"]
    if r.summary:
        lines += ["", "## Summary", "", r.summary]
    elif r.error:
        lines += ["", f"_{r.error}_"]
    if r.query is not None:
        hits = [clock(f.t) for f in r.frames if f.match]
        lines += ["", f"## Query: {r.query}", "", f"matches at {', '.join(hits)}" if hits else "no frame matches"]
    lines += ["", "## Timeline", ""]
    for f in r.frames:
        mark = " **[match]**" if f.match else ""
        body = f.text or (f"_(failed: {f.error})_" if f.error else "_(no description)_")
        lines.append(f"- **{clock(f.t)}** (scene {f.scene + 1}){mark} {' '.join(body.split())}")
    return "\n".join(lines)


def _captions(r: VideoResult, fmt: str) -> str:
    """One cue per described frame, from its scene's start (or its own time) to the next cue."""
    from datetime import timedelta

    import srt

    starts: list[float] = []
    seen: set[int] = set()
    scene_start = {i: s.start for i, s in enumerate(r.scenes)}
    for f in r.frames:
        first = f.scene not in seen
        seen.add(f.scene)
        starts.append(scene_start.get(f.scene, f.t) if first else f.t)
    end_of_video = r.duration if r.duration is not None else (r.frames[-1].t + 3 if r.frames else 0)
    cues = []
    for i, f in enumerate(r.frames):
        end = starts[i + 1] if i + 1 < len(starts) else max(end_of_video, starts[i] + 1)
        text = " ".join((f.text or "").split()) or "…"
        cues.append(srt.Subtitle(i + 1, timedelta(seconds=starts[i]), timedelta(seconds=max(end, starts[i] + 0.5)),
                                 ("[match] " if f.match else "") + text))
    body = srt.compose(cues, reindex=False)
    if fmt == "srt":
        return body
    # WebVTT is SRT with a header and dots in the times; srt has no VTT writer and webvtt-py reads more than writes.
    import re

    return "WEBVTT\n\n" + re.sub(r"(\d\d:\d\d:\d\d),(\d\d\d)", r"\1.\2", body)
