"""`oculo video` end to end on the tiny in-process model: timeline, summary, query, captions, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oculo.engines import Options, open_engine
from oculo.tasks.video import clock, summarize_timeline
from oculo.testing.videos import Flash, Static, make_video

from .conftest import cli_env, oculo


@pytest.fixture(scope="module")
def three_scenes(tmp_path_factory) -> tuple[Path, list[float]]:
    path = tmp_path_factory.mktemp("video") / "three.mp4"
    cuts = make_video(path, [Static(3, 1), Static(2, 2), Flash(2), Static(1, 2), Static(3, 3)])
    return path, cuts


def _video(*args: str, env=None):
    return oculo("video", *args, env=env or cli_env())


def test_json_timeline_follows_the_scenes(tiny_qwen, three_scenes):
    path, cuts = three_scenes
    proc = _video(str(path), "--engine", "transformers", "-m", str(tiny_qwen), "--max-tokens", "6",
                  "--format", "json")
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout.decode())
    assert out["sampling"] == "scenes" and abs(out["duration"] - 9.0) < 0.3
    starts = [s["start"] for s in out["scenes"]]
    assert len(starts) == 3 and all(min(abs(s - c) for s in starts) <= 0.5 for c in cuts)  # the flash is no cut
    assert [f["scene"] for f in out["frames"]] == [0, 1, 2]
    for f in out["frames"]:
        scene = out["scenes"][f["scene"]]
        assert scene["start"] <= f["t"] <= scene["end"] and f["text"]
    assert out["summary"] and out["stats"]["generated_tokens"] > 0


def test_fixed_rate_and_no_summary(tiny_qwen, three_scenes):
    path, _ = three_scenes
    proc = _video(str(path), "--engine", "transformers", "-m", str(tiny_qwen), "--max-tokens", "3",
                  "--format", "json", "--fps", "1", "--no-summary")
    out = json.loads(proc.stdout.decode())
    assert out["sampling"] == "fps=1" and [round(f["t"]) for f in out["frames"]] == list(range(10))  # 9.2 s
    assert out["summary"] is None


def test_query_marks_frames_with_schema_valid_answers(tiny_terse, three_scenes):
    path, _ = three_scenes
    proc = _video(str(path), "--engine", "transformers", "-m", str(tiny_terse), "--query", "a red car",
                  "--format", "json", "--no-summary")
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout.decode())
    assert out["query"] == "a red car" and all(isinstance(f["match"], bool) for f in out["frames"])
    assert out["matches"] == [f["t"] for f in out["frames"] if f["match"]]


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_captions_cover_the_video_in_order(tiny_qwen, three_scenes, tmp_path, fmt):
    import srt

    path, _ = three_scenes
    target = tmp_path / f"three.{fmt}"
    proc = _video(str(path), "--engine", "transformers", "-m", str(tiny_qwen), "--max-tokens", "4",
                  "--format", fmt, "--no-summary", "--out", str(target))
    assert proc.returncode == 0, proc.stderr.decode()
    text = target.read_text()
    if fmt == "vtt":
        assert text.startswith("WEBVTT\n\n") and "," not in text.split("-->")[0].splitlines()[-1]
        text = text.removeprefix("WEBVTT\n\n").replace(".", ",")  # back to SRT's times, to parse it
    cues = list(srt.parse(text))
    assert len(cues) == 3 and cues[0].start.total_seconds() == 0
    assert all(a.end == b.start for a, b in zip(cues, cues[1:]))
    assert abs(cues[-1].end.total_seconds() - 9.0) < 0.3


def test_markdown_lists_summary_and_timeline(tiny_qwen, three_scenes):
    path, _ = three_scenes
    proc = _video(str(path), "--engine", "transformers", "-m", str(tiny_qwen), "--max-tokens", "4")
    md = proc.stdout.decode()
    assert md.startswith("# three.mp4") and "## Summary" in md and md.count("- **0:00:") == 3


def test_a_static_minute_costs_at_most_two_frames(tiny_qwen, tmp_path):
    path = tmp_path / "static.mp4"
    make_video(path, [Static(60, 7)], fps=5, size=(96, 64))
    proc = _video(str(path), "--engine", "transformers", "-m", str(tiny_qwen), "--max-tokens", "3",
                  "--format", "json", "--no-summary")
    out = json.loads(proc.stdout.decode())
    assert 1 <= len(out["frames"]) <= 2 and len(out["scenes"]) == 1


def test_long_timelines_are_summarized_in_parts(tiny_qwen):
    eng = open_engine("transformers", str(tiny_qwen))
    calls = []
    generate = eng.generate

    def counted(requests):  # the real engine, its calls counted
        calls.append(len(requests))
        return generate(requests)

    eng.generate = counted  # type: ignore[method-assign]
    lines = [(t * 10.0, f"a person walks past the shelf number {t}") for t in range(40)]
    summary, error = summarize_timeline(eng, lines, limit=400, options=Options(max_tokens=5))
    assert error is None and summary is not None
    assert calls[0] > 1 and calls[-1] == 1  # parts first, then one summary of their summaries


def test_clock_reads_like_a_player():
    assert clock(0) == "0:00:00.0" and clock(83.44) == "0:01:23.4" and clock(3725, decimals=0) == "1:02:05"


def test_bad_videos_are_one_line(tmp_path, tiny_qwen):
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video")
    proc = _video(str(fake), "--engine", "transformers", "-m", str(tiny_qwen))
    err = proc.stderr.decode().strip()
    assert proc.returncode == 1 and len(err.splitlines()) == 1 and "notes.mp4" in err
    both = _video(str(fake), "--fps", "1", "--scenes")
    assert both.returncode == 2 and "not both" in both.stderr.decode()


def test_through_ollama_with_a_summary_model(served, three_scenes):
    path, _ = three_scenes
    env = cli_env(OLLAMA_HOST=served.removeprefix("http://"))
    proc = _video(str(path), "--engine", "ollama", "-m", "tiny", "--summary-model", "tiny", "--max-tokens", "5",
                  "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout.decode())
    assert len(out["frames"]) == 3 and out["summary"] and out["stats"]["generated_tokens"] > 0


def test_a_rerun_takes_described_frames_and_the_summary_from_the_store(tiny_qwen, three_scenes, tmp_path):
    path, _ = three_scenes
    env = cli_env(OCULO_STORE=str(tmp_path / "jobs.sqlite3"))
    args = (str(path), "--engine", "transformers", "-m", str(tiny_qwen), "--max-tokens", "5", "--format", "json",
            "--progress", "plain")  # one video into a pipe prints its summary only when asked
    first = _video(*args, env=env)
    assert first.returncode == 0 and "from the store" not in first.stderr.decode()
    again = _video(*args, "--max-gap", "20", env=env)  # other sampling settings, the same frames
    assert "3 frame(s) described (3 from the store)" in again.stderr.decode()
    one, two = json.loads(first.stdout), json.loads(again.stdout)
    assert two["frames"] == one["frames"] and two["summary"] == one["summary"]
    assert two["stats"]["generated_tokens"] in (None, 0)  # nothing generated: every part came from the store
    forced = _video(*args, "--force", env=env)
    assert "from the store" not in forced.stderr.decode()
    listing = oculo("jobs", env=env).stdout.decode()
    assert "video" in listing


def test_progress_as_json_lines(tiny_qwen, three_scenes):
    path, _ = three_scenes
    proc = _video(str(path), "--engine", "transformers", "-m", str(tiny_qwen), "--max-tokens", "3", "--no-summary",
                  "--progress", "json")
    events = [json.loads(line) for line in proc.stderr.decode().splitlines() if line.startswith("{")]
    assert events[0]["event"] == "progress" and events[-1]["event"] == "finished"
    assert events[-1]["frames"] == 3 and abs(events[-1]["duration"] - 9.2) < 0.3
    quiet = _video(str(path), "--engine", "transformers", "-m", str(tiny_qwen), "--max-tokens", "3", "--no-summary",
                   "--progress", "off")
    assert quiet.stderr.decode() == ""  # --progress off is as quiet as -q: nothing but errors
