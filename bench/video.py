"""Benchmark: scene-mode sampling vs fixed 1 fps on synthetic videos with known cuts.

    python bench/video.py [--videos 9] [--minutes 1.5] [--size 320x180] [--fps 25] [--seed 0]

Each video is a random run of shots (stills, slow and faster pans, some with a white or dimmer flash inside, some
joined by a fade to black, some by a dissolve, some cut to a similar shot that keeps 40-60% of the picture). For each
mode it reports: the share of hard cuts caught within 0.5 s (scene mode: a scene starts within 0.5 s of the cut; 1 fps:
a sampled frame lies in [cut, cut + 0.5 s]), the same for the cuts to a similar shot alone, the share of dissolves
caught (scene mode: exactly one scene starts inside the dissolve, give or take 0.1 s), the share of shots the model
gets at least one frame of, frames sent per minute of video, and the seconds spent decoding and sampling (one thread of
Python, FFmpeg threads as PyAV's "AUTO" gives them), next to a decode-only pass over the same file.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import av

try:
    import oculo  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from oculo.media.video import VideoSampler
from oculo.testing.videos import (
    Dissolve,
    Fade,
    Flash,
    Pan,
    Segment,
    Static,
    dissolves,
    duration,
    make_video,
    transitions,
)

WINDOW = 0.5  # seconds a cut may be late (or, for scene boundaries, early) and still count as caught
SLACK = 0.1  # seconds a boundary may lie outside a dissolve and still count as inside it (one analysed frame)


def make_segments(rng: random.Random, seconds: float, first_seed: int) -> list[Segment]:
    """Shots of 2-20 s until `seconds`: 3 in 7 still, the rest panning; 1 in 4 with a flash; 1 in 5 faded into, 1 in 5
    dissolved into, and 1 in 4 of the rest cut to from a similar shot (drawn like it, keeping 40-60% of the picture)."""
    segments: list[Segment] = []
    seed, total = first_seed, 0.0
    root: int | None = None  # the plain place the last shot is drawn from
    while total < seconds:
        shot = round(rng.uniform(2, 20), 2)
        speed = rng.choice([0, 0, 0, 4, 8, 16, 30])  # pixels a second; 0 is a still shot
        join = rng.random() if segments else 1.0
        like = root if join >= 0.4 and rng.random() < 0.25 else None
        share = round(rng.uniform(0.4, 0.6), 2)

        def take(length: float, place: int = seed, speed: float = speed, like: int | None = like,
                 share: float = share) -> Segment:
            if speed:
                return Pan(length, place, speed=speed, like=like, share=share)
            return Static(length, place, like=like, share=share)

        if join < 0.2:
            segments.append(Fade(round(rng.uniform(0.6, 1.6), 2)))
        elif join < 0.4:
            segments.append(Dissolve(round(rng.uniform(0.6, 1.6), 2)))
        if rng.random() < 0.25 and shot > 3:
            part = round(rng.uniform(1, shot - 1), 2)
            flash = Flash(rng.choice([1, 2, 3]), brightness=rng.choice([255, 255, 150]))
            segments += [take(part), flash, take(round(shot - part, 2))]
        else:
            segments.append(take(shot))
        total += shot
        root = like if like is not None else seed
        seed += 1
    return segments


def similar_cuts(segments: list[Segment], fps: int) -> list[float]:
    """The times of the hard cuts into a shot drawn like the one before it."""
    cuts, _ = transitions(segments, fps)
    out = []
    for i, seg in enumerate(segments[1:], 1):
        if isinstance(seg, (Static, Pan)) and seg.like is not None and isinstance(segments[i - 1], (Static, Pan)):
            out += [c for c in cuts if abs(c - duration(segments[:i], fps)) < 1e-6]
    return out


def shots(segments: list[Segment], fps: int) -> list[list[tuple[float, float]]]:
    """Each shot (a run of one place's segments) as the intervals its own frames fill, flashes and fades left out."""
    out: list[list[tuple[float, float]]] = []
    t, seed = 0.0, None
    for seg in segments:
        length = duration([seg], fps)
        if isinstance(seg, (Static, Pan)):
            if seg.seed != seed:
                out.append([])
                seed = seg.seed
            out[-1].append((t, t + length))
        t += length
    return out


def decode_only(path: Path) -> float:
    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - start


def evaluate(path: Path, segments: list[Segment], fps: int, mode: dict) -> dict:
    cuts, joins = transitions(segments, fps)  # joins: the fades and dissolves between shots
    similar = similar_cuts(segments, fps)
    blends = dissolves(segments, fps)
    start = time.perf_counter()
    sampler = VideoSampler(path, **mode)
    frames = list(sampler.frames())
    secs = time.perf_counter() - start
    times = [f.t for f in frames]
    if "fps" in mode:
        def hit(c: float) -> bool:
            return any(c - 1e-6 <= t <= c + WINDOW for t in times)
        extra = stray = blended = 0
    else:
        starts = [s.start for s in sampler.scenes[1:]]

        def hit(c: float) -> bool:
            return any(abs(s - c) <= WINDOW for s in starts)
        extra = sum(not any(abs(s - c) <= WINDOW for c in cuts) for s in starts)
        stray = sum(not any(abs(s - c) <= WINDOW for c in cuts) and not any(a - SLACK <= s <= b + SLACK
                                                                          for a, b in joins) for s in starts)
        blended = sum(sum(a - SLACK <= s <= b + SLACK for s in starts) == 1 for a, b in blends)
    seen = sum(any(a - 1e-6 <= t < b for a, b in spans for t in times) for spans in shots(segments, fps))
    return {"cuts": len(cuts), "caught": sum(map(hit, cuts)), "similar": len(similar),
            "similar_caught": sum(map(hit, similar)), "dissolves": len(blends), "dissolves_caught": blended,
            "shots": len(shots(segments, fps)), "seen": seen, "frames": len(frames), "seconds": secs,
            "extra_boundaries": extra, "stray_boundaries": stray,
            "decoded": sampler.frames_decoded, "analysed": sampler.frames_analysed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=9, help="number of generated videos (default 9)")
    ap.add_argument("--minutes", type=float, default=1.5, help="length of each video (default 1.5)")
    ap.add_argument("--size", default="320x180", help="frame size (default 320x180)")
    ap.add_argument("--fps", type=int, default=25, help="frame rate of the generated videos (default 25)")
    ap.add_argument("--seed", type=int, default=0, help="random seed for the shot lists (default 0)")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    rng = random.Random(args.seed)

    keys = ("cuts", "caught", "similar", "similar_caught", "dissolves", "dissolves_caught", "shots", "seen", "frames",
            "seconds", "extra_boundaries", "stray_boundaries", "decoded", "analysed")
    totals = {m: dict.fromkeys(keys, 0) for m in ("scene", "fps1")}
    decode_s = 0.0
    minutes = 0.0
    fades = flashes = 0
    with tempfile.TemporaryDirectory(prefix="oculo-bench-") as tmp:
        for i in range(args.videos):
            segments = make_segments(rng, args.minutes * 60, first_seed=1000 * i)
            path = Path(tmp) / f"video_{i}.mp4"
            make_video(path, segments, fps=args.fps, size=(width, height))
            minutes += duration(segments, args.fps) / 60
            fades += len(transitions(segments, args.fps)[1]) - len(dissolves(segments, args.fps))
            flashes += sum(isinstance(s, Flash) for s in segments)
            decode_only(path)  # warm-up: file cache, FFmpeg's first allocations
            decode_s += decode_only(path)
            for label, mode in (("scene", {}), ("fps1", {"fps": 1.0})):
                for key, value in evaluate(path, segments, args.fps, mode).items():
                    totals[label][key] += value

    def share(t: dict, part: str, whole: str) -> float | None:
        return round(t[part] / t[whole], 3) if t[whole] else None

    def figures(t: dict) -> dict:
        return {
            "cut_recall": share(t, "caught", "cuts"),
            "similar_cut_recall": share(t, "similar_caught", "similar"),
            "shots_seen": round(t["seen"] / t["shots"], 3),
            "frames_per_min": round(t["frames"] / minutes, 2),
            "seconds": round(t["seconds"], 3),
            "x_realtime": round(minutes * 60 / t["seconds"], 1),
        }

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.1%}"

    scene, fixed = figures(totals["scene"]), figures(totals["fps1"])
    scene["dissolves_caught"] = share(totals["scene"], "dissolves_caught", "dissolves")
    t = totals["scene"]
    cuts, similar, blends = t["cuts"], t["similar"], t["dissolves"]
    print(f"{args.videos} videos, {minutes:.1f} min total, {width}x{height} at {args.fps} fps (H.264): {cuts} hard "
          f"cuts ({similar} to a similar shot), {fades} fades and {blends} dissolves between shots, {flashes} flashes; "
          f"Python {platform.python_version()}, PyAV {av.__version__}")
    print(f"{'mode':<10}{'cuts caught':>13}{'similar':>10}{'dissolves':>11}{'shots seen':>12}{'frames/min':>12}"
          f"{'seconds':>10}{'x realtime':>12}")
    for label, fig in (("scene", scene), ("fixed 1fps", fixed)):
        print(f"{label:<10}{pct(fig['cut_recall']):>13}{pct(fig['similar_cut_recall']):>10}"
              f"{pct(fig.get('dissolves_caught')):>11}{pct(fig['shots_seen']):>12}{fig['frames_per_min']:>12.2f}"
              f"{fig['seconds']:>10.2f}{fig['x_realtime']:>12.0f}")
    print(f"decode only: {decode_s:.2f} s; scene mode analysed {t['analysed']} of {t['decoded']} frames; boundaries "
          f"not at a cut: {t['extra_boundaries']} (at most {fades + blends} belong in fades and dissolves), of which "
          f"{t['stray_boundaries']} in neither")
    frames_ratio = fixed["frames_per_min"] / scene["frames_per_min"]
    time_ratio = scene["seconds"] / fixed["seconds"]
    print(f"scene mode sends {frames_ratio:.1f}x fewer frames than 1 fps, catches {scene['cut_recall']:.0%} of cuts "
          f"vs {fixed['cut_recall']:.0%}, and takes {time_ratio:.2f}x the time ({scene['seconds'] / decode_s:.2f}x "
          "a bare decode)")
    print(json.dumps({
        "bench": "video",
        "videos": args.videos,
        "minutes": round(minutes, 2),
        "size": f"{width}x{height}",
        "fps": args.fps,
        "cuts": cuts,
        "similar_cuts": similar,
        "fades": fades,
        "dissolves": blends,
        "flashes": flashes,
        "scene": scene | {"extra_boundaries": t["extra_boundaries"], "stray_boundaries": t["stray_boundaries"]},
        "fixed_1fps": fixed,
        "decode_only_s": round(decode_s, 3),
        "frames_ratio_fixed_over_scene": round(frames_ratio, 2),
        "time_ratio_scene_over_fixed": round(time_ratio, 2),
        "time_ratio_scene_over_decode": round(scene["seconds"] / decode_s, 2),
    }))


if __name__ == "__main__":
    main()
