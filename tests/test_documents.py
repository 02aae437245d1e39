"""Documents to pages: real invoices from the shared data set, plus PDFs and TIFFs made on the spot."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from oculo.errors import InputError
from oculo.media import Source
from oculo.media.documents import Page, has_text_layer, open_document, parse_pages, text_layer

pdfium = pytest.importorskip("pypdfium2")

INVOICES = Path(__file__).parents[2] / "shared" / "data" / "invoices"
needs_invoices = pytest.mark.skipif(not INVOICES.is_dir(), reason=f"shared invoices not found at {INVOICES}")
COLORS = [(230, 30, 30), (30, 200, 30), (30, 30, 230), (240, 240, 30), (30, 230, 230)]


def one_line(e: pytest.ExceptionInfo[InputError]) -> str:
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


@pytest.fixture
def five_page_pdf(tmp_path: Path) -> Path:
    """Five pages, each one flat color, written by Pillow (which makes PDFs without a text layer)."""
    pages = [Image.new("RGB", (300, 400), c) for c in COLORS]
    path = tmp_path / "five.pdf"
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=72)
    return path


def pdf_with_encrypt_dict() -> bytes:
    """A one-page PDF whose trailer names a standard security handler the empty password does not open.

    Built by hand so the test needs no encryption library; PDFium checks the password before anything else.
    """
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
            b"<< /Filter /Standard /V 2 /R 3 /Length 128 /P -3904 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> >>"]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<%s><%s>] >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1, b"ab" * 16, b"ab" * 16, xref)
    return bytes(out)


# -- page specs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "want"), [
    (None, [0, 1, 2, 3, 4, 5, 6, 7]), ("", [0, 1, 2, 3, 4, 5, 6, 7]), ("1-3,7", [0, 1, 2, 6]),
    ("5-", [4, 5, 6, 7]), ("-2", [0, 1]), ("7, 2,2", [1, 6]), ("8", [7]), ("all", list(range(8))),
])
def test_parse_pages(spec: str | None, want: list[int]) -> None:
    assert parse_pages(spec, 8) == want


@pytest.mark.parametrize(("spec", "words"), [
    ("9", ["'9'", "page 9", "8 pages", "1-8"]), ("0", ["numbered from 1"]), ("3-1", ["backwards", "1-3"]),
    ("a", ["'a'", "1-8"]), ("1,,2", ["'1,,2'"]), ("2-x", ["'2-x'"]),
])
def test_parse_pages_errors(spec: str, words: list[str]) -> None:
    with pytest.raises(InputError) as e:
        parse_pages(spec, 8, "doc.pdf")
    msg = one_line(e)
    assert msg.startswith("doc.pdf: ")
    for w in words:
        assert w in msg


# -- the shared invoices ------------------------------------------------------------------------------------------

@needs_invoices
def test_invoice_text_layer_and_render() -> None:
    (page,) = open_document(INVOICES / "AmazonWebServices.pdf")
    assert page.index == 0 and page.number == 1 and page.source.endswith("AmazonWebServices.pdf")
    assert "42183017" in page.text and "Total for this invoice" in page.text
    assert "\r" not in page.text and all(line == line.rstrip() for line in page.text.split("\n"))
    assert page.image.mode == "RGB" and page.width_pt == 612 and page.height_pt == 792
    # US Letter with no model budget: the 150 dpi default, exactly.
    assert page.image.size == (1275, 1650) and page.dpi == 150
    assert has_text_layer([page])


@needs_invoices
@pytest.mark.parametrize("budget", [1024 * 1024, 200_000, 4_000_000])
def test_render_fits_budget(budget: int) -> None:
    for page in open_document(INVOICES / "QualityHosting.pdf", max_pixels=budget):
        assert page.image.width * page.image.height <= budget
        assert page.image.width * page.image.height >= 0.9 * budget  # and uses it
        assert abs(page.image.width / page.image.height - page.width_pt / page.height_pt) < 0.01


@needs_invoices
def test_explicit_dpi_and_its_cap() -> None:
    (page,) = open_document(INVOICES / "AmazonWebServices.pdf", dpi=200, max_pixels=40_000_000)
    assert page.image.size == (1700, 2200) and page.dpi == 200
    (capped,) = open_document(INVOICES / "AmazonWebServices.pdf", dpi=600, max_pixels=1_000_000)
    assert capped.image.width * capped.image.height <= 1_000_000 and capped.dpi < 600


@needs_invoices
def test_text_layer_fast_path() -> None:
    texts = text_layer(INVOICES / "QualityHosting.pdf")
    assert len(texts) == 2 and "30064443" in texts[0]
    assert text_layer(INVOICES / "QualityHosting.pdf", pages="2") == texts[1:]
    assert text_layer(INVOICES / "AmazonWebServices.png") == [""]


@needs_invoices
def test_png_invoice_is_one_page_without_text() -> None:
    (page,) = open_document(INVOICES / "AmazonWebServices.png", max_pixels=500_000)
    assert page.text is None and page.image.mode == "RGB"
    assert page.image.width * page.image.height <= 500_000
    assert not has_text_layer([page])


# -- generated documents ------------------------------------------------------------------------------------------

def test_multipage_pdf_page_selection(five_page_pdf: Path) -> None:
    pages = open_document(five_page_pdf, pages="2,4-")
    assert [p.index for p in pages] == [1, 3, 4]
    for p in pages:
        r, g, b = p.image.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
        want = COLORS[p.index]
        assert max(abs(r - want[0]), abs(g - want[1]), abs(b - want[2])) < 12
        assert p.text == ""  # a PDF page, but Pillow writes no text layer
    assert not has_text_layer(pages)
    with pytest.raises(InputError) as e:
        open_document(five_page_pdf, pages="6")
    msg = one_line(e)
    assert "five.pdf" in msg and "5 pages" in msg and "1-5" in msg


def test_type_comes_from_content_not_name(tmp_path: Path, five_page_pdf: Path) -> None:
    disguised = tmp_path / "scan.jpg"
    disguised.write_bytes(five_page_pdf.read_bytes())
    assert len(open_document(disguised)) == 5
    pages = open_document(Source.from_bytes(five_page_pdf.read_bytes(), "upload"), pages="1")
    assert pages[0].source == "upload" and pages[0].text == ""


def test_multipage_tiff(tmp_path: Path) -> None:
    fax = Image.new("1", (640, 480), 1)
    gray = Image.new("L", (400, 300), 90)
    color = Image.new("RGB", (200, 500), COLORS[2])
    path = tmp_path / "scan.dat"  # no telling extension: the magic bytes decide
    fax.save(path, "TIFF", save_all=True, append_images=[gray, color], compression="tiff_deflate")
    pages = open_document(path)
    assert [(p.index, p.image.size, p.image.mode, p.text) for p in pages] == [
        (0, (640, 480), "RGB", None), (1, (400, 300), "RGB", None), (2, (200, 500), "RGB", None)]
    assert pages[0].image.getpixel((5, 5)) == (255, 255, 255)
    assert pages[1].image.getpixel((5, 5)) == (90, 90, 90)
    (last,) = open_document(path, pages="3", max_pixels=50_000)
    assert last.index == 2 and last.image.width * last.image.height <= 50_000
    assert text_layer(path) == ["", "", ""]


def test_truncated_pdf(tmp_path: Path, five_page_pdf: Path) -> None:
    data = five_page_pdf.read_bytes()
    bad = tmp_path / "cut.pdf"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as e:
        open_document(bad)
    assert one_line(e) == f"{bad}: the PDF is truncated (it has no end marker); re-download or re-export it"


def test_corrupt_pdf(tmp_path: Path) -> None:
    bad = tmp_path / "junk.pdf"
    bad.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n")
    with pytest.raises(InputError) as e:
        open_document(bad)
    msg = one_line(e)
    assert msg.startswith(f"{bad}: cannot open this PDF") and "corrupt" in msg


def test_encrypted_pdf(tmp_path: Path) -> None:
    locked = tmp_path / "x.pdf"
    locked.write_bytes(pdf_with_encrypt_dict())
    for call in (lambda: open_document(locked), lambda: text_layer(locked)):
        with pytest.raises(InputError) as e:
            call()
        assert one_line(e) == (f"{locked}: the PDF is encrypted; remove the password first "
                               "(qpdf --decrypt --password=PASSWORD in.pdf out.pdf)")


def test_encrypted_pdf_made_by_pikepdf(tmp_path: Path, five_page_pdf: Path) -> None:
    pikepdf = pytest.importorskip("pikepdf", reason="pikepdf makes a real AES-encrypted PDF")
    locked = tmp_path / "locked.pdf"
    with pikepdf.open(five_page_pdf) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(user="secret", owner="owner", R=6))
    with pytest.raises(InputError, match="the PDF is encrypted; remove the password first"):
        open_document(locked)
    with pytest.raises(InputError, match="the password is wrong"):
        open_document(locked, password="guess")
    assert len(open_document(locked, password="secret", pages="1-2")) == 2


def test_zero_page_pdf(tmp_path: Path) -> None:
    empty_doc = pdfium.PdfDocument.new()
    buf = io.BytesIO()
    empty_doc.save(buf)
    path = tmp_path / "nothing.pdf"
    path.write_bytes(buf.getvalue())
    with pytest.raises(InputError) as e:
        open_document(path)
    assert one_line(e) == f"{path}: the PDF has no pages; check that it is the right file"


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(InputError) as e:
        open_document(empty)
    assert one_line(e) == f"{empty}: file is empty (0 bytes); pass a real PDF or image"
    with pytest.raises(InputError, match="no such file"):
        open_document(tmp_path / "nope.pdf")
    notes = tmp_path / "notes.pdf"
    notes.write_text("just some text, not a document")
    with pytest.raises(InputError, match="not an image"):
        open_document(notes)


def test_image_pages_and_spec(tmp_path: Path) -> None:
    path = tmp_path / "tiny.png"
    Image.new("RGBA", (10, 20), (0, 0, 0, 0)).save(path)
    (page,) = open_document(path, min_side=28)
    assert page.image.size == (28, 28) and page.image.mode == "RGB" and page.text is None
    with pytest.raises(InputError, match="page 2 but the document has 1 page"):
        open_document(path, pages="2")


def test_has_text_layer_ignores_stray_glyphs() -> None:
    img = Image.new("RGB", (10, 10))
    scan = [Page("s.pdf", i, img, text) for i, text in enumerate(["3", "Scanned with CamScanner", ""])]
    assert not has_text_layer(scan)
    prose = "Invoice 42183017, total due 4.11 USD on August 3, 2014. " * 2
    assert has_text_layer([prose, None])  # half the pages with real text: a born-digital document
    assert not has_text_layer([prose, None, ""])
    assert not has_text_layer([])
