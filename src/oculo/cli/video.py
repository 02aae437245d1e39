"""`oculo video`: sample a video's frames, describe them with their times, summarize, and write captions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..engines import open_engine
from ..errors import InputError
from .common import (build_settings, companion_engine, engine_options, gather_inputs, input_options, prompt_file_option,
                     task_prompt)

__all__ = ["video"]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv", ".3gp")
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
def video(files: tuple[str, ...], model: str | None, engine: str | None, system: str | None, fps: float | None,
          scenes: bool, max_gap: float, min_scene: float, query: str | None, summary_model: str | None,
          no_summary: bool, fmt: str, out: Path | None, store: str | None, force: bool, **kw: Any) -> None:
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
    eng = open_engine(engine, model, settings)
    summary_eng = companion_engine(engine, summary_model, settings) if summary_model and not no_summary else None
    # A frame's description depends on the frame and what is asked, not on how frames were chosen: a rerun
    # with another --max-gap reuses every frame at the same time.
    what = {"prompt": template, "query": query, "system": system, "max_pixels": eng.capabilities().max_pixels}
    spec = JobSpec("video", eng, what, options_key(options), store=store, force=force)
    failed = 0
    for path in paths:
        def progress(note: Any, name: str = path.name) -> None:
            click.echo(f"oculo: {name}: frame at {note.t:.1f} s described", err=True)

        with PartCache(spec, path) as cache:
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
            click.echo(f"oculo: wrote {target}", err=True)
        bad = [f for f in result.frames if f.error]
        for f in bad:
            click.echo(f"oculo: error: {path}: frame at {f.t:.1f} s: {f.error}", err=True)
        if result.error:
            click.echo(f"oculo: error: {path}: {result.error}", err=True)
        failed += bool(bad or result.error)
        cached = f" ({result.cached} from the store)" if result.cached else ""
        click.echo(f"oculo: {path.name}: {len(result.scenes)} scene(s), {len(result.frames)} frame(s) described"
                   f"{cached}; job {job_id}", err=True)
    if failed:
        raise SystemExit(1)
