"""Decoding real files written by the tests: orientation, pixel modes, sizing, bad input, encoding."""

from __future__ import annotations

import base64
import io
import struct
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from oculo.engines.base import Capabilities, ImagePart
from oculo.errors import InputError
from oculo.media import ImageLimits, Source, decode, encode, fit_size, load, load_all, to_base64, to_data_uri
from oculo.media import images as images_mod

RED, BLUE, WHITE, BLACK = (255, 0, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


def save(tmp_path: Path, name: str, img: Image.Image, **kw) -> bytes:
    path = tmp_path / name
    img.save(path, **kw)
    return path.read_bytes()


def near(a, b, tol=12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def photo(w: int, h: int, seed: int = 0) -> Image.Image:
    """Gradients plus noise: as hard to compress as a photograph, unlike a flat test card."""
    noise = Image.effect_noise((w, h), 40).convert("L")
    grad = Image.linear_gradient("L").resize((w, h))
    return Image.merge("RGB", (ImageChops.add(grad, noise, 2), noise, grad.transpose(Image.Transpose.ROTATE_180)))


def assert_one_line(err: pytest.ExceptionInfo, name: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg and name in msg and ";" in msg, msg
    return msg


# --- orientation and pixel modes -------------------------------------------------------------------------------


def test_exif_orientation_6_rotates_clockwise(tmp_path):
    img = Image.new("RGB", (80, 40), BLUE)
    img.paste(RED, (0, 0, 40, 40))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = decode(save(tmp_path, "o6.jpg", img, exif=exif, quality=95), "o6.jpg")
    assert out.size == (40, 80)
    assert near(out.getpixel((20, 10)), RED, 40)  # the left edge is now on top
    assert near(out.getpixel((20, 70)), BLUE, 40)


def test_exif_orientation_survives_resize(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 8
    data = save(tmp_path, "o8.png", Image.new("RGB", (400, 100), RED), exif=exif)
    out = decode(data, "o8.png", ImageLimits(max_pixels=10_000))
    assert out.height > out.width and out.width * out.height <= 10_000


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    data = save(tmp_path, "cmyk.jpg", Image.new("CMYK", (64, 64), (0, 255, 255, 0)), quality=95)
    out = decode(data, "cmyk.jpg")
    assert out.mode == "RGB" and near(out.getpixel((32, 32)), RED, 20)


def test_palette_png_with_transparency_composites_on_white(tmp_path):
    img = Image.new("P", (40, 20), 0)
    img.putpalette([0, 255, 0] + [0, 0, 0] * 255)  # index 0 green but transparent, index 1 black
    img.paste(1, (20, 0, 40, 20))
    out = decode(save(tmp_path, "p.png", img, transparency=0), "p.png")
    assert out.mode == "RGB"
    assert out.getpixel((5, 10)) == WHITE and out.getpixel((35, 10)) == BLACK


def test_rgba_alpha_composited_on_white(tmp_path):
    img = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    img.paste((255, 0, 0, 128), (20, 0, 40, 40))
    out = decode(save(tmp_path, "rgba.png", img), "rgba.png")
    assert out.getpixel((5, 5)) == WHITE
    assert near(out.getpixel((30, 5)), (255, 127, 127), 2)


def test_la_alpha_composited_on_white(tmp_path):
    img = Image.new("LA", (30, 30), (0, 0))
    img.paste((0, 255), (0, 0, 15, 30))
    out = decode(save(tmp_path, "la.png", img), "la.png")
    assert out.getpixel((5, 5)) == BLACK and out.getpixel((25, 5)) == WHITE


def test_16bit_png_scaled_not_clipped(tmp_path):
    img = Image.new("I;16", (64, 64), 0x8080)  # mid-gray in 16 bits
    img.paste(65535, (0, 0, 8, 8))
    data = save(tmp_path, "g16.png", img)
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = decode(data, "g16.png")
    assert near(out.getpixel((40, 40)), (128, 128, 128), 1)
    assert out.getpixel((2, 2)) == WHITE


def test_32bit_int_and_float_images(tmp_path):
    deep = Image.new("I", (32, 32), 30000)
    assert near(decode(save(tmp_path, "i.tif", deep), "i.tif").getpixel((5, 5)), (117, 117, 117), 1)
    unit = Image.new("F", (32, 32), 0.5)
    assert near(decode(save(tmp_path, "f.tif", unit), "f.tif").getpixel((5, 5)), (128, 128, 128), 1)


def test_1bit_image(tmp_path):
    img = Image.new("1", (40, 40), 0)
    img.paste(1, (20, 0, 40, 40))
    out = decode(save(tmp_path, "bw.png", img), "bw.png")
    assert out.mode == "RGB" and out.getpixel((5, 5)) == BLACK and out.getpixel((35, 5)) == WHITE


def test_animated_gif_and_webp_give_first_frame(tmp_path):
    frames = [Image.new("RGB", (32, 32), RED), Image.new("RGB", (32, 32), BLUE)]
    for name in ("anim.gif", "anim.webp"):
        data = save(tmp_path, name, frames[0], save_all=True, append_images=frames[1:], duration=100, loop=0)
        assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
        assert near(decode(data, name).getpixel((16, 16)), RED, 30)


def test_multipage_tiff_gives_first_page(tmp_path):
    pages = [Image.new("RGB", (32, 32), BLUE), Image.new("RGB", (32, 32), RED)]
    data = save(tmp_path, "pages.tiff", pages[0], save_all=True, append_images=pages[1:])
    assert decode(data, "pages.tiff").getpixel((16, 16)) == BLUE


# --- sizing ------------------------------------------------------------------------------------------------------


def test_resize_respects_max_pixels_and_aspect(tmp_path):
    data = save(tmp_path, "wide.png", photo(3000, 1000))
    out = decode(data, "wide.png", ImageLimits(max_pixels=100_000))
    assert out.width * out.height <= 100_000
    assert out.width * out.height > 95_000  # uses the budget, not just stays under it
    assert abs(out.width / out.height - 3.0) < 0.02


def test_small_image_is_not_upscaled(tmp_path):
    out = decode(save(tmp_path, "s.png", photo(300, 200)), "s.png")
    assert out.size == (300, 200)


def test_tiny_image_padded_to_min_side(tmp_path):
    out = decode(save(tmp_path, "tiny.png", Image.new("RGB", (10, 5), RED)), "tiny.png")
    assert out.size == (28, 28)
    assert out.getpixel((14, 14)) == RED  # centered
    assert out.getpixel((0, 0)) == WHITE and out.getpixel((27, 27)) == WHITE


def test_sliver_stays_within_budget_after_padding():
    limits = ImageLimits(max_pixels=10_000, min_side=28)
    w, h = fit_size((100_000, 3), limits)
    assert max(w, 28) * max(h, 28) <= 10_000
    assert fit_size((4000, 3000), ImageLimits()) == (1182, 886)


def test_limits_from_capabilities():
    assert ImageLimits.from_capabilities(Capabilities(max_pixels=500_000, min_side=14)) == ImageLimits(500_000, 14)
    with pytest.raises(ValueError):
        ImageLimits(max_pixels=0)


def test_big_jpeg_is_decoded_in_draft_mode(tmp_path):
    """A 12 MP JPEG for a 1 MP budget must be decoded by libjpeg at half scale, not in full and then shrunk."""
    data = save(tmp_path, "big.jpg", photo(4000, 3000), quality=90)
    loaded = images_mod._open_loaded(data, "big.jpg", ImageLimits())
    assert loaded.size == (2000, 1500)  # the DCT-scaled decode: never below the 1182x886 target
    out = decode(data, "big.jpg")
    assert out.size == (1182, 886)
    # Quality check: the draft path matches a full decode + LANCZOS closely.
    naive = Image.open(io.BytesIO(data)).convert("RGB").resize(out.size, Image.Resampling.LANCZOS)
    diff = ImageStat.Stat(ImageChops.difference(out, naive)).mean
    assert max(diff) < 4, diff


# --- bad input: one line, naming the file and the fix --------------------------------------------------------------


def test_empty_file():
    with pytest.raises(InputError) as err:
        decode(b"", "x.jpg")
    assert str(err.value) == "x.jpg: file is empty (0 bytes); pass a real image"


@pytest.mark.parametrize("name", ["cut.jpg", "cut.png", "cut_big.jpg"])
def test_truncated_file(tmp_path, name):
    img = photo(4000, 3000) if name == "cut_big.jpg" else photo(300, 200)
    data = save(tmp_path, name, img)
    with pytest.raises(InputError) as err:
        decode(data[: len(data) // 2], name)
    assert "truncated" in assert_one_line(err, name)


def test_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a picture\n" * 20)
    with pytest.raises(InputError) as err:
        decode(path.read_bytes(), "notes.txt")
    assert "not an image" in assert_one_line(err, "notes.txt")


def test_random_bytes_are_not_an_image():
    with pytest.raises(InputError) as err:
        decode(bytes(range(256)) * 4, "blob.bin")
    assert "not an image" in assert_one_line(err, "blob.bin")


@pytest.mark.parametrize(
    ("name", "data", "fmt"),
    [
        ("logo.svg", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "SVG"),
        ("IMG_0001.HEIC", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "HEIC"),
        ("doc.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
    ],
)
def test_unsupported_format_names_it_and_suggests_png(name, data, fmt):
    with pytest.raises(InputError) as err:
        decode(data, name)
    msg = assert_one_line(err, name)
    assert fmt in msg and "PNG or JPEG" in msg


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size: a decompression bomb costs a few bytes on disk."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_error(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(20_000, 20_000))
    with pytest.raises(InputError) as err:
        decode(path.read_bytes(), "bomb.png")
    msg = assert_one_line(err, "bomb.png")
    assert "400,000,000 pixels" in msg and "limit" in msg


def test_our_pixel_limit_applies_below_pillows(tmp_path, monkeypatch):
    monkeypatch.setattr(images_mod, "MAX_SOURCE_PIXELS", 5_000)
    data = save(tmp_path, "big.png", Image.new("RGB", (100, 100), RED))
    with pytest.raises(InputError) as err:
        decode(data, "big.png")
    assert "10,000 pixels" in assert_one_line(err, "big.png") and "5,000" in str(err.value)


def test_pillow_bomb_warning_band_and_error(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5_000)  # Pillow warns above 5,000 and raises above 10,000
    warn = save(tmp_path, "warn.png", Image.new("RGB", (80, 80), RED))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning leaking out would fail here
        assert decode(warn, "warn.png").size == (80, 80)  # under our own limit: accepted
    bomb = save(tmp_path, "bomb2.png", Image.new("RGB", (120, 120), RED))
    with pytest.raises(InputError) as err:
        decode(bomb, "bomb2.png")
    assert "14,400 pixels" in assert_one_line(err, "bomb2.png")


# --- load, load_all ----------------------------------------------------------------------------------------------


def test_load_and_load_all_preserve_order(tmp_path):
    colors = [RED, BLUE, BLACK, WHITE, (0, 255, 0)]
    paths = []
    for i, c in enumerate(colors):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (50, 40), c).save(paths[-1])
    part = load(Source.from_path(paths[0]), ImageLimits())
    assert isinstance(part, ImagePart) and part.name == str(paths[0]) and part.image.getpixel((1, 1)) == RED
    parts = load_all([Source.from_path(p) for p in paths], ImageLimits(), workers=3)
    assert [p.image.getpixel((1, 1)) for p in parts] == colors
    assert [p.name for p in parts] == [str(p) for p in paths]


def test_load_all_reports_the_bad_file(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (50, 40), RED).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    with pytest.raises(InputError) as err:
        load_all([Source.from_path(good), Source.from_path(bad), Source.from_path(good)])
    assert_one_line(err, "bad.png")


# --- encoding ----------------------------------------------------------------------------------------------------


def screenshot(w: int = 800, h: int = 600) -> Image.Image:
    img = Image.new("RGB", (w, h), WHITE)
    draw = ImageDraw.Draw(img)
    for y in range(20, h - 20, 18):
        draw.text((20, y), "The quick brown fox jumps over the lazy dog 0123456789", fill=BLACK)
    draw.rectangle((600, 20, 780, 200), fill=(30, 120, 220))
    return img


def test_encode_auto_png_for_screenshots_jpeg_for_photos():
    data, mime = encode(screenshot())
    assert mime == "image/png" and data.startswith(b"\x89PNG")
    data, mime = encode(photo(800, 600))
    assert mime == "image/jpeg" and data.startswith(b"\xff\xd8")
    assert encode(photo(100, 100))[1] == "image/png"  # small: PNG costs little
    assert encode(photo(800, 600), "png")[1] == "image/png"
    assert encode(screenshot(), "jpeg")[1] == "image/jpeg"
    with pytest.raises(ValueError):
        encode(screenshot(), "gif")


def test_encoded_image_round_trips():
    img = screenshot()
    assert ImageChops.difference(decode(encode(img)[0], "rt.png"), img).getbbox() is None  # PNG is lossless


def test_base64_and_data_uri():
    img = screenshot(200, 100)
    raw = to_base64(img)
    assert base64.b64decode(raw).startswith(b"\x89PNG")
    uri = to_data_uri(img)
    assert uri == "data:image/png;base64," + raw
    assert to_data_uri(photo(800, 600)).startswith("data:image/jpeg;base64,/9j/")
