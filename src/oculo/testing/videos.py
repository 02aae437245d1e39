"""Deterministic synthetic videos with known cuts, for the video sampling tests and `bench/video.py`.

A video is a list of segments. Each `seed` is a distinct "place": a textured picture (colored blocks, shapes and fixed
grain from numpy's Generator) wider than the frame, so a `Pan` can slide across it and a later segment with the same
seed continues from where the camera stopped. A boundary between two segments showing different seeds is a hard cut,
unless a `Fade` sits between them; a `Flash` is a few bright frames inside one place and is never a cut.

    cuts = make_video("clip.mp4", [Static(2, seed=1), Pan(3, seed=2, speed=12), Flash(), Pan(2, seed=2, speed=12),
                                   Fade(1), Static(2, seed=3)])

Needs PyAV and numpy (the `video` extra).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Fade",
    "Flash",
    "Pan",
    "Segment",
    "Static",
    "duration",
    "make_audio_only",
    "make_long_video",
    "make_video",
    "transitions",
]


@dataclass(frozen=True)
class Static:
    """The picture of `seed`, still (with a little per-frame sensor noise), for `seconds`."""

    seconds: float
    seed: int


@dataclass(frozen=True)
class Pan:
    """The camera slides right across the picture of `seed` at `speed` pixels per second."""

    seconds: float
    seed: int
    speed: float = 10.0


@dataclass(frozen=True)
class Fade:
    """Fade out of the previous picture to black, then in to the next segment's picture (black at either end)."""

    seconds: float = 1.0


@dataclass(frozen=True)
class Flash:
    """`frames` frames brightened by `brightness` levels (255: pure white) inside the surrounding place; not a cut."""

    frames: int = 2
    brightness: int = 255


Segment = Static | Pan | Fade | Flash

NOISE = 2  # per-frame noise amplitude in 0-255 levels, so "static" is not bit-exact, as from a real camera


def make_video(
    path: str | os.PathLike[str],
    segments: Sequence[Segment],
    *,
    fps: int = 10,
    size: tuple[int, int] = (160, 96),
    codec: str = "libx264",
    gop: int | None = None,
    rotation: int = 0,
) -> list[float]:
    """Encode `segments` to `path` (container from its extension) and return the times (s) of its hard cuts.

    A cut's time is that of the first frame of the new picture. `rotation` (degrees counter-clockwise) is stored as
    display-matrix metadata, as phones do, leaving the coded frames as they are.
    """
    import av

    width, height = size
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError(f"size must be even and at least 16x16, got {width}x{height}")
    segments = list(segments)
    cuts, _ = transitions(segments, fps)
    places = _Places(segments, width, height, fps)
    with av.open(os.fspath(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.gop_size = gop or 2 * fps
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        else:
            stream.bit_rate = 100 * width * height  # FFmpeg's default (200 kb/s) smears textured frames
        if rotation:
            stream.set_display_rotation(rotation)
        for rgb in places.frames():
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return cuts


def make_long_video(
    path: str | os.PathLike[str],
    seconds: float = 3600,
    *,
    fps: int = 2,
    size: tuple[int, int] = (64, 48),
    cut_every: float = 240,
) -> list[float]:
    """A long video made cheaply: a new place every `cut_every` seconds, alternating still and slowly panning shots.

    One hour at the defaults is 7,200 frames of 64x48 and encodes in a few seconds; returns its hard cut times.
    """
    segments: list[Segment] = []
    left, i = float(seconds), 0
    while left > 1e-9:
        part = min(cut_every, left)
        segments.append(Static(part, seed=100 + i) if i % 2 == 0 else Pan(part, seed=100 + i, speed=0.05))
        left -= part
        i += 1
    return make_video(path, segments, fps=fps, size=size, gop=10 * fps)


def make_audio_only(path: str | os.PathLike[str], seconds: float = 0.5, codec: str = "mp2") -> None:
    """A short sine tone with no video stream (container from the extension: .mp2, .mka, .m4a...)."""
    import av

    rate = 44100
    with av.open(os.fspath(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        n = int(seconds * rate)
        tone = (np.sin(np.arange(n) * (2 * np.pi * 440 / rate)) * 8000).astype(np.int16)
        step = 1152
        for start in range(0, n, step):
            chunk = tone[start:start + step].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def picture(seed: int, width: int, height: int) -> np.ndarray:
    """The texture of place `seed`: uint8 HxWx3, random colored blocks, a few shapes and fixed fine grain."""
    rng = np.random.default_rng([0x0C0, seed])
    cell = max(4, height // 6)
    grid = rng.integers(0, 256, size=(height // cell + 1, width // cell + 1, 3), dtype=np.uint8)
    img = np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1)[:height, :width].astype(np.int16)
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(max(3, width // height * 3)):
        color = rng.integers(0, 256, size=3)
        cx, cy = rng.integers(0, width), rng.integers(0, height)
        r = rng.integers(height // 8 + 1, height // 3 + 2)
        if rng.random() < 0.5:
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        else:
            mask = (abs(xx - cx) <= r) & (abs(yy - cy) <= r * 2 // 3)
        img[mask] = color
    img += rng.integers(-12, 13, size=img.shape, dtype=np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def transitions(segments: Sequence[Segment], fps: int = 10) -> tuple[list[float], list[tuple[float, float]]]:
    """The hard cut times, and the (start, end) of each fade between two different pictures, in seconds.

    A scene detector must find every cut; it may put one boundary inside such a fade, or none.
    """
    segments = list(segments)
    cuts: list[float] = []
    fades: list[tuple[float, float]] = []
    frame = 0
    last_seed: int | None = None
    fade_start: int | None = None
    for i, seg in enumerate(segments):
        if isinstance(seg, Flash):
            before = next((s.seed for s in reversed(segments[:i]) if isinstance(s, (Static, Pan))), None)
            after = next((s.seed for s in segments[i + 1:] if isinstance(s, (Static, Pan))), None)
            if before is None or before != after:
                raise ValueError("a Flash must sit between two segments of the same seed (it is not a cut)")
        elif isinstance(seg, Fade):
            fade_start = frame if fade_start is None else fade_start
        elif last_seed is not None and seg.seed != last_seed:
            if fade_start is None:
                cuts.append(round(frame / fps, 6))
            else:
                fades.append((round(fade_start / fps, 6), round(frame / fps, 6)))
        if isinstance(seg, (Static, Pan)):
            last_seed, fade_start = seg.seed, None
        frame += _count(seg, fps)
    return cuts, fades


def duration(segments: Sequence[Segment], fps: int = 10) -> float:
    """Length in seconds of the video `make_video` writes for `segments` at `fps`."""
    return sum(_count(seg, fps) for seg in segments) / fps


def _count(seg: Segment, fps: int) -> int:
    return seg.frames if isinstance(seg, Flash) else max(1, round(seg.seconds * fps))


class _Places:
    """Renders the segments frame by frame, holding one texture per place and the camera offset in each."""

    def __init__(self, segments: list[Segment], width: int, height: int, fps: int) -> None:
        self.segments, self.width, self.height, self.fps = segments, width, height, fps
        travel: dict[int, float] = {}
        for seg in segments:
            if isinstance(seg, (Static, Pan)):
                travel[seg.seed] = travel.get(seg.seed, 0.0) + (seg.seconds * seg.speed if isinstance(seg, Pan) else 0)
        self.textures = {seed: picture(seed, width + int(px) + 2, height) for seed, px in travel.items()}
        self.offset = dict.fromkeys(travel, 0.0)
        self.noise = np.random.default_rng(7)

    def view(self, seed: int) -> np.ndarray:
        x = round(self.offset[seed])
        return self.textures[seed][:, x:x + self.width]

    def grain(self, img: np.ndarray) -> np.ndarray:
        noise = self.noise.integers(-NOISE, NOISE + 1, size=img.shape, dtype=np.int16)
        return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)

    def frames(self) -> Iterator[np.ndarray]:
        current: int | None = None
        for i, seg in enumerate(self.segments):
            n = _count(seg, self.fps)
            if isinstance(seg, (Static, Pan)):
                current = seg.seed
                step = seg.speed / self.fps if isinstance(seg, Pan) else 0.0
                for _ in range(n):
                    yield self.grain(self.view(seg.seed))
                    self.offset[seg.seed] += step
            elif isinstance(seg, Flash):
                bright = np.clip(self.view(current).astype(np.int16) + seg.brightness, 0, 255).astype(np.uint8)
                for _ in range(n):
                    yield bright
            else:  # Fade: out of what was on screen, black in the middle, in to what comes next
                nxt = next((s.seed for s in self.segments[i + 1:] if isinstance(s, (Static, Pan))), None)
                before = self.view(current) if current is not None else None
                after = self.view(nxt) if nxt is not None else None
                n_out = n // 2
                n_in = n - n_out
                for k in range(n_out):
                    alpha = 1 - (k + 1) / n_out
                    yield self.grain(_dim(before, alpha, self.height, self.width))
                for k in range(n_in):
                    alpha = k / n_in
                    yield self.grain(_dim(after, alpha, self.height, self.width))


def _dim(img: np.ndarray | None, alpha: float, height: int, width: int) -> np.ndarray:
    if img is None:
        return np.zeros((height, width, 3), np.uint8)
    return (img.astype(np.float32) * alpha).astype(np.uint8)
