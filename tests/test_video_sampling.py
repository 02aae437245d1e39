"""Video sampling: scene cuts found (similar shots too), dissolves one boundary each, flashes/pans/fades not over-split,
fixed-rate timing, flat memory, clear errors."""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path

import pytest

av = pytest.importorskip("av")
pytest.importorskip("numpy")

from PIL import Image

from oculo.errors import InputError
from oculo.media.video import SampledFrame, Scene, VideoSampler, probe
from oculo.testing.videos import (
    Dissolve,
    Fade,
    Flash,
    Pan,
    Static,
    dissolves,
    duration,
    make_audio_only,
    make_long_video,
    make_video,
    picture,
    transitions,
)

# Still shots, slow and fast pans, a white flash inside a pan, a dimmer flash inside a still shot, a fade to black
# between two places and one back into the same place.
MIXED = [
    Static(3, seed=1), Pan(4, seed=2, speed=16), Flash(), Pan(3, seed=2, speed=16), Fade(1.0), Static(3, seed=3),
    Static(2, seed=4), Flash(3, brightness=150), Static(2, seed=4), Pan(4, seed=5, speed=24), Fade(1.0),
    Static(2, seed=5), Static(3, seed=6), Pan(3, seed=7, speed=40),
]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="module")
def mixed(videos) -> Path:
    path = videos / "mixed.mp4"
    make_video(path, MIXED, fps=25)
    return path


def sample(path, **kwargs) -> tuple[VideoSampler, list[SampledFrame]]:
    sampler = VideoSampler(path, **kwargs)
    return sampler, list(sampler.frames())


@pytest.mark.parametrize("codec,fps,suffix", [("libx264", 25, ".mp4"), ("mpeg4", 10, ".avi")])
def test_every_cut_found_and_no_extra_scenes(videos, codec, fps, suffix):
    path = videos / f"cuts-{codec}{suffix}"
    cuts = make_video(path, MIXED, fps=fps, codec=codec)
    expected_cuts, fades = transitions(MIXED, fps)
    assert cuts == expected_cuts and len(cuts) == 5 and len(fades) == 1
    sampler, frames = sample(path)
    scenes = sampler.scenes
    starts = [s.start for s in scenes[1:]]

    for cut in cuts:
        assert any(abs(start - cut) <= 0.5 for start in starts), f"cut at {cut}s missed; scene starts {starts}"
    # Any other boundary lies in the fade between two places, at most one per fade: flashes and pans add none.
    extra = [s for s in starts if not any(abs(s - cut) <= 0.5 for cut in cuts)]
    for a, b in fades:
        assert len([s for s in extra if a - 0.1 <= s <= b + 0.1]) <= 1
    assert all(any(a - 0.1 <= s <= b + 0.1 for a, b in fades) for s in extra), extra
    assert len(cuts) + 1 <= len(scenes) <= len(cuts) + 1 + len(fades)

    # The scenes tile the video, and each gets exactly one frame (none is longer than max_gap).
    assert [s.index for s in scenes] == list(range(len(scenes)))
    assert scenes[0].start == 0.0
    assert all(a.end == b.start for a, b in itertools.pairwise(scenes))
    assert scenes[-1].end == pytest.approx(duration(MIXED, fps), abs=0.05)
    assert [f.scene for f in frames] == list(range(len(scenes)))
    assert all(f.reason == "scene" for f in frames)
    for f in frames:
        assert scenes[f.scene].start <= f.t < scenes[f.scene].end
    assert sampler.frames_decoded == round(duration(MIXED, fps) * fps)
    assert sampler.frames_analysed <= duration(MIXED, fps) * 10 + 1


# Dissolves of 0.6-1.6 s between stills and pans (the picture changes completely, never through black), three into a
# pan that sets off at once from the blend's still end, and a flash.
DISSOLVES = [
    Static(2, seed=21), Dissolve(1.0), Static(2, seed=22), Dissolve(0.8), Pan(3, seed=18, speed=4), Dissolve(1.3),
    Pan(3, seed=19, speed=16), Dissolve(1.2), Static(1.5, seed=26), Flash(), Static(1.5, seed=26), Dissolve(1.0),
    Pan(3, seed=20, speed=16), Dissolve(1.6), Pan(2.5, seed=21, speed=30), Dissolve(0.6), Static(2, seed=28),
]


def test_transitions_report_dissolves_and_similar_shots():
    fps = 10
    segments = [Static(1, seed=1), Dissolve(1.0), Static(1, seed=2), Static(1, seed=3, like=2, share=0.5),
                Fade(0.6), Dissolve(0.4), Static(1, seed=4), Dissolve(0.5), Static(1, seed=4), Dissolve(0.5),
                Static(1, seed=5, like=4)]
    cuts, spans = transitions(segments, fps)
    assert cuts == [3.0]  # the similar shot is a hard cut all the same
    assert spans == [(1.0, 2.0), (4.0, 5.0), (7.5, 8.0)]  # a dissolve into the same place is no transition
    # Exactly one boundary is due only where the picture changes completely: not through black (a fade), nor into a
    # similar shot.
    assert dissolves(segments, fps) == [(1.0, 2.0)]
    with pytest.raises(ValueError, match="drawn `like` differently"):
        transitions([Static(1, seed=3, like=2), Static(1, seed=3)])
    with pytest.raises(ValueError, match="plain place"):
        transitions([Static(1, seed=3, like=2), Static(1, seed=4, like=3)])


def test_similar_pictures_share_the_given_part():
    base, like = picture(31, 160, 96), picture(32, 160, 96, like=31, share=0.6)
    same = (base == like).all(axis=2).mean()
    assert 0.58 <= same <= 0.62  # whole blocks of the other picture, in the same places
    assert (picture(32, 160, 96) == like).all(axis=2).mean() >= 0.38


def test_dissolve_frames_blend_the_two_pictures(videos):
    path = videos / "blend.mp4"
    make_video(path, [Static(1, seed=21), Dissolve(1.0), Static(1, seed=22)], fps=10)
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24").astype(float) for f in container.decode(video=0)]
    old, new, middle = frames[5], frames[25], frames[15]  # the dissolve is frames 10-19; 15 is 6/11 of the way
    assert abs(middle - (old * 5 + new * 6) / 11).mean() < 4  # encoding noise only
    assert min(abs(middle - old).mean(), abs(middle - new).mean()) > 20
    assert all(f.mean() > 40 for f in frames)  # never through black


@pytest.mark.parametrize("codec,fps,suffix", [("libx264", 25, ".mp4"), ("mpeg4", 10, ".avi")])
def test_each_dissolve_is_one_boundary_inside_it(videos, codec, fps, suffix):
    path = videos / f"dissolves-{codec}{suffix}"
    make_video(path, DISSOLVES, fps=fps, codec=codec)
    spans = dissolves(DISSOLVES, fps)
    assert len(spans) == 7 and transitions(DISSOLVES, fps) == ([], spans)
    sampler, frames = sample(path)
    scenes = sampler.scenes
    starts = [s.start for s in scenes[1:]]
    for a, b in spans:
        assert len([s for s in starts if a - 0.1 <= s <= b + 0.1]) == 1, f"dissolve {a}-{b}s; scene starts {starts}"
    assert len(scenes) == len(spans) + 1  # the flash and the pans add none
    # One frame a scene, each of its own shot's settled picture: none of a blend, none of the shot before or after.
    assert [f.scene for f in frames] == list(range(len(scenes)))
    shots: list[list] = []  # [start, end, seed] of each run of one place's own frames
    for i, seg in enumerate(DISSOLVES):
        if isinstance(seg, (Static, Pan)):
            start, end = duration(DISSOLVES[:i], fps), duration(DISSOLVES[:i + 1], fps)
            if shots and shots[-1][2] == seg.seed:
                shots[-1][1] = end
            else:
                shots.append([start, end, seg.seed])
    for f, (a, b, _) in zip(frames, shots, strict=True):
        assert a <= f.t < b and scenes[f.scene].start <= f.t < scenes[f.scene].end


@pytest.mark.parametrize("case", ["window-start-on-a-frame", "windows-inside-dissolves"])
def test_periodic_windows_and_dissolves_keep_frames_inside_their_scenes(videos, case):
    # A dissolve is found after it ends, so its half-way point can lie before a periodic window that already began and
    # sent a frame: the scene boundary then moves to that window's start. In the first video a window starts on a
    # frame (9.2 s at 30 fps); in the second, windows of half a second begin inside each dissolve.
    if case == "window-start-on-a-frame":
        segments = [Pan(3.67, seed=260, speed=8), Dissolve(1.0), Pan(3.59, seed=261, speed=8), Dissolve(1.26),
                    Static(2.01, seed=262)]
        fps, max_gap = 30, 2.5
    else:
        segments = [Static(2.3, seed=300), Dissolve(1.2), Static(2.0, seed=301), Dissolve(1.5),
                    Pan(2.5, seed=302, speed=8)]
        fps, max_gap = 25, 0.5
    path = videos / f"windows-{case}.mp4"
    make_video(path, segments, fps=fps)
    sampler, frames = sample(path, max_gap=max_gap, min_scene=0.3)
    scenes = sampler.scenes
    assert len(scenes) == 3 and all(a.end == b.start for a, b in itertools.pairwise(scenes))
    assert [f.reason for f in frames].count("periodic") >= 2
    for f in frames:
        assert scenes[f.scene].start <= f.t < scenes[f.scene].end, (f.t, f.scene, scenes)


def test_camera_motion_alone_makes_no_boundary(videos):
    # The rule: a pan, however far it goes, is one scene (covered by a periodic frame every max_gap); so is a camera
    # move that stops. Over 30 s at 10 px/s the 160-px frame shows entirely new ground about every 16 s.
    path = videos / "pan-30s.mp4"
    make_video(path, [Pan(30, seed=41, speed=10)], fps=10)
    sampler, frames = sample(path, max_gap=10)
    assert len(sampler.scenes) == 1
    assert [f.reason for f in frames] == ["scene", "periodic", "periodic"]
    path = videos / "move-and-stop.mp4"
    make_video(path, [Static(2, seed=42), Pan(2, seed=42, speed=16), Static(2, seed=42), Pan(1, seed=42, speed=8),
                      Static(2, seed=42)], fps=25)
    sampler, frames = sample(path)
    assert len(sampler.scenes) == 1 and len(frames) == 1
    # A dim flash right after a fast pan stays under the cut test's raised bar: it is no dissolve either (a jump to a
    # picture and back, with no blend between).
    path = videos / "pan-flash.mp4"
    make_video(path, [Pan(2.7, seed=43, speed=24), Flash(2, brightness=120), Pan(2.3, seed=43, speed=2)], fps=10)
    sampler, frames = sample(path)
    assert len(sampler.scenes) == 1


def test_a_dissolve_that_changes_little_is_no_boundary(videos):
    # Into a shot of the same set that differs in a fifth of the picture: like something fading in, no new scene.
    segments = [Static(2, seed=71), Dissolve(1.0), Static(2, seed=72, like=71, share=0.8)]
    path = videos / "small-dissolve.mp4"
    make_video(path, segments, fps=25)
    assert transitions(segments, 25)[1] == [(2.0, 3.0)] and dissolves(segments, 25) == []
    sampler, frames = sample(path)
    assert len(sampler.scenes) == 1 and len(frames) == 1


def test_cuts_between_similar_shots_are_found(videos):
    # Shots of one set that keep 50-60% of the picture (the rest other blocks), still and panning; a cut lies between
    # each two, and nothing else: the flash is no cut.
    segments = [Static(2, seed=51), Static(2, seed=52, like=51, share=0.6), Pan(3, seed=53, like=51, speed=12),
                Pan(2, seed=51, speed=12), Flash(), Pan(2, seed=51, speed=12), Static(2, seed=54, like=51, share=0.6)]
    path = videos / "similar.mp4"
    cuts = make_video(path, segments, fps=25)
    assert len(cuts) == 4 and transitions(segments, 25)[1] == []
    sampler, _ = sample(path)
    starts = [s.start for s in sampler.scenes[1:]]
    assert len(starts) == len(cuts)
    for cut in cuts:
        assert any(abs(start - cut) <= 0.5 for start in starts), f"cut at {cut}s missed; scene starts {starts}"


def test_flash_frames_are_never_chosen(videos):
    # A flash brightens everything and sharpens nothing, but its clipped edges could score high: it must not be sent.
    path = videos / "flash.mp4"
    make_video(path, [Static(1.5, seed=8), Flash(4, brightness=120), Static(1.5, seed=8)], fps=10)
    sampler, frames = sample(path)
    assert len(sampler.scenes) == 1 and len(frames) == 1
    assert not 1.5 <= frames[0].t < 1.9


def test_static_minute_costs_at_most_two_frames(videos):
    path = videos / "static.mp4"
    make_video(path, [Static(60, seed=11)], fps=5, size=(96, 64))
    sampler, frames = sample(path)
    assert 1 <= len(frames) <= 2
    assert frames[0].reason == "scene"
    assert len(sampler.scenes) == 1
    # The second window's sharpest frame is the same picture again: dropped as a near duplicate.
    assert len(frames) == 1 and sampler.duplicates_dropped == 1


def test_long_changing_scene_gets_periodic_frames(videos):
    # A slow pan that shows new ground all the time: one scene, one frame per 30 s window.
    path = videos / "long-pan.mp4"
    make_video(path, [Pan(65, seed=12, speed=3)], fps=5, size=(96, 64))
    sampler, frames = sample(path)
    assert len(sampler.scenes) == 1
    assert [f.reason for f in frames] == ["scene", "periodic", "periodic"]
    assert [int(f.t // 30) for f in frames] == [0, 1, 2]
    assert sampler.duplicates_dropped == 0


def test_fixed_rate_one_per_second(videos):
    path = videos / "ten.mp4"
    make_video(path, [Static(4, seed=1), Static(6, seed=2)], fps=10)
    sampler, frames = sample(path, fps=1)
    assert [f.t for f in frames] == pytest.approx(list(range(10)), abs=0.11)
    assert {f.reason for f in frames} == {"fps"}
    assert all(f.sharpness > 0 for f in frames)
    assert sampler.scenes == [Scene(0, 0.0, pytest.approx(10.0, abs=0.05))]


def test_fixed_rate_above_the_frame_rate_sends_every_frame_once(videos):
    path = videos / "two.mp4"
    make_video(path, [Static(2, seed=3)], fps=10)
    _, frames = sample(path, fps=30)
    assert len(frames) == 20


@pytest.mark.parametrize("mode", [{}, {"fps": 2}])
def test_frames_are_rgb_in_time_order_within_the_pixel_budget(mixed, mode):
    _, frames = sample(mixed, max_pixels=4000, **mode)
    assert len(frames) >= 6
    times = [f.t for f in frames]
    assert times == sorted(times) and len(set(times)) == len(times)
    for f in frames:
        assert isinstance(f.image, Image.Image) and f.image.mode == "RGB"
        w, h = f.image.size
        assert w * h <= 4000 and w * h > 4000 * 0.8
        assert w / h == pytest.approx(160 / 96, rel=0.05)


def test_full_size_without_a_budget(mixed):
    _, frames = sample(mixed, fps=0.5)
    assert {f.image.size for f in frames} == {(160, 96)}


def test_sideways_phone_video_comes_out_upright(videos):
    path = videos / "rotated.mp4"
    make_video(path, [Static(1, seed=4)], fps=10, size=(64, 32), rotation=90)
    with av.open(str(path)) as container:
        coded = next(container.decode(video=0)).to_image()
    _, frames = sample(path, fps=1)
    assert frames[0].image.size == (32, 64)
    assert frames[0].image.tobytes() == coded.transpose(Image.Transpose.ROTATE_90).tobytes()


def test_probe_reads_metadata(mixed):
    info = probe(mixed)
    assert (info.name, info.width, info.height) == (str(mixed), 160, 96)
    assert info.fps == pytest.approx(25)
    assert info.duration == pytest.approx(duration(MIXED, 25), abs=0.1)


_MEASURE = """
import gc, json, os, sys, tracemalloc
from oculo.media.video import VideoSampler

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def peaks(path):
    gc.collect()
    tracemalloc.start()
    try:
        rss0 = peak = rss()
        sampler = VideoSampler(path)
        n = 0
        for _ in sampler.frames():
            n += 1
            peak = max(peak, rss())
        assert sampler.scenes[-1].end > 0
        return tracemalloc.get_traced_memory()[1], max(peak, rss()) - rss0, n
    finally:
        tracemalloc.stop()

short, hour = sys.argv[1:3]
peaks(short)  # warm-up: imports, FFmpeg's and numpy's first allocations
print(json.dumps([peaks(short), peaks(hour)]))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc")
def test_memory_stays_flat_for_an_hour(videos):
    import json
    import subprocess
    import sys

    short, hour = videos / "five-minutes.mp4", videos / "hour.mp4"
    make_long_video(short, 300)
    cuts = make_long_video(hour, 3600)
    assert len(cuts) >= 10
    # A fresh process: what this one already holds (torch, other tests' arenas) would blur the RSS figures.
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(short), str(hour)], capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    (short_peak, short_rss, _), (hour_peak, hour_rss, sent) = json.loads(proc.stdout)
    assert sent >= len(cuts) + 1
    # Keeping every analysed frame's arrays would cost ~70 MB, every candidate image ever converted ~9 MB.
    assert hour_peak < 1.5 * short_peak + 128 * 1024, (short_peak, hour_peak)
    assert hour_rss < short_rss + 8 * 2**20, (short_rss, hour_rss)


def _garbled(path: Path, tmp: Path) -> Path:
    """The same container with every video packet's bytes replaced by noise."""
    data = bytearray(path.read_bytes())
    with av.open(str(path)) as container:
        spans = [(p.pos, p.size) for p in container.demux(video=0) if p.size and p.pos is not None]
    rng = random.Random(3)
    for pos, size in spans:
        data[pos:pos + size] = rng.randbytes(size)
    out = tmp / "garbled.mkv"
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("kind", ["text", "empty", "missing", "audio-mp2", "audio-aac", "folder", "undecodable"])
def test_bad_inputs_give_one_line_input_errors(tmp_path, kind):
    if kind == "text":
        path = tmp_path / "x.mp4"
        path.write_text("this is not a video\n")
    elif kind == "empty":
        path = tmp_path / "empty.mp4"
        path.write_bytes(b"")
    elif kind == "missing":
        path = tmp_path / "nowhere.mp4"
    elif kind == "audio-mp2":
        path = tmp_path / "tone.mp2"
        make_audio_only(path)
    elif kind == "audio-aac":
        path = tmp_path / "tone.m4a"
        make_audio_only(path, codec="aac")
    elif kind == "folder":
        path = tmp_path / "clips.mp4"
        path.mkdir()
    else:
        good = tmp_path / "good.mkv"
        make_video(good, [Static(1, seed=1)], fps=10)
        path = _garbled(good, tmp_path)
    with pytest.raises(InputError) as err:
        sample(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    expected = {"text": "not a readable video", "empty": "empty", "missing": "no such file",
                "audio-mp2": "audio only", "audio-aac": "audio only", "folder": "folder",
                "undecodable": "no video frame could be decoded"}[kind]
    assert expected in message


@pytest.mark.parametrize("fps", [0, -1, float("nan"), float("inf")])
def test_rate_must_be_positive(mixed, fps):
    with pytest.raises(ValueError, match="fps must be a positive"):
        VideoSampler(mixed, fps=fps)
