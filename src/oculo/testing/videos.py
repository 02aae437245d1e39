"""Deterministic synthetic videos with known cuts, for the video sampling tests and `bench/video.py`.

A video is a list of segments. Each `seed` is a distinct "place": a textured picture (colored blocks, shapes and fixed
grain from numpy's Generator) wider than the frame, so a `Pan` can slide across it and a later segment with the same
seed continues from where the camera stopped. A boundary between two segments showing different seeds is a hard cut,
unless a `Fade` (through black) or a `Dissolve` (a cross-blend, no black) sits between them; a `Flash` is a few bright
frames inside one place and is never a cut. A place can be drawn `like` another one: the same picture with only part
of it (`1 - share` of its area, in whole blocks) replaced by its own, as two shots of one set differing in what is in
front; a cut between them is a hard cut all the same.

    cuts = make_video("clip.mp4", [Static(2, seed=1), Pan(3, seed=2, speed=12), Flash(), Pan(2, seed=2, speed=12),
                                   Fade(1), Static(2, seed=3), Dissolve(1), Static(2, seed=4),
                                   Static(2, seed=5, like=4, share=0.5)])

Needs PyAV and numpy (the `video` extra).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Dissolve",
    "Fade",
    "Flash",
    "Pan",
    "Segment",
    "Static",
    "dissolves",
    "duration",
    "make_audio_only",
    "make_long_video",
    "make_video",
    "picture",
    "transitions",
]


@dataclass(frozen=True)
class Static:
    """The picture of `seed`, still (with a little per-frame sensor noise), for `seconds`.

    `like`: draw place `seed` as the picture of place `like` with `1 - share` of its area replaced by its own (see
    `picture`), seen from that place's camera position (a pan in either moves both); every segment of a place that
    gives `like` must give the same `like` and `share`, and `like` must be a place not itself drawn like another.
    """

    seconds: float
    seed: int
    like: int | None = None
    share: float = 0.5


@dataclass(frozen=True)
class Pan:
    """The camera slides right across the picture of `seed` at `speed` pixels per second (`like`: as for Static)."""

    seconds: float
    seed: int
    speed: float = 10.0
    like: int | None = None
    share: float = 0.5


@dataclass(frozen=True)
class Fade:
    """Fade out of the previous picture to black, then in to the next segment's picture (black at either end)."""

    seconds: float = 1.0


@dataclass(frozen=True)
class Dissolve:
    """A linear cross-blend from the previous picture straight into the next segment's picture, with no black between.

    Its frames are neither picture: the k-th of n shows the next one at weight (k + 1) / (n + 1).
    """

    seconds: float = 1.0


@dataclass(frozen=True)
class Flash:
    """`frames` frames brightened by `brightness` levels (255: pure white) inside the surrounding place; not a cut."""

    frames: int = 2
    brightness: int = 255


Segment = Static | Pan | Fade | Dissolve | Flash

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


def picture(seed: int, width: int, height: int, *, like: int | None = None, share: float = 0.5) -> np.ndarray:
    """The texture of place `seed`: uint8 HxWx3, random colored blocks, a few shapes and fixed fine grain.

    `like`: the texture of place `like` at the same size, with `1 - share` of its blocks (squares of a sixth of the
    height, picked at random by `seed`) showing place `seed`'s own texture instead; every pan window of it keeps about
    `share` of the frame unchanged.
    """
    if like is not None:
        if not 0 <= share <= 1:
            raise ValueError(f"share must be between 0 and 1, got {share!r}")
        base, own = picture(like, width, height), picture(seed, width, height)
        cell = max(4, height // 6)
        rows, cols = -(-height // cell), -(-width // cell)
        rng = np.random.default_rng([0x5A7E, seed, like])
        swap = np.zeros(rows * cols, bool)
        swap[rng.permutation(rows * cols)[:round((1 - share) * rows * cols)]] = True
        mask = np.repeat(np.repeat(swap.reshape(rows, cols), cell, axis=0), cell, axis=1)[:height, :width]
        return np.where(mask[..., None], own, base)
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
    """The hard cut times, and the (start, end) of each fade or dissolve between two different pictures, in seconds.

    A scene detector must find every cut; it may put one boundary inside such a span, or none (`dissolves` lists the
    spans that are dissolves, where exactly one is expected).
    """
    cuts, spans, _ = _transitions(segments, fps)
    return cuts, spans


def dissolves(segments: Sequence[Segment], fps: int = 10) -> list[tuple[float, float]]:
    """The (start, end) in seconds of each span of `transitions` that holds a Dissolve (and no Fade) between two
    unrelated places (neither drawn like the other, nor both like a third).

    The picture changes completely there without going through black: a scene detector should put exactly one
    boundary inside each.
    """
    return _transitions(segments, fps)[2]


def _transitions(
    segments: Sequence[Segment], fps: int
) -> tuple[list[float], list[tuple[float, float]], list[tuple[float, float]]]:
    segments = list(segments)
    _check_places(segments)
    root = {s.seed: s.like for s in segments if isinstance(s, (Static, Pan)) and s.like is not None}
    cuts: list[float] = []
    spans: list[tuple[float, float]] = []
    blends: list[tuple[float, float]] = []
    frame = 0
    last_seed: int | None = None
    span_start: int | None = None
    faded = False  # whether the pending span holds a Fade (through black) rather than only Dissolves
    for i, seg in enumerate(segments):
        if isinstance(seg, Flash):
            before = next((s.seed for s in reversed(segments[:i]) if isinstance(s, (Static, Pan))), None)
            after = next((s.seed for s in segments[i + 1:] if isinstance(s, (Static, Pan))), None)
            if before is None or before != after:
                raise ValueError("a Flash must sit between two segments of the same seed (it is not a cut)")
        elif isinstance(seg, (Fade, Dissolve)):
            span_start = frame if span_start is None else span_start
            faded = faded or isinstance(seg, Fade)
        elif last_seed is not None and seg.seed != last_seed:
            if span_start is None:
                cuts.append(round(frame / fps, 6))
            else:
                spans.append((round(span_start / fps, 6), round(frame / fps, 6)))
                if not faded and root.get(seg.seed, seg.seed) != root.get(last_seed, last_seed):
                    blends.append(spans[-1])
        if isinstance(seg, (Static, Pan)):
            last_seed, span_start, faded = seg.seed, None, False
        frame += _count(seg, fps)
    return cuts, spans, blends


def _check_places(segments: list[Segment]) -> None:
    looks: dict[int, tuple[int | None, float]] = {}
    for seg in segments:
        if isinstance(seg, (Static, Pan)):
            look = (seg.like, seg.share) if seg.like is not None else (None, 0.5)
            if looks.setdefault(seg.seed, look) != look:
                raise ValueError(f"place {seg.seed} is drawn `like` differently in two segments")
    for seed, (like, _) in looks.items():
        if like is not None and (like == seed or looks.get(like, (None, 0.5))[0] is not None):
            raise ValueError(f"place {seed} must be drawn like a plain place (one not drawn like another)")


def duration(segments: Sequence[Segment], fps: int = 10) -> float:
    """Length in seconds of the video `make_video` writes for `segments` at `fps`."""
    return sum(_count(seg, fps) for seg in segments) / fps


def _count(seg: Segment, fps: int) -> int:
    return seg.frames if isinstance(seg, Flash) else max(1, round(seg.seconds * fps))


class _Places:
    """Renders the segments frame by frame, holding one texture per place and the camera offset in each."""

    def __init__(self, segments: list[Segment], width: int, height: int, fps: int) -> None:
        self.segments, self.width, self.height, self.fps = segments, width, height, fps
        shots = [seg for seg in segments if isinstance(seg, (Static, Pan))]
        likes = {seg.seed: (seg.like, seg.share) for seg in shots if seg.like is not None}
        # A place drawn like another is the same set filmed from where that one's camera is: they share one texture
        # width and one camera offset, so the shared part of the picture stays where it was across the cut.
        self.root = {seg.seed: likes.get(seg.seed, (seg.seed,))[0] for seg in shots}
        travel: dict[int, float] = {}
        for seg in segments:
            if isinstance(seg, Pan):
                root = self.root[seg.seed]
                travel[root] = travel.get(root, 0.0) + seg.seconds * seg.speed
        self.textures = {}
        for seed, root in self.root.items():
            like, share = likes.get(seed, (None, 0.5))
            self.textures[seed] = picture(seed, width + int(travel.get(root, 0.0)) + 2, height, like=like, share=share)
        self.offset = dict.fromkeys(self.root.values(), 0.0)
        self.noise = np.random.default_rng(7)

    def view(self, seed: int) -> np.ndarray:
        x = round(self.offset[self.root[seed]])
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
                    self.offset[self.root[seg.seed]] += step
                continue
            if isinstance(seg, Flash):
                assert current is not None, "a flash lights up the shot before it: start with a Static or Pan"
                bright = np.clip(self.view(current).astype(np.int16) + seg.brightness, 0, 255).astype(np.uint8)
                for _ in range(n):
                    yield bright
                continue
            nxt = next((s.seed for s in self.segments[i + 1:] if isinstance(s, (Static, Pan))), None)
            before = self.view(current) if current is not None else None
            after = self.view(nxt) if nxt is not None else None
            if isinstance(seg, Dissolve):  # straight from what was on screen to what comes next (black if nothing)
                for k in range(n):
                    alpha = (k + 1) / (n + 1)
                    yield self.grain(_blend(before, after, alpha, self.height, self.width))
            else:  # Fade: out of what was on screen, black in the middle, in to what comes next
                n_out = n // 2
                n_in = n - n_out
                for k in range(n_out):
                    alpha = 1 - (k + 1) / n_out
                    yield self.grain(_dim(before, alpha, self.height, self.width))
                for k in range(n_in):
                    alpha = k / n_in
                    yield self.grain(_dim(after, alpha, self.height, self.width))


def _blend(old: np.ndarray | None, new: np.ndarray | None, alpha: float, height: int, width: int) -> np.ndarray:
    """`old` at weight 1 - alpha plus `new` at weight alpha (a missing picture is black)."""
    out = np.zeros((height, width, 3), np.float32)
    if old is not None:
        out += old.astype(np.float32) * (1 - alpha)
    if new is not None:
        out += new.astype(np.float32) * alpha
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _dim(img: np.ndarray | None, alpha: float, height: int, width: int) -> np.ndarray:
    if img is None:
        return np.zeros((height, width, 3), np.uint8)
    return (img.astype(np.float32) * alpha).astype(np.uint8)
