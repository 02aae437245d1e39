"""`oculo video`: sample a video's frames, describe them with their times, summarize, and write captions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..errors import InputError
from .common import (
    build_settings,
    companion_engine,
    engine_options,
    gather_inputs,
    input_options,
    open_checked_engine,
    prompt_file_option,
    refuse,
    task_prompt,
)
from .output import Output, quiet_option

__all__ = ["video"]

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv",
                              ".3gp"})
_SUFFIX = {"markdown": ".md", "json": ".json", "srt": ".srt", "vtt": ".vtt"}


@click.command()
@click.argument("files", nargs=-1)
@input_options
@engine_options
@click.option("--fps", type=click.FloatRange(min=0, min_open=True),
              help="Sample at a fixed rate (1 = one frame per second) instead of by scene.")
@click.option("--scenes", is_flag=True, help="Sample by scene (the default): the sharpest frame of each scene.")
@click.option("--max-gap", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="In long scenes, also a frame every this many seconds (near-duplicates dropped).")
@click.option("--min-scene", type=click.FloatRange(min=0), default=0.6, show_default=True,
              help="Shortest scene in seconds; quicker changes are not cuts.")
@click.option("--query", help="Mark the frames that show this, e.g. 'a person at the door'.")
@click.option("--summary-model", help="Summarize with this model (may be text-only); default: the same model.")
@click.option("--no-summary", is_flag=True, help="Only the timeline.")
@click.option("--format", "fmt", type=click.Choice(("markdown", "json", "srt", "vtt")), default="markdown",
              show_default=True, help="A Markdown timeline, JSON, or SRT / WebVTT captions.")
@click.option("--out", "out", type=click.Path(path_type=Path),
              help="Write to FILE (one video) or into DIR, one file per video, instead of stdout.")
@prompt_file_option
@click.option("--store", "store", envvar="OCULO_STORE", type=click.Path(dir_okay=False),
              help="Job store (SQLite): a rerun skips the frames already described. [env: OCULO_STORE]")
@click.option("--force", is_flag=True, help="Describe every frame again, even those in the job store.")
@click.option("--progress", "progress_mode", type=click.Choice(("auto", "bar", "plain", "json", "off")),
              default="auto", show_default=True,
              help="Progress on stderr: a bar on a terminal, a line every few seconds otherwise (none for one "
                   "video into a pipe), or JSON; off = as -q.")
@quiet_option
def video(files: tuple[str, ...], model: str | None, engine: str | None, system: str | None, fps: float | None,
          scenes: bool, max_gap: float, min_scene: float, query: str | None, summary_model: str | None,
          no_summary: bool, fmt: str, out: Path | None, store: str | None, force: bool, progress_mode: str,
          quiet: bool, **kw: Any) -> None:
    """Describe videos: frames sampled by scene (or --fps), each described with its time, then summarized.

    \b
    Decoded with PyAV (no system ffmpeg needed); memory stays flat however long the video.
    Examples:
      oculo video lecture.mp4 --summary-model llama3.2:3b
      oculo video door.mp4 --query "a person at the door" --format json
      oculo video talk.mp4 --format srt --out talk.srt
    """
    from ..batch.jobs import JobSpec, PartCache, options_key
    from ..media.sources import expand
    from ..tasks.video import describe_video, render_video

    if fps and scenes:
        raise click.UsageError("choose --fps F or --scenes, not both")
    if fps:
        refuse("max_gap", "min_scene", why="is for sampling by scene; --fps samples at a fixed rate")
    if no_summary:
        refuse("summary_model", why="writes the summary; --no-summary leaves it out")
    inputs, filters = gather_inputs(files, kw)
    template = task_prompt(kw, "video-frame")
    settings, options = build_settings(kw)
    paths = []
    for src in expand(inputs, extensions=VIDEO_EXTENSIONS, **filters):
        if src.path is None:
            raise InputError(f"{src.name}: videos must be files; download it first")
        paths.append(src.path)
    if out is not None and len(paths) > 1 and not out.is_dir():
        raise InputError(f"{out}: several videos need --out to be an existing folder")
    output = Output(quiet=quiet, progress=progress_mode, inputs=len(paths))
    eng = open_checked_engine(engine, model, settings)
    summary_eng = companion_engine(engine, summary_model, settings) if summary_model and not no_summary else None
    # A frame's description depends on the frame and what is asked, not on how frames were chosen: a rerun
    # with another --max-gap reuses every frame at the same time.
    what = {"prompt": template, "query": query, "system": system, "max_pixels": eng.capabilities().max_pixels}
    spec = JobSpec("video", eng, what, options_key(options), store=store, force=force, command=sys.argv)
    failed = 0
    for path in paths:
        with PartCache(spec, path) as cache, VideoProgress(path, output.progress) as progress:
            result = describe_video(path, eng, fps=fps, max_gap=max_gap, min_scene=min_scene, query=query,
                                    prompt=template, summary_engine=summary_eng, summarize=not no_summary,
                                    options=options, system=system, on_frame=progress, cache=cache)
            job_id = cache.job_id
        text = render_video(result, fmt)
        if out is None:
            click.echo(text)
        else:
            target = out / (path.stem + _SUFFIX[fmt]) if out.is_dir() else out
            target.write_text(text + "\n", encoding="utf-8")
            output.note(f"wrote {target}")
        bad = [f for f in result.frames if f.error]
        for f in bad:
            output.error(f"frame at {f.t:.1f} s: {f.error}", str(path))
        if result.error:
            output.error(result.error, str(path))
        failed += bool(bad or result.error)
        cached = f" ({result.cached} from the store)" if result.cached else ""
        output.summary(f"{path.name}: {len(result.scenes)} scene(s), {len(result.frames)} frame(s) described"
                       f"{cached}; job {job_id}")
    output.finish(failed=failed)


class VideoProgress:
    """How far into the video the described frames have reached: a bar, throttled lines, or JSON lines."""

    def __init__(self, path: Path, mode: str, *, interval_s: float = 5.0) -> None:
        import sys
        import time

        from ..media.video import probe

        self.name, self.clock, self.interval_s = path.name, time.monotonic, interval_s
        self.duration = probe(path).duration
        self.mode = ("bar" if sys.stderr.isatty() else "plain") if mode == "auto" else mode
        self.frames = 0
        self.started = self.clock()
        self.last_emit: float | None = None
        self.t = 0.0
        self._bar: Any = None
        if self.mode == "bar":
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[at]}"),
                                 TextColumn("{task.fields[frames]}"), TimeRemainingColumn(), transient=False)
            self._task = self._bar.add_task(self.name, total=self.duration or None, at="", frames="")
            self._bar.start()

    def __call__(self, note: Any) -> None:
        from ..tasks.video import clock

        self.frames += 1
        self.t = note.t
        if self.mode == "off":
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=note.t, at=self._at(clock), frames=f"{self.frames} frames")
            return
        now = self.clock()
        if self.last_emit is not None and now - self.last_emit < self.interval_s:
            return
        self.last_emit = now
        self._emit(clock)

    def _at(self, clock: Any) -> str:
        return f"{clock(self.t, decimals=0)} of {clock(self.duration, decimals=0)}" if self.duration else \
            clock(self.t, decimals=0)

    def _emit(self, clock: Any, final: bool = False) -> None:
        import json

        if self.mode == "json":
            line = json.dumps({"event": "finished" if final else "progress", "source": self.name,
                               "t": round(self.t, 3), "duration": self.duration, "frames": self.frames,
                               "seconds": round(self.clock() - self.started, 3)})
        else:
            line = f"oculo: {self.name}: {self._at(clock)}, {self.frames} frame(s) described"
        click.echo(line, err=True)

    def __enter__(self) -> VideoProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        from ..tasks.video import clock

        if self._bar is not None:
            self._bar.stop()
        elif self.mode == "json" and self.frames:  # plain output ends with the command's own summary line
            self._emit(clock, final=True)
