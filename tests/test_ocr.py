"""Classic OCR: line assembly and reading order on synthetic boxes, then both real engines on real pages."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from oculo.engines.ocr import OcrEngine, OcrPage, RapidOcrEngine, TesseractEngine, get_ocr_engine, parse_tesseract_tsv
from oculo.engines.ocr_layout import Line, Word, assemble_lines
from oculo.errors import NotInstalled, Unsupported

INVOICES = Path(__file__).parents[2] / "shared" / "data" / "invoices"
FONTS = [Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"), Path("/Library/Fonts/Arial.ttf"),
         Path("/System/Library/Fonts/Supplemental/Arial.ttf"), Path("C:/Windows/Fonts/arial.ttf")]

needs_invoices = pytest.mark.skipif(not INVOICES.is_dir(), reason=f"shared invoices not found at {INVOICES}")
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                                     reason="tesseract is not installed (apt-get install tesseract-ocr)")


def w(text: str, x0: float, y0: float, x1: float | None = None, h: float = 20, conf: float = 0.9) -> Word:
    return Word(text, (x0, y0, x1 if x1 is not None else x0 + 12 * len(text), y0 + h), conf)


def texts(lines: list[Line]) -> list[str]:
    return [line.text for line in lines]


# -- line assembly and reading order ------------------------------------------------------------------------------

def test_two_words_on_one_line_are_merged() -> None:
    lines = assemble_lines([w("world", 80, 12), w("Hello", 10, 10), w("Next", 10, 40)])
    assert texts(lines) == ["Hello world", "Next"]
    assert lines[0].box == (10, 10, 140, 32)
    assert [x.text for x in lines[0].words] == ["Hello", "world"]


def test_skewed_line_stays_one_line() -> None:
    # About 3 degrees: the last word sits more than a full text height below the first, yet neighbours overlap.
    words = [w(f"w{i}", 10 + 60 * i, 100 + 3 * i) for i in range(10)]
    words += [w(f"v{i}", 10 + 60 * i, 135 + 3 * i) for i in range(10)]
    lines = assemble_lines(reversed(words))
    assert texts(lines) == [" ".join(f"w{i}" for i in range(10)), " ".join(f"v{i}" for i in range(10))]


def prose(i: int, col: str) -> str:
    return f"{col} line {i} of some running text"


def test_two_columns_are_read_column_by_column() -> None:
    words = [w("A Title Across Both Columns Of The Page", 100, 10, 900)]
    for i in range(6):
        y = 60 + 26 * i
        words.append(w(prose(i, "left"), 50, y, 450))
        words.append(w(prose(i, "right"), 550, y + 2, 950))
    words.append(w("a footer that spans the whole width of the page again", 50, 240, 950))
    lines = assemble_lines(words)
    assert texts(lines) == (["A Title Across Both Columns Of The Page"]
                            + [prose(i, "left") for i in range(6)]
                            + [prose(i, "right") for i in range(6)]
                            + ["a footer that spans the whole width of the page again"])


def test_three_columns_and_word_level_boxes() -> None:
    words = []
    for i in range(4):
        y = 10 + 25 * i
        for col, x in (("a", 0), ("b", 400), ("c", 800)):
            for j, token in enumerate(prose(i, col).split()):  # one box per word, as tesseract gives
                words.append(w(token, x + 45 * j, y, x + 45 * j + 38))
    lines = assemble_lines(words)
    assert texts(lines) == [prose(i, col) for col in "abc" for i in range(4)]


def test_table_rows_and_label_value_pairs_stay_whole() -> None:
    rows = [("Invoice Number:", "42183017"), ("Invoice Date:", "August 3, 2014"), ("Total:", "$4.11")]
    words = [w(label, 50, 10 + 25 * i) for i, (label, _) in enumerate(rows)]
    words += [w(value, 600, 12 + 25 * i) for i, (_, value) in enumerate(rows)]
    table = [("Amazon Elastic Compute Cloud", "1", "$1.87", "$1.87"), ("Amazon Glacier", "1", "$2.22", "$2.22"),
             ("AWS Data Transfer", "3", "$0.01", "$0.03"), ("Amazon Simple Storage Service", "1", "$0.01", "$0.01")]
    for i, cells in enumerate(table):
        for cell, x in zip(cells, (50, 500, 650, 800)):
            words.append(w(cell, x, 120 + 25 * i))
    lines = assemble_lines(words)
    assert texts(lines) == [f"{a} {b}" for a, b in rows] + [" ".join(cells) for cells in table]


def test_assembly_edge_cases() -> None:
    assert assemble_lines([]) == []
    assert assemble_lines([w("  ", 0, 0)]) == []
    # a small mark inside the line's height band (a footnote star) joins the line
    assert texts(assemble_lines([w("Tax", 0, 0, h=30), Word("*", (40, 2, 46, 12), 0.5)])) == ["Tax *"]
    # a comma tesseract boxes on its own, hanging below the baseline of "3" (boxes from a real page)
    date = [Word("August", (1432, 360, 1499, 381)), Word("3", (1506, 360, 1517, 376)),
            Word(",", (1526, 374, 1528, 379)), Word("2014", (1537, 360, 1585, 376))]
    assert texts(assemble_lines(date)) == ["August 3 , 2014"]
    line = Line.from_words([w("ab", 0, 0, conf=1.0), w("cdefgh", 40, 0, conf=0.5)])
    assert line.confidence == pytest.approx((2 * 1.0 + 6 * 0.5) / 8)


def test_ocr_page_text_and_dict() -> None:
    page = OcrPage(assemble_lines([w("Hello", 10, 10), w("world", 80, 12), w("Total 4.11", 10, 40)]),
                   200, 100, "test", 0.5)
    assert page.text == "Hello world\nTotal 4.11"
    d = page.to_dict()
    assert d == {"engine": "test", "width": 200, "height": 100, "seconds": 0.5, "lines": [
        {"text": "Hello world", "box": [10, 10, 140, 32], "confidence": 0.9},
        {"text": "Total 4.11", "box": [10, 40, 130, 60], "confidence": 0.9}]}
    assert [x["text"] for x in page.to_dict(words=True)["lines"][0]["words"]] == ["Hello", "world"]


def test_parse_tesseract_tsv() -> None:
    tsv = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
           "1\t1\t0\t0\t0\t0\t0\t0\t800\t600\t-1\t\n"
           "4\t1\t1\t1\t1\t0\t10\t10\t200\t20\t-1\t\n"
           "5\t1\t1\t1\t1\t1\t10\t10\t80\t20\t96.5\tInvoice\n"
           "5\t1\t1\t1\t1\t2\t100\t11\t110\t19\t91\t42183017\n"
           "5\t1\t1\t1\t1\t3\t220\t11\t5\t19\t0\t \n")
    words = parse_tesseract_tsv(tsv)
    assert [(x.text, x.box, x.confidence) for x in words] == [
        ("Invoice", (10, 10, 90, 30), 0.965), ("42183017", (100, 11, 210, 30), 0.91)]


# -- engine lookup and missing backends ---------------------------------------------------------------------------

def test_unknown_engine() -> None:
    with pytest.raises(Unsupported, match=r"^unknown OCR engine 'easyocr'; choose rapidocr or tesseract$"):
        get_ocr_engine("easyocr")


def test_missing_tesseract(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(NotInstalled) as e:
        TesseractEngine()
    assert str(e.value) == "tesseract is not installed; apt-get install tesseract-ocr (or brew install tesseract)"


@needs_tesseract
def test_missing_tesseract_language() -> None:
    with pytest.raises(NotInstalled, match=r"no zzz language data .*apt-get install tesseract-ocr-zzz"):
        TesseractEngine(lang="eng+zzz")


def test_missing_rapidocr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rapidocr", None)
    with pytest.raises(NotInstalled, match=r"rapidocr is not installed .*pip install 'oculo\[ocr\]'"):
        RapidOcrEngine()


# -- the real engines ---------------------------------------------------------------------------------------------

def engine(name: str) -> OcrEngine:
    if name == "rapidocr":
        pytest.importorskip("rapidocr", reason="rapidocr is not installed (pip install 'oculo[ocr]')")
    elif shutil.which("tesseract") is None:
        pytest.skip("tesseract is not installed (apt-get install tesseract-ocr)")
    eng = get_ocr_engine(name)
    assert isinstance(eng, OcrEngine) and eng is get_ocr_engine(name)  # built once, shared
    return eng


@pytest.fixture(scope="module")
def invoice_page() -> Image.Image:
    if not INVOICES.is_dir():
        pytest.skip(f"shared invoices not found at {INVOICES}")
    pytest.importorskip("pypdfium2")
    from oculo.media.documents import open_document

    (page,) = open_document(INVOICES / "AmazonWebServices.pdf", dpi=200, max_pixels=40_000_000)
    return page.image


@pytest.fixture(scope="module")
def text_image() -> Image.Image:
    font_path = next((p for p in FONTS if p.is_file()), None)
    font = ImageFont.truetype(str(font_path), 40) if font_path else ImageFont.load_default(size=40)
    img = Image.new("RGB", (900, 260), "white")
    draw = ImageDraw.Draw(img)
    draw.text((40, 40), "Invoice number 90817", fill="black", font=font)
    draw.text((40, 150), "Total due", fill="black", font=font)
    draw.text((600, 150), "123.45", fill="black", font=font)
    return img


@needs_invoices
@pytest.mark.parametrize("name", ["rapidocr", "tesseract"])
def test_engine_reads_invoice(name: str, invoice_page: Image.Image) -> None:
    page = engine(name).read(invoice_page)
    assert page.engine == name and (page.width, page.height) == invoice_page.size
    assert "42183017" in page.text and "4.11" in page.text
    number = next(line for line in page.lines if "42183017" in line.text)
    assert "Invoice Number" in number.text  # the label and its value end up on one line
    assert 0.5 < number.confidence <= 1.0
    x0, y0, x1, y1 = number.box
    assert 0 <= x0 < x1 <= page.width and 0 <= y0 < y1 <= page.height


@pytest.mark.parametrize("name", ["rapidocr", "tesseract"])
def test_engine_reads_rendered_text(name: str, text_image: Image.Image) -> None:
    page = engine(name).read(text_image)
    assert page.text.split("\n") == ["Invoice number 90817", "Total due 123.45"]
    assert all(line.confidence > 0.6 for line in page.lines)
