"""Decode untrusted image bytes into small, upright RGB images a vision model can take, and encode them for the wire.

Every failure a user can cause becomes one `InputError` line naming the file and the fix.
"""

from __future__ import annotations

import base64
import io
import math
import os
import re
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from PIL import Image, ImageFile

from ..errors import InputError

if TYPE_CHECKING:
    from .sources import Source

__all__ = [
    "DEFAULT_MAX_PIXELS", "ImageLimits", "ImagePart", "MAX_SOURCE_PIXELS", "decode", "encode", "fit_size", "load",
    "load_all", "to_base64", "to_data_uri", "pad_to_min_side", "pad_to_fit", "to_rgb",
]

# The budget for a model the catalog does not know (a catalog model gets its own native budget, see
# engines.base.with_catalog_limits): about what Ollama feeds Qwen2.5-VL; more costs tokens, rarely accuracy.
DEFAULT_MAX_PIXELS = 1024 * 1024
# Larger than any camera sensor in use (~150 MP), small enough that a crafted header cannot make us allocate gigabytes.
MAX_SOURCE_PIXELS = 180_000_000
# PNG below this size costs little, and JPEG artifacts on tiny icons or crops hurt more than the bytes saved.
SMALL_PIXELS = 256 * 256
# Screenshots, documents and charts stay under this many distinct colors even with anti-aliased text; photos do not.
FEW_COLORS = 4096
JPEG_QUALITY = 90
# After JPEG draft decoding the remaining shrink is under 2x, where bicubic is as sharp as LANCZOS and cheaper; it is
# also the filter the models' own processors (Qwen2-VL, CLIP, LLaVA) resample with.
RESAMPLE = Image.Resampling.BICUBIC
WHITE = (255, 255, 255)

# A truncated file must fail loudly rather than come back as a half-grey picture the model would describe.
ImageFile.LOAD_TRUNCATED_IMAGES = False

# Warning filters are process-global; serialize the (header-only, cheap) open so threads don't undo each other's filter.
_OPEN_LOCK = threading.Lock()

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIGNATURES = {
    b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF8": "GIF",
    b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"BM": "BMP",
}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}


@dataclass(frozen=True)
class ImagePart:
    """A decoded, normalized RGB image and where it came from (for error messages).

    It lives here, below the engines, because media makes it and engines carry it: media knows nothing of engines.
    """

    image: Image.Image
    name: str = "<image>"


class _HasImageLimits(Protocol):
    """What `ImageLimits.from_capabilities` reads: an engine's `Capabilities`, or anything shaped like it."""

    @property
    def max_pixels(self) -> int: ...

    @property
    def min_side(self) -> int: ...

    @property
    def max_aspect(self) -> float: ...


@dataclass(frozen=True)
class ImageLimits:
    """What one image may cost the model: a pixel budget, the smallest side and the most elongated shape it accepts.

    An image outside the shape limits is padded onto white rather than refused: a processor that rejects a
    sliver (Qwen2-VL: "aspect ratio must be smaller than 200") reads the padded one fine.
    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    min_side: int = 28
    max_aspect: float = 200.0  # long side / short side; Qwen-family processors refuse beyond 200

    def __post_init__(self) -> None:
        if self.max_pixels < 1 or self.min_side < 1 or self.max_aspect < 1:
            raise ValueError(f"image limits must be positive (and max_aspect at least 1), got {self}")

    @classmethod
    def from_capabilities(cls, caps: _HasImageLimits) -> ImageLimits:
        return cls(max_pixels=caps.max_pixels, min_side=caps.min_side, max_aspect=caps.max_aspect)


def decode(data: bytes, name: str, limits: ImageLimits | None = None) -> Image.Image:
    """Bytes to an upright RGB image within `limits`; bad input raises a one-line `InputError`."""
    limits = limits or ImageLimits()
    if not data:
        raise InputError(f"{name}: file is empty (0 bytes); pass a real image")
    img = _open_loaded(data, name, limits)
    orientation = _orientation(img)
    img = to_rgb(img, name)
    size = fit_size(img.size, limits)
    if size != img.size:
        # For big non-JPEG inputs, reducing_gap box-filters down to 3x the target first: far cheaper, same look.
        img = img.resize(size, RESAMPLE, reducing_gap=3.0)
    # Rotating after the resize moves a quarter of the pixels; the pixel budget does not care about orientation.
    if orientation in _TRANSPOSE:
        img = img.transpose(_TRANSPOSE[orientation])
    return pad_to_fit(img, limits)


def padded_size(size: tuple[int, int], limits: ImageLimits) -> tuple[int, int]:
    """The canvas `pad_to_fit` puts an image of `size` on: sides at least `min_side`, aspect within `max_aspect`."""
    w, h = max(size[0], limits.min_side), max(size[1], limits.min_side)
    # Round the short side up: 8000/200 = 40 exactly passes a "smaller than 200" check only with the ceiling.
    w = max(w, math.ceil(h / limits.max_aspect))
    h = max(h, math.ceil(w / limits.max_aspect))
    return w, h


def fit_size(size: tuple[int, int], limits: ImageLimits) -> tuple[int, int]:
    """The largest same-aspect size whose area, after padding (`padded_size`), stays within `max_pixels`."""
    w, h = size
    budget = limits.max_pixels
    if w * h > budget:
        scale = math.sqrt(budget / (w * h))
        w, h = max(1, int(w * scale)), max(1, int(h * scale))
    # A sliver (say 20000x3) padded up to min_side or to max_aspect would blow the budget: shrink its long side.
    pw, ph = padded_size((w, h), limits)
    if pw * ph > budget:
        long_, short = max(size), min(size)
        target = min(long_, budget // limits.min_side, math.isqrt(int(budget * limits.max_aspect)))
        while target > 1:
            s = max(1, round(short * target / long_))
            w, h = (target, s) if size[0] >= size[1] else (s, target)
            pw, ph = padded_size((w, h), limits)
            if pw * ph <= budget:
                break
            target -= max(1, target // 100)
    return w, h


def _open_loaded(data: bytes, name: str, limits: ImageLimits) -> Image.Image:
    fmt = ""
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            # Pillow's warning threshold (~89 MP) is below real cameras; our own check below is the limit that counts.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
        fmt = img.format or ""
        pixels = img.width * img.height
        if pixels > MAX_SOURCE_PIXELS:
            raise _bomb(name, pixels, MAX_SOURCE_PIXELS)
        # For JPEG, draft makes libjpeg decode at 1/2, 1/4 or 1/8 scale, never below the requested size, so the
        # final resize still has full detail to work from; other formats ignore it.
        img.draft("RGB", fit_size(img.size, limits))
        img.load()
        return img
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's own limit (its MAX_IMAGE_PIXELS) can sit below ours; its message holds both numbers.
        nums = [int(n) for n in re.findall(r"(\d+) pixels", str(e))]
        raise _bomb(name, *(nums if len(nums) == 2 else (0, MAX_SOURCE_PIXELS))) from None
    except Image.UnidentifiedImageError:
        raise InputError(f"{name}: {_not_an_image(data)}") from None
    except MemoryError:
        raise InputError(f"{name}: not enough memory to decode this image; shrink it first") from None
    except Exception as e:  # noqa: BLE001 - Pillow plugins raise a zoo of types on corrupt data
        reason = _one_line(e)
        fmt = fmt or _signature(data) or "image"
        if "truncated" in reason.lower() or isinstance(e, EOFError):
            raise InputError(f"{name}: {fmt} file is truncated; re-download or re-export it") from e
        if "decoder" in reason and "not available" in reason:
            raise InputError(f"{name}: {fmt} is not supported here ({reason}); convert it to PNG or JPEG") from e
        raise InputError(f"{name}: cannot decode this {fmt} file ({reason}); it may be corrupt, re-export it") from e


def _bomb(name: str, pixels: int, limit: int) -> InputError:
    what = f"{pixels:,} pixels" if pixels else "too many pixels"
    return InputError(
        f"{name}: image has {what}, over the {limit:,}-pixel safety limit (possible decompression bomb); "
        "downscale it first"
    )


def _not_an_image(data: bytes) -> str:
    head = data[:1024]
    fmt = None
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        fmt = "HEIC/HEIF"
    elif head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        fmt = "AVIF"
    elif head.startswith(b"%PDF-"):
        fmt = "PDF"
    elif head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):
        fmt = "JPEG XL"
    elif b"<svg" in head.lower():
        fmt = "SVG"
    if fmt:
        return f"{fmt} images are not supported; convert it to PNG or JPEG first"
    known = _signature(data)
    if known:
        return f"starts like a {known} file but cannot be read (truncated or corrupt); re-download or re-export it"
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "not an image (it looks like text); pass a JPEG, PNG, WebP, GIF, BMP or TIFF file"
        except UnicodeDecodeError:
            pass
    return "not an image (unrecognized format); pass a JPEG, PNG, WebP, GIF, BMP or TIFF file"


def _signature(data: bytes) -> str | None:
    """The format a file's magic bytes claim, to tell a damaged image from something that never was one."""
    for magic, fmt in _SIGNATURES.items():
        if data.startswith(magic):
            return fmt
    return "WEBP" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else None


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or "no details"
    return text[:200]


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - corrupt EXIF should not cost the picture
        return 1
    return value if isinstance(value, int) else 1


def to_rgb(img: Image.Image, name: str) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I") or mode == "F":
        img = _to_8bit_gray(img)
    elif mode == "CMYK":
        return _cmyk_to_rgb(img)
    elif mode == "1":
        img = img.convert("L")
    if img.has_transparency_data:
        rgba = img.convert("RGBA")  # also un-premultiplies La/RGBa and resolves palette and tRNS transparency
        canvas = Image.new("RGB", rgba.size, WHITE)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    try:
        return img.convert("RGB")
    except ValueError as e:
        reason = _one_line(e)
        raise InputError(f"{name}: pixel mode {mode} is not supported ({reason}); convert it to PNG or JPEG") from e


def _to_8bit_gray(img: Image.Image) -> Image.Image:
    """Scale deep grayscale to 0..255: Pillow's own conversion clips, turning every mid-tone white."""
    if img.mode == "F":
        _, hi = img.getextrema()
        assert isinstance(hi, (int, float))  # one band: (min, max), not a pair per band
        scale = 255.0 if hi <= 1.0 else (1.0 if hi <= 255 else 255.0 / hi)
    else:
        if img.mode != "I":
            img = img.convert("I")  # I;16, I;16B, I;16L... all widen losslessly
            scale = 1 / 257
        else:
            _, hi = img.getextrema()
            assert isinstance(hi, (int, float))  # one band: (min, max), not a pair per band
            # A 32-bit 'I' image says nothing of its depth, so infer it from the values it actually holds.
            scale = 1.0 if hi <= 255 else (1 / 257 if hi <= 65535 else 255.0 / hi)
    return img.point(lambda v: v * scale).convert("L")


def _cmyk_to_rgb(img: Image.Image) -> Image.Image:
    icc = img.info.get("icc_profile")
    if icc:
        # Pillow's formula ignores the ink profile, which shifts print-ready colors badly; use it when one is given.
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            assert out is not None  # None only with inPlace=True
            return out
        except Exception:  # noqa: BLE001 - a broken profile or missing littlecms: fall back to the plain formula
            pass
    return img.convert("RGB")


def pad_to_min_side(img: Image.Image, min_side: int) -> Image.Image:
    return _pad(img, (max(img.width, min_side), max(img.height, min_side)))


def pad_to_fit(img: Image.Image, limits: ImageLimits) -> Image.Image:
    """Centre `img` on white so no side is under `min_side` and the aspect ratio stays within `max_aspect`."""
    return _pad(img, padded_size(img.size, limits))


def _pad(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    if size == img.size:
        return img
    canvas = Image.new("RGB", size, WHITE)
    canvas.paste(img, ((size[0] - img.width) // 2, (size[1] - img.height) // 2))
    return canvas


def load(source: Source, limits: ImageLimits | None = None) -> ImagePart:
    return ImagePart(decode(source.read(), source.name, limits), source.name)


def load_all(
    sources: Sequence[Source], limits: ImageLimits | None = None, workers: int | None = None
) -> list[ImagePart]:
    """Load many images in parallel (Pillow releases the GIL while decoding), in input order."""
    sources = list(sources)
    if len(sources) <= 1 or workers == 1:
        return [load(s, limits) for s in sources]
    workers = workers or min(8, os.cpu_count() or 1)
    pool = ThreadPoolExecutor(max_workers=min(workers, len(sources)), thread_name_prefix="oculo-load")
    try:
        futures = [pool.submit(load, s, limits) for s in sources]
        return [f.result() for f in futures]
    finally:
        # On the first bad file, don't keep decoding the rest just to throw them away.
        pool.shutdown(wait=True, cancel_futures=True)


def encode(img: Image.Image, fmt: str = "auto") -> tuple[bytes, str]:
    """Bytes and MIME type.

    "auto" picks PNG when the image is small or has few colors (screenshots and documents keep sharp text and
    compress well losslessly), else JPEG quality 90 (photos: a fraction of the bytes, no visible loss).
    """
    fmt = fmt.lower()
    if img.mode != "RGB":
        img = to_rgb(img, "<image>")
    if fmt == "auto":
        few = img.width * img.height <= SMALL_PIXELS or img.getcolors(FEW_COLORS) is not None
        fmt = "png" if few else "jpeg"
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, "PNG", compress_level=3)  # level 3 is about twice as fast as 6 for a few percent more bytes
        return buf.getvalue(), "image/png"
    if fmt in ("jpeg", "jpg"):
        img.save(buf, "JPEG", quality=JPEG_QUALITY)
        return buf.getvalue(), "image/jpeg"
    raise ValueError(f"unknown image format {fmt!r}; use 'auto', 'png' or 'jpeg'")


def to_base64(img: Image.Image, fmt: str = "auto") -> str:
    """Raw base64 without a prefix, as Ollama's `images` field wants."""
    return base64.b64encode(encode(img, fmt)[0]).decode("ascii")


def to_data_uri(img: Image.Image, fmt: str = "auto") -> str:
    """A `data:` URI, as OpenAI-style `image_url` parts want."""
    data, mime = encode(img, fmt)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
