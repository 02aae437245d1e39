"""Benchmark: 12 MP JPEG -> model-ready 1 MP image, oculo's draft-mode path vs the naive Pillow path.

    python bench/images.py [--n 8] [--repeat 5] [--noise 12]

Both paths do the same work per image (read, decode, orient, convert to RGB, resize to the same 1 MP size with the
same filter, encode JPEG q90) on one thread; only the decode strategy differs. The last line printed is one JSON object.

Content matters: draft mode skips IDCT and resize work, not entropy decoding, so the noisier (bigger) the file, the
smaller the gain. The default noise gives ~2.3 MiB files, like a 12 MP phone photo; `--noise 30` gives ~3.5 MiB.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageChops, ImageOps

try:
    import oculo  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from oculo.media import ImageLimits, Source, encode, fit_size, load
from oculo.media.images import RESAMPLE

W, H = 4000, 3000


def make_photo(noise_sigma: float) -> Image.Image:
    """Smooth gradients, blotchy texture and per-pixel sensor noise: JPEG can't cheat on it as on a flat test card."""
    grad = Image.linear_gradient("L").resize((W, H))
    bases = (grad, Image.radial_gradient("L").resize((W, H)), grad.transpose(Image.Transpose.ROTATE_180))
    texture = Image.effect_noise((W // 8, H // 8), 60).convert("L").resize((W, H), Image.Resampling.BICUBIC)
    noise = Image.effect_noise((W, H), noise_sigma).convert("L")
    flips = (Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM, Image.Transpose.ROTATE_180)
    channels = [
        ImageChops.add(ImageChops.add(base, noise.transpose(flip), 2, -64), texture, 2, -64)
        for base, flip in zip(bases, flips)
    ]
    return Image.merge("RGB", channels)


def oculo_path(path: Path, limits: ImageLimits) -> tuple[int, int]:
    img = load(Source.from_path(path), limits).image
    encode(img)
    return img.size


def naive_path(path: Path, limits: ImageLimits) -> tuple[int, int]:
    img = Image.open(path)
    img.load()
    img = ImageOps.exif_transpose(img).convert("RGB")
    img = img.resize(fit_size(img.size, limits), RESAMPLE)
    encode(img)
    return img.size


def run(fn, paths: list[Path], limits: ImageLimits) -> float:
    start = time.perf_counter()
    for p in paths:
        fn(p, limits)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8, help="number of 12 MP JPEGs (default 8)")
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds; the median counts (default 5)")
    ap.add_argument("--noise", type=float, default=12, help="per-pixel noise sigma in 0-255 levels (default 12)")
    args = ap.parse_args()
    limits = ImageLimits()

    with tempfile.TemporaryDirectory(prefix="oculo-bench-") as tmp:
        paths = []
        for i in range(args.n):
            paths.append(Path(tmp) / f"photo_{i}.jpg")
            make_photo(args.noise + i % 3).save(paths[-1], quality=90)
        mb = sum(p.stat().st_size for p in paths) / args.n / 2**20
        assert oculo_path(paths[0], limits) == naive_path(paths[0], limits)  # same output size, and a warm-up

        rounds = {"oculo (draft)": [], "naive": []}
        for _ in range(args.repeat):  # interleaved, so drift in machine load hits both alike
            rounds["oculo (draft)"].append(run(oculo_path, paths, limits))
            rounds["naive"].append(run(naive_path, paths, limits))

    draft_s, naive_s = statistics.median(rounds["oculo (draft)"]), statistics.median(rounds["naive"])
    out_w, out_h = fit_size((W, H), limits)
    print(f"{args.n} JPEGs {W}x{H} (~{mb:.1f} MiB each, q90, noise {args.noise:g}) -> {out_w}x{out_h}, one thread, "
          f"median of {args.repeat}; Python {platform.python_version()}, Pillow {Image.__version__}")
    print(f"{'path':<16}{'total s':>10}{'ms/image':>11}{'images/s':>11}")
    for label, secs in (("oculo (draft)", draft_s), ("naive", naive_s)):
        print(f"{label:<16}{secs:>10.3f}{secs / args.n * 1000:>11.1f}{args.n / secs:>11.2f}")
    print(f"speedup: {naive_s / draft_s:.2f}x")
    print(json.dumps({
        "bench": "images",
        "n": args.n,
        "noise": args.noise,
        "mib_per_image": round(mb, 2),
        "draft_images_per_s": round(args.n / draft_s, 2),
        "naive_images_per_s": round(args.n / naive_s, 2),
        "speedup": round(naive_s / draft_s, 2),
    }))


if __name__ == "__main__":
    main()
