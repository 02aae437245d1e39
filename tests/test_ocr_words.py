"""Classic OCR keeps the spaces a reader sees on scanned PDFs, and scans are read at their own resolution.

The documents are made here: an invoice-like page drawn with DejaVu Sans at 150 dpi and saved by Pillow as an
image-only PDF (Pillow stores RGB pages as JPEG, so the scan carries JPEG artefacts, as real scans do). At 8 pt,
RapidOCR's recognizer runs words together on it ("Subtotal1,562.40", "Travel expenses1212.40212.40").
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from oculo.engines.ocr_layout import Word, assemble_lines, split_phrase
from oculo.media.documents import open_document
from oculo.media.orientation import upright
from oculo.tasks.ocr import ocr_document

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
needs_font = pytest.mark.skipif(not FONT.is_file(), reason="DejaVu Sans missing; apt-get install fonts-dejavu-core")
needs_rapidocr = pytest.mark.skipif(importlib.util.find_spec("rapidocr") is None, reason="rapidocr not installed")

DPI = 150
LINES = [("Schmidt & Söhne GmbH", 13), ("Northwind Traders Ltd", 9), ("Invoice no: INV-2026-98690", 9),
         ("Invoice date: 12.03.2026", 8), ("Travel expenses  1  212.40  212.40", 8), ("Subtotal  1,562.40", 8),
         ("VAT 19%  296.86", 8), ("Total due  1,859.26 EUR", 9)]


def invoice_page(dpi: int = DPI) -> Image.Image:
    img = Image.new("RGB", (round(8.27 * dpi), round(11.69 * dpi)), "white")
    draw = ImageDraw.Draw(img)
    y = round(0.8 * dpi)
    for text, pt in LINES:
        draw.text((round(0.8 * dpi), y), text, fill="black", font=ImageFont.truetype(str(FONT), round(pt * dpi / 72)))
        y += round(pt * dpi / 72 * 1.8)
    return img


@pytest.fixture(scope="module")
def scanned_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scan") / "scan.pdf"
    invoice_page().save(path, resolution=DPI)
    return path


@needs_font
def test_a_scanned_page_is_read_at_its_own_resolution(scanned_pdf: Path) -> None:
    page = open_document(scanned_pdf, dpi=200, max_pixels=40_000_000, native_scans=True)[0]
    assert page.image.size == invoice_page().size and page.dpi == DPI
    # Without native_scans the page is rendered at the asked resolution, as before.
    rendered = open_document(scanned_pdf, dpi=200, max_pixels=40_000_000)[0]
    assert abs(rendered.dpi - 200) < 0.5 and abs(rendered.image.width - 8.27 * 200) <= 2
    # The budget still caps it: only shrunk, never enlarged.
    small = open_document(scanned_pdf, max_pixels=500_000, native_scans=True)[0]
    assert small.image.width * small.image.height <= 500_000 and small.dpi < DPI


def test_a_page_with_drawing_on_it_is_rendered(tmp_path: Path) -> None:
    pikepdf = pytest.importorskip("pikepdf")
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 100))
    pdf.pages[0].Contents = pdf.make_stream(b"0 0 1 rg 10 10 50 50 re f")
    path = tmp_path / "vector.pdf"
    pdf.save(path)
    page = open_document(path, dpi=144, max_pixels=40_000_000, native_scans=True)[0]
    assert page.dpi == 144 and page.image.size == (400, 200)


@needs_font
@needs_rapidocr
def test_rapidocr_keeps_the_spaces_of_a_150_dpi_scan(scanned_pdf: Path) -> None:
    text = ocr_document(scanned_pdf, "rapidocr")[0].text
    for line, _ in LINES:
        assert " ".join(line.split()) in text.splitlines(), (line, text)


def test_split_phrase_puts_back_a_dropped_space_where_the_page_shows_a_gap() -> None:
    # Two blocks of ink 10 px tall with letter gaps of 1 px, and one gap of 6 px the recognizer read as nothing.
    gray = np.full((20, 100), 255, np.uint8)
    chars = []
    x = 5
    for i, c in enumerate("abcdef"):
        gray[5:15, x:x + 8] = 0
        chars.append((c, (float(x), 5.0, float(x + 8), 15.0)))
        x += 8 + (6 if i == 2 else 1)
    words = split_phrase("abcdef", (4, 4, 80, 16), 0.9, chars, gray)
    assert [w.text for w in words] == ["abc", "def"]
    assert words[0].box[2] == chars[2][1][2] and words[1].box[0] == chars[3][1][0]
    # The recognizer's own spaces stay, and letter gaps are not spaces.
    assert [w.text for w in split_phrase("ab cdef", (4, 4, 80, 16), 0.9, chars, gray)] == ["ab", "c", "def"]
    # Character boxes that do not match the text: the phrase is split at its own spaces only.
    assert [w.text for w in split_phrase("ab cd", (4, 4, 80, 16), 0.9, chars, gray)] == ["ab cd"]
    assert [w.text for w in split_phrase("abcdef", (4, 4, 80, 16), 0.9, None, gray)] == ["abcdef"]


def test_words_from_split_phrases_assemble_into_one_line() -> None:
    words = [Word("Subtotal", (10, 10, 80, 24)), Word("1,562.40", (88, 10, 150, 24))]
    lines = assemble_lines(words)
    assert [ln.text for ln in lines] == ["Subtotal 1,562.40"]


needs_osd = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract (with osd data) not installed")


@needs_font
@needs_osd
@pytest.mark.parametrize("turned", [0, 90, 180, 270])
def test_a_sideways_or_upside_down_scan_is_turned_upright_and_the_record_says_so(tmp_path: Path, turned: int) -> None:
    path = tmp_path / f"page{turned}.png"
    invoice_page(200).rotate(turned, expand=True).save(path)  # PIL turns counter-clockwise
    page = ocr_document(path, "tesseract")[0]
    assert page.rotated == turned and (page.to_dict().get("rotated") == turned or turned == 0)
    assert "Invoice no: INV-2026-98690" in page.text and "Northwind Traders Ltd" in page.text


def test_a_blank_page_is_left_as_it_is() -> None:
    image = Image.new("RGB", (400, 300), "white")
    assert upright(image) == (image, 0)
