"""Pick the few frames of a video worth showing a vision model: the sharpest frame of each scene, a periodic frame in
long scenes, or frames at a fixed rate.

Decoding streams through PyAV: only tiny analysis copies of some frames and the full image of each current best
candidate are ever held, so memory stays flat whatever the length. Every failure a user can cause becomes one
`InputError` line naming the file and the fix.

Scene detection compares each analysed frame with the previous one on a 64-pixel-wide copy whose luma is normalized
to zero mean and unit contrast (chroma is scaled by the same factor). A fade to black only scales that copy, so the
fade itself scores nothing; frames too flat to compare (black, white) are skipped, so a fade to black and back in to
a new picture is one cut, where the picture comes back, and a white flash is no cut at all. A cut is a score well
above the recent level in the scene and above a floor; it is confirmed only if the picture does not come back to what
it was before the spike within half a second (a brighter flash, someone walking past the lens). A dissolve, whose
frames each differ little from the last, is found once it is over, from the last two seconds of analysed frames: the
two ends differ like a cut and every frame between is a blend of them, which a pan, however far, is not; its boundary
goes where the blend is half way.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image

from ..errors import InputError
from .images import ImageLimits, fit_size, to_rgb

if TYPE_CHECKING:
    import numpy as np

__all__ = ["SampledFrame", "Scene", "VideoInfo", "VideoSampler", "probe"]

# Analysis copies: luma this wide for sharpness, half that (luma and chroma) for change scores.
ANALYSIS_WIDTH = 128
# Luma standard deviation (0-255 levels) under which a frame is "flat" (black, white, one color): no basis to compare.
FLAT_STD = 4.0
# A cut scores at least this much (mean absolute difference in units of the frame's contrast: two unrelated random
# pictures score ~1.1 on luma alone, the test videos' cuts ~2.3 with chroma, a pan 0.1-0.6 at 10 analysed frames/s).
# Still shots sharing 60% of the picture score 0.9-1.1, 80% 0.5-0.6, so those cuts clear it; it stays this high as
# nearly black frames of a fade score up to 0.45 (their noise magnified by the normalization)...
CUT_FLOOR = 0.5
# ...and at least this many times the mean score of the last RECENT_SECONDS of the scene, so steady motion raises it.
# A cut to a shot sharing 60% of the picture in a pan crossing a fifth of the frame a second scores only ~2.9 times the
# pan's level and is missed; lower, though, and a pan that speeds up is cut (2.5: 40% more such false cuts measured).
CUT_RATIO = 3.0
RECENT_SECONDS = 2.0
# A spike whose picture comes back (scores under this share of the spike against the frame before it) within
# FLASH_SECONDS is a flash, not a cut.
RETURN_SHARE = 0.5
FLASH_SECONDS = 0.5
# A dissolve (one picture cross-blended into another, no black between) changes each frame too little to be a cut, so
# the normalized luma of the last BLEND_SECONDS of analysed frames is kept: a run from frame s to frame e is a dissolve
# when, once it has settled, s and e differ like a cut and every frame between is a weighted sum of the two (a blend of
# two pictures stays on that plane; a pan leaves it, since its middle frame shows ground neither end does). Longer
# dissolves are not seen.
BLEND_SECONDS = 2.0
# The run's ends differ by at least this mean absolute luma difference: about half of two unrelated pictures' 1.1 (the
# test videos' dissolves: 0.9-1.3), and pan runs that far apart are already well off the plane (see BLEND_RESIDUAL).
BLEND_FLOOR = 0.5
# No frame between lies further from the plane of s and e than this share of the distance from s to e (root mean
# square): the test videos' dissolves stay under 0.04, pan runs 0.5 or more apart at 0.33 or more.
BLEND_RESIDUAL = 0.12
# Some frame between is a true mix, between this share of the way from s to e and 1 minus it: without one the run is a
# jump (a cut, or a flash the cut test let through after fast motion), not a blend.
BLEND_MIX = 0.2
# Frames less than this share of the way from s to e (or from e to s) count as s's picture (e's): the scene before the
# dissolve keeps a frame from before the first, the one after it one from the second on.
BLEND_EDGE = 0.1
# The blend is over at e, so it is counted once, when complete, if the frame after e (g) is within this share of the
# way from s to e of where e is (frames of a dissolve in progress are 4-40% apart, a settled picture's 0-1.5%)...
BLEND_SETTLE = 0.03
# ...or g left the plane at least this many times further than it went along it: the new shot started moving (a pan
# setting off at once from the dissolve's end), which the next frames would blur into the run.
BLEND_MOVED = 2.0
# Full-size candidates held at most in a window (each a new sharpest frame), so that when a dissolve is found ~1 s
# late, the scene before it still gets a frame from before it rather than a blend or the next shot.
HELD = 3
# Score given to two frames whose sizes differ (the stream changed resolution): always a cut.
RESIZED = 10.0
# Periodic frames within this many differing bits (of 64) of the last frame sent are dropped as near duplicates.
DUPLICATE_BITS = 8
# Timestamps are compared with this tolerance (seconds), so 0.3 * 10 rounding to 2.9999999 still counts as 3.
EPS = 1e-6

_VIDEO_FORMATS = "pass an MP4, MOV, MKV, WebM or AVI video"


@dataclass(frozen=True)
class Scene:
    index: int  # 0-based
    start: float  # seconds
    end: float  # seconds


@dataclass(frozen=True)
class SampledFrame:
    t: float  # seconds from the start of the video
    scene: int  # index of the scene it belongs to
    image: Image.Image  # RGB, upright, within max_pixels when given, same aspect ratio
    sharpness: float  # variance of the Laplacian of a 128-pixel-wide grayscale copy
    reason: str  # "scene" (sharpest of a scene), "periodic" (a later max_gap window of a long scene) or "fps"


@dataclass(frozen=True)
class VideoInfo:
    name: str
    duration: float | None  # seconds, from the container's metadata (None when it does not say)
    fps: float | None  # average frame rate from the metadata
    width: int  # coded size; phone videos stored sideways come out of the sampler upright
    height: int


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Stream metadata of the first video stream, without decoding a frame; bad input raises `InputError`."""
    name = os.fspath(path)
    av = _import_av(name)
    with _open(av, name) as container:
        return _info(name, container, _video_stream(name, container))


class VideoSampler:
    """Iterate `frames()` for the frames to send; `scenes` is complete once it is exhausted.

    fps=None: scene mode (sharpest frame per scene, plus one per further `max_gap` seconds of a long scene unless it
    repeats the last frame sent). fps=F: one frame per 1/F seconds, one scene covering the video.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float | None = None,
        max_gap: float = 30.0,
        min_scene: float = 0.6,
        max_pixels: int | None = None,
        analysis_fps: float = 10.0,
    ) -> None:
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number of frames per second, got {fps!r}")
        if not (math.isfinite(max_gap) and max_gap > 0):
            raise ValueError(f"max_gap must be a positive number of seconds, got {max_gap!r}")
        if not (math.isfinite(min_scene) and min_scene >= 0):
            raise ValueError(f"min_scene must be zero or more seconds, got {min_scene!r}")
        if not (math.isfinite(analysis_fps) and analysis_fps > 0):
            raise ValueError(f"analysis_fps must be a positive number, got {analysis_fps!r}")
        if max_pixels is not None and max_pixels < 1:
            raise ValueError(f"max_pixels must be positive, got {max_pixels!r}")
        self.path = path
        self.name = os.fspath(path)
        self.fps = fps
        self.max_gap = float(max_gap)
        self.min_scene = float(min_scene)
        self.max_pixels = max_pixels
        self.analysis_fps = float(analysis_fps)
        self.info = probe(path)
        self.scenes: list[Scene] = []
        self.frames_decoded = 0
        self.frames_analysed = 0
        self.frames_sampled = 0
        self.duplicates_dropped = 0
        self.decode_errors = 0

    def frames(self) -> Iterator[SampledFrame]:
        """The chosen frames in time order, each as soon as its scene or window closes."""
        self.scenes = []
        self.frames_decoded = self.frames_analysed = self.frames_sampled = self.duplicates_dropped = 0
        self.decode_errors = 0
        av = _import_av(self.name)
        # One reformatter per use keeps FFmpeg's scaler set up between frames (rebuilding it costs ~0.5 ms a frame).
        self._analysis_scaler = av.video.reformatter.VideoReformatter()
        self._image_scaler = av.video.reformatter.VideoReformatter()
        run = self._fixed_rate() if self.fps is not None else _SceneRun(self).frames()
        for sampled in run:
            self.frames_sampled += 1
            yield sampled

    # -- fixed rate --------------------------------------------------------------------------------------------

    def _fixed_rate(self) -> Iterator[SampledFrame]:
        np = _import_numpy(self.name)
        assert self.fps is not None
        due = 0  # index of the next multiple of 1/fps to fill
        end = 0.0
        for t, frame, dur in self._decode():
            end = t + dur
            if t * self.fps + EPS >= due:
                due = math.floor(t * self.fps + EPS) + 1
                sharp = _features(np, self._analysis_scaler, frame).sharp
                self.frames_analysed += 1
                yield SampledFrame(t, 0, self._image(frame), sharp, "fps")
        self.scenes.append(Scene(0, 0.0, end))

    # -- decoding ----------------------------------------------------------------------------------------------

    def _decode(self) -> Iterator[tuple[float, Any, float]]:
        """(time in seconds from the start, frame, its duration), in presentation order, time never decreasing."""
        av = _import_av(self.name)
        with _open(av, self.name) as container:
            stream = _video_stream(self.name, container)
            if stream.codec_context is None:
                raise InputError(f"{self.name}: its video codec cannot be decoded by this FFmpeg build; "
                                 "re-export it as H.264 MP4")
            codec = stream.codec_context.name
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            step = 1 / float(rate) if rate else 1 / 25  # for frames without a timestamp or duration
            tb = float(stream.time_base) if stream.time_base else 0.0  # the decoder's frames use the stream's
            origin = stream.start_time
            last: float | None = None
            packets = container.demux(stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.error.FFmpegError as e:
                    if self.frames_decoded == 0:
                        raise _corrupt(self.name, e) from None
                    self.decode_errors += 1  # truncated or damaged tail: keep what was decoded
                    break
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError:
                    self.decode_errors += 1  # one damaged packet; the decoder resynchronizes at the next keyframe
                    continue
                for frame in decoded:
                    pts = frame.pts
                    if pts is None:
                        pts = frame.dts
                    if pts is not None and tb:
                        if origin is None:
                            origin = pts
                        t = (pts - origin) * tb
                    else:
                        t = last + step if last is not None else 0.0
                    if last is not None and t < last:
                        t = last  # out-of-order or repeated timestamps in a damaged file
                    elif t < 0:
                        t = 0.0
                    dur = frame.duration * tb if frame.duration and tb else step
                    last = t
                    self.frames_decoded += 1
                    yield t, frame, dur
        if self.frames_decoded == 0:
            hint = f", {self.decode_errors} damaged packets" if self.decode_errors else ""
            raise InputError(f"{self.name}: no video frame could be decoded ({codec} stream{hint}); the file is "
                             "truncated, corrupt or uses an unsupported codec; re-export it as H.264 MP4")

    def _image(self, frame: Any) -> Image.Image:
        """The frame as an upright RGB image within the pixel budget (scaled by FFmpeg while converting)."""
        size = (frame.width, frame.height)
        if self.max_pixels is not None:
            size = fit_size(size, ImageLimits(max_pixels=self.max_pixels))
        rgb = self._image_scaler.reformat(frame, width=size[0], height=size[1], format="rgb24", interpolation="BICUBIC")
        img = to_rgb(rgb.to_image(), self.name)
        turn = _TURNS.get(frame.rotation % 360)
        return img.transpose(turn) if turn is not None else img


# PyAV's rotation is counter-clockwise degrees, as are PIL's ROTATE_* transposes.
_TURNS = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


@dataclass
class _Features:
    flat: bool
    vec: np.ndarray | None  # normalized luma and chroma of the 64-px copy, flattened (None when flat)
    sharp: float
    thumb: np.ndarray  # 64-px luma, uint8, for the perceptual hash


@dataclass
class _Candidate:
    t: float
    sharp: float
    image: Image.Image
    thumb: np.ndarray


@dataclass
class _Pending:
    """A spike not yet confirmed as a cut: the frame before it, and the best frame since (the new scene's, if so)."""

    t: float
    ref: _Features
    spike: float
    threshold: float
    best: _Candidate | None = None
    scores: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class _Blend:
    """A dissolve found in the trail: times of its last frame of the old picture, half way, first of the new one."""

    old: float
    half: float
    new: float


class _Trail:
    """The normalized luma of the last BLEND_SECONDS of analysed frames and their dot products, to find dissolves."""

    def __init__(self, np: Any, analysis_fps: float) -> None:
        self.np = np
        self.cap = max(4, round(BLEND_SECONDS * analysis_fps) + 2)  # a run, the frame before it and the one after
        self.span = BLEND_SECONDS + 1 / analysis_fps
        self.times: deque[float] = deque(maxlen=self.cap)
        self.slots: deque[int] = deque(maxlen=self.cap)  # rows of bank; given out in turn, so the last cap differ
        self.next = 0
        self.bank: np.ndarray | None = None
        self.gram = np.zeros((self.cap, self.cap))

    def clear(self, before: float = math.inf) -> None:
        while self.times and self.times[0] < before:
            self.times.popleft()
            self.slots.popleft()

    def drop_last(self) -> None:
        self.times.pop()
        self.slots.pop()

    def add(self, t: float, f: _Features) -> None:
        assert f.vec is not None
        vec = f.vec[:f.vec.size // 3]  # luma only: chroma would triple the work and blurs a pan's tell-tale detail
        if self.bank is None or self.bank.shape[1] != vec.size:
            self.bank = self.np.zeros((self.cap, vec.size), self.np.float32)
            self.clear()
        self.clear(before=t - self.span - EPS)
        k, self.next = self.next, (self.next + 1) % self.cap
        self.bank[k] = vec
        dots = self.bank @ self.bank[k]
        self.gram[k, :] = dots
        self.gram[:, k] = dots
        self.times.append(t)
        self.slots.append(k)

    def blend(self) -> _Blend | None:
        """The dissolve that the next-to-last frame (e) completes, if the last one (g) shows the picture has settled.

        Every earlier frame s is tried as the start, the earliest that qualifies winning. The cheap tests go first: s
        and e far enough apart, then g settled and the frame half way between on the plane (where a pan strays most),
        then all the frames between.
        """
        np = self.np
        n = len(self.slots)
        if n < 4 or self.bank is None:
            return None
        e = n - 2
        slots = np.fromiter(self.slots, np.intp, n)
        sq = self.gram[slots, slots]
        chord = sq[:e - 1] + sq[e] - 2 * self.gram[slots[:e - 1], slots[e]]  # squared distance from each start to e
        # The mean absolute difference is at most the root mean square one: starts closer than the floor in that fail.
        starts = np.flatnonzero(chord >= BLEND_FLOOR ** 2 * self.bank.shape[1])
        if starts.size:
            witnesses = np.stack([(starts + e) // 2, np.full_like(starts, e + 1)], axis=1)
            off, along = self._project(slots, sq, chord, starts, witnesses)
            further = np.abs(along[:, 1] - 1)
            settled = (further <= BLEND_SETTLE) | (off[:, 1] >= (BLEND_MOVED * further) ** 2)
            starts = starts[(off[:, 0] <= BLEND_RESIDUAL ** 2) & settled]
        if not starts.size:
            return None
        off, along = self._project(slots, sq, chord, starts, np.broadcast_to(np.arange(n), (starts.size, n)))
        between = np.arange(n) > starts[:, None]
        between[:, e:] = False
        ok = np.where(between, off, 0.0).max(axis=1) <= BLEND_RESIDUAL ** 2  # every frame between on the plane
        ok &= (between & (along >= BLEND_MIX) & (along <= 1 - BLEND_MIX)).any(axis=1)  # and some of them a true mix
        for i in np.flatnonzero(ok):
            s = int(starts[i])
            if float(np.abs(self.bank[slots[s]] - self.bank[slots[e]]).mean()) < BLEND_FLOOR:
                continue
            way = along[i, s:e + 1]
            first = s + int(np.argmax(way > BLEND_EDGE))  # the first frame with some of the new picture in it
            half = s + int(np.argmax(way >= 0.5))
            last = s + int(np.argmax(way >= 1 - BLEND_EDGE))  # the first frame with hardly any of the old one
            times = list(self.times)
            return _Blend(times[first - 1], times[half], times[last])
        return None

    def _project(self, slots: np.ndarray, sq: np.ndarray, chord: np.ndarray, starts: np.ndarray,
                 frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each start s (of e = the next-to-last frame) and each of its row of `frames` m (trail positions): m's
        squared distance from the plane of s and e over that of s to e, and how far along from s to e it is.

        From the dot products alone: m's projection on the plane is a * s + b * e, and b / (a + b) is 0 at s, 1 at e.
        """
        np = self.np
        e = len(slots) - 2
        ms = self.gram[slots[starts, None], slots[frames]]
        me = self.gram[slots[e], slots[frames]]
        gss, gse, gee = sq[starts, None], self.gram[slots[starts], slots[e], None], sq[e]
        with np.errstate(divide="ignore", invalid="ignore"):
            det = gss * gee - gse * gse
            a = (gee * ms - gse * me) / det
            b = (gss * me - gse * ms) / det
            return (sq[frames] - a * ms - b * me) / chord[starts, None], b / (a + b)


class _SceneRun:
    """One pass of scene mode over the decoded frames."""

    def __init__(self, sampler: VideoSampler) -> None:
        self.s = sampler
        self.np = _import_numpy(sampler.name)
        self.scene = 0
        self.scene_start = 0.0
        self.window_start = 0.0
        # The current window's successive sharpest frames, oldest first (the last is its best): only those a dissolve
        # found later could still split off, and at most HELD (see _consider).
        self.held: list[_Candidate] = []
        self.prev: _Features | None = None  # last frame that could be compared
        self.recent: deque[float] = deque(maxlen=max(3, round(RECENT_SECONDS * sampler.analysis_fps)))
        self.trail = _Trail(self.np, sampler.analysis_fps)
        self.settled = 0.0  # when the last dissolve's new picture settled
        self.pending: _Pending | None = None
        self.last_hash: np.ndarray | None = None
        self.periodic = False  # whether the current window is a later one of its scene

    def frames(self) -> Iterator[SampledFrame]:
        s = self.s
        slot = -1
        end = 0.0
        for t, frame, dur in s._decode():
            end = t + dur
            current = math.floor(t * s.analysis_fps + EPS)
            if current <= slot:
                continue  # at most analysis_fps frames a second are analysed
            slot = current
            s.frames_analysed += 1
            yield from self._analyse(t, frame, _features(self.np, s._analysis_scaler, frame))
        if self.pending is not None:
            p, self.pending = self.pending, None
            if end - p.t >= max(s.min_scene, EPS):
                yield from self._cut(p)
            elif not self.held and p.best is not None:
                self.held = [p.best]
        yield from self._emit()
        s.scenes.append(Scene(self.scene, self.scene_start, max(end, self.scene_start)))

    def _analyse(self, t: float, frame: Any, f: _Features) -> Iterator[SampledFrame]:
        p = self.pending
        if p is not None:
            if t - p.t <= max(FLASH_SECONDS, 2 / self.s.analysis_fps) + EPS:
                if not f.flat and _score(self.np, f, p.ref) < max(p.threshold, RETURN_SHARE * p.spike):
                    self.pending = None  # the picture came back: a flash; its frames are no candidates
                    self.prev = f
                    self.trail.add(t, f)
                    self._consider(t, frame, f)
                    return
                if not f.flat:
                    if self.prev is not None:
                        p.scores.append(_score(self.np, f, self.prev))  # the new scene's motion level, if it is one
                    self.prev = f
                p.best = self._better(p.best, t, frame, f)
                return
            self.pending = None
            yield from self._cut(p)
        if t + EPS >= self.window_start + self.s.max_gap:
            yield from self._emit()
            self.window_start += math.floor((t - self.window_start) / self.s.max_gap + EPS) * self.s.max_gap
            self.periodic = True
        if not f.flat:
            self.trail.add(t, f)
            if self.prev is not None:
                # A dissolve first: the frame after one may already move (a pan setting off from the blend's still
                # end), which is no cut of its own, as the scene the dissolve opens is then not min_scene old.
                blend = self.trail.blend()
                if blend is not None and blend.half - self.scene_start >= self.s.min_scene:
                    yield from self._dissolve(blend)
                score = _score(self.np, f, self.prev)
                level = sum(self.recent) / len(self.recent) if self.recent else 0.0
                threshold = max(CUT_FLOOR, CUT_RATIO * level)
                if score > threshold and t - max(self.scene_start, self.settled) >= self.s.min_scene:
                    self.trail.drop_last()  # a spike's frames join the trail only once it is known to be no cut
                    self.pending = _Pending(t, self.prev, score, threshold)
                    self.pending.best = self._better(None, t, frame, f)
                    self.prev = f
                    return
                self.recent.append(score)
            self.prev = f
        self._consider(t, frame, f)

    def _cut(self, p: _Pending) -> Iterator[SampledFrame]:
        yield from self._emit()
        self.s.scenes.append(Scene(self.scene, self.scene_start, p.t))
        self.scene += 1
        self.scene_start = self.window_start = p.t
        self.periodic = False
        self.recent.clear()
        self.recent.extend(p.scores)
        self.trail.clear()
        self.held = [p.best] if p.best is not None else []

    def _dissolve(self, blend: _Blend) -> Iterator[SampledFrame]:
        """A new scene from half way through the dissolve; the blended frames are no candidates for either side."""
        start = max(blend.half, self.window_start)  # a periodic frame of the old scene may have been sent since
        after = [c for c in self.held if c.t >= max(blend.new, start)]
        self.held = [c for c in self.held if c.t <= blend.old][-1:]
        yield from self._emit()
        self.s.scenes.append(Scene(self.scene, self.scene_start, start))
        self.scene += 1
        self.scene_start = self.window_start = start
        self.periodic = False
        self.settled = blend.new
        self.recent.clear()  # the dissolve's own steps are no measure of the new scene's motion
        self.trail.clear(before=blend.new)
        self.held = after

    def _consider(self, t: float, frame: Any, f: _Features) -> None:
        if self.held and f.sharp <= self.held[-1].sharp:
            return
        self.held.append(_Candidate(t, f.sharp, self.s._image(frame), f.thumb))  # full size: only a new sharpest
        # A dissolve ends the scene at a frame still in the trail at the earliest: of those older than the trail only
        # the newest can be the best before it. Past HELD (2 or more), drop the second oldest: a split there falls back
        # to the oldest, still from before it.
        horizon = self.trail.times[0] if self.trail.times else t
        while len(self.held) > 1 and self.held[1].t <= horizon:
            del self.held[0]
        if len(self.held) > HELD:
            del self.held[1]

    def _better(self, best: _Candidate | None, t: float, frame: Any, f: _Features) -> _Candidate | None:
        if best is not None and f.sharp <= best.sharp:
            return best
        return _Candidate(t, f.sharp, self.s._image(frame), f.thumb)  # the only full-size conversion

    def _emit(self) -> Iterator[SampledFrame]:
        best = self.held[-1] if self.held else None
        self.held = []
        if best is None:
            return
        h = _dhash(self.np, best.thumb)
        if self.periodic and self.last_hash is not None and int((h != self.last_hash).sum()) <= DUPLICATE_BITS:
            self.s.duplicates_dropped += 1
            return
        self.last_hash = h
        yield SampledFrame(best.t, self.scene, best.image, best.sharp, "periodic" if self.periodic else "scene")


def _features(np: Any, scaler: Any, frame: Any) -> _Features:
    w, h = frame.width, frame.height
    aw = max(4, min(ANALYSIS_WIDTH, w) // 4 * 4)
    ah = max(4, round(h * aw / max(w, 1) / 4) * 4)
    small_frame = scaler.reformat(frame, width=aw, height=ah, format="yuv420p", interpolation="AREA")
    flat_planes = small_frame.to_ndarray().ravel()
    n = aw * ah
    y = flat_planes[:n].reshape(ah, aw).astype(np.float32)
    u = flat_planes[n:n + n // 4].astype(np.float32) - 128
    v = flat_planes[n + n // 4:n + n // 2].astype(np.float32) - 128
    lap = 4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]
    sharp = float(lap.var())
    small = y.reshape(ah // 2, 2, aw // 2, 2).mean(axis=(1, 3))
    mean, std = float(small.mean()), float(small.std())
    thumb = small.astype(np.uint8)
    if std < FLAT_STD:
        return _Features(True, None, sharp, thumb)
    vec = np.concatenate([(small.ravel() - mean) / std, u * (0.5 / std), v * (0.5 / std)])
    return _Features(False, vec, sharp, thumb)


def _score(np: Any, a: _Features, b: _Features) -> float:
    """Mean absolute difference of normalized luma, plus half that of chroma."""
    if a.vec is None or b.vec is None or a.vec.shape != b.vec.shape:
        return RESIZED
    return float(np.abs(a.vec - b.vec).sum()) / (a.vec.size / 3)


def _dhash(np: Any, thumb: np.ndarray) -> np.ndarray:
    # dHash by hand: the imagehash package would pull scipy and PyWavelets in for these few lines.
    small = np.asarray(Image.fromarray(thumb).resize((9, 8), Image.Resampling.BOX), dtype=np.int16)
    return (small[:, 1:] > small[:, :-1]).ravel()


def _import_av(name: str) -> Any:
    try:
        import av
        import av.error
        import av.video.reformatter
    except ImportError:
        raise InputError(f"{name}: reading videos needs PyAV; pip install 'oculo[video]'") from None
    return av


def _import_numpy(name: str) -> Any:
    try:
        import numpy
    except ImportError:
        raise InputError(f"{name}: reading videos needs numpy; pip install 'oculo[video]'") from None
    return numpy


def _open(av: Any, name: str) -> Any:
    try:
        size = os.stat(name).st_size
    except FileNotFoundError:
        raise InputError(f"{name}: no such file; check the path") from None
    except OSError as e:
        raise InputError(f"{name}: cannot read ({e.strerror or e}); check its permissions") from None
    if os.path.isdir(name):
        raise InputError(f"{name}: is a folder, not a video file; pass the video itself")
    if size == 0:
        raise InputError(f"{name}: file is empty (0 bytes); pass a real video")
    try:
        return av.open(name, metadata_errors="ignore")
    except PermissionError as e:
        raise InputError(f"{name}: cannot read ({e.strerror or e}); check its permissions") from None
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as e:
        raise _corrupt(name, e) from None


def _corrupt(name: str, e: BaseException) -> InputError:
    reason = " ".join(str(getattr(e, "strerror", None) or e).split())[:120] or type(e).__name__
    return InputError(f"{name}: not a readable video ({reason}); it may be corrupt or another kind of file, "
                      f"{_VIDEO_FORMATS}")


def _video_stream(name: str, container: Any) -> Any:
    import av.stream

    attached = getattr(av.stream.Disposition, "attached_pic", 0)
    for stream in container.streams.video:
        if not (attached and stream.disposition & attached):  # cover art in a music file is no video
            return stream
    what = "audio only" if container.streams.audio else "no video or audio stream"
    raise InputError(f"{name}: has no video stream ({what}); {_VIDEO_FORMATS}")


def _info(name: str, container: Any, stream: Any) -> VideoInfo:
    duration = None
    if stream.duration is not None and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    rate = stream.average_rate or stream.guessed_rate
    cc = stream.codec_context
    width, height = (cc.width or 0, cc.height or 0) if cc is not None else (0, 0)
    return VideoInfo(name, duration, float(rate) if rate else None, int(width), int(height))
