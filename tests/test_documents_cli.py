"""Documents end to end through the CLI: extract (tiny in-process model), verify, eval, and bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from .conftest import cli_env, oculo

pytestmark = pytest.mark.slow

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "invoices"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="the shared sample invoices are not beside the repo")

# A schema a random-weight model can always finish (bounded strings and numbers): the output is meaningless,
# but it must be schema-valid and come with a verification status.
BOUNDED_INVOICE = {
    "type": "object",
    "properties": {
        "vendor": {"type": "string", "maxLength": 24},
        "invoice_number": {"type": "string", "maxLength": 12},
        "issue_date": {"type": "string", "pattern": "^20[0-9]{2}-[0-9]{2}-[0-9]{2}$"},
        "total": {"type": "number", "minimum": 0, "maximum": 99999},
    },
    "required": ["vendor", "invoice_number", "issue_date", "total"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def bounded_schema(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("schemas") / "bounded_invoice.json"
    p.write_text(json.dumps(BOUNDED_INVOICE))
    return p


@needs_shared
def test_extract_from_a_pdf_with_the_tiny_model(tiny_qwen, bounded_schema, tmp_path):
    import jsonschema

    out_csv = tmp_path / "out.csv"
    proc = oculo("extract", str(SHARED / "AmazonWebServices.pdf"), "--schema", str(bounded_schema),
                 "--engine", "transformers", "-m", str(tiny_qwen), "--max-tokens", "120", "--attempts", "1",
                 "--out", str(out_csv))
    result = json.loads(proc.stdout.decode().splitlines()[-1])
    assert result["status"] in {"ok", "warnings"}, proc.stderr.decode()
    jsonschema.validate(result["data"], BOUNDED_INVOICE)
    assert result["anchor"] == "text"  # a born-digital PDF: its own text went into the prompt
    # Random weights invent the total, so verification must flag it as not found in the document.
    assert any(w["field"] == "total" and w["code"] == "not_grounded" for w in result["warnings"])
    assert proc.returncode == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert rows[0]["source"].endswith("AmazonWebServices.pdf") and rows[0]["total"] == str(result["data"]["total"])


@needs_shared
def test_strict_exits_nonzero_on_warnings(tiny_qwen, bounded_schema):
    proc = oculo("extract", str(SHARED / "AmazonWebServices.pdf"), "--schema", str(bounded_schema), "--strict",
                 "--engine", "transformers", "-m", str(tiny_qwen), "--max-tokens", "120", "--attempts", "1")
    assert proc.returncode == 1


@needs_shared
def test_verify_an_outside_extraction(tmp_path):
    good = {"vendor": "Amazon Web Services", "invoice_number": "42183017", "issue_date": "2014-08-03",
            "currency": "USD", "total": 4.11, "subtotal": 4.11}
    bad = dict(good, total=41.1, issue_date="2014-03-08")
    for data, status in ((good, "ok"), (bad, "warnings")):
        path = tmp_path / "x.json"
        path.write_text(json.dumps(data))
        proc = oculo("verify", str(SHARED / "AmazonWebServices.pdf"), "--data", str(path), "--json")
        out = json.loads(proc.stdout)
        assert out["status"] == status, out
    fields = {w["field"] for w in out["warnings"]}
    assert "total" in fields
    proc = oculo("verify", str(SHARED / "AmazonWebServices.pdf"), "--data", str(path), "--strict")
    assert proc.returncode == 1 and "total" in proc.stdout.decode()


@needs_shared
def test_eval_prints_the_table_for_the_tiny_model(tiny_qwen, bounded_schema):
    proc = oculo("eval", "--data", str(SHARED), "--models", str(tiny_qwen), "--engine", "transformers",
                 "--schema", str(bounded_schema), "--fields", "vendor,date,total", "--max-tokens", "40",
                 "--pages", "1", "--anchor", "none", "--attempts", "1", "--json", timeout=900)
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout)
    assert out["documents"] >= 10 and out["fields"] == ["vendor", "date", "total"]
    row = out["models"][0]
    assert row["documents"] == out["documents"] and 0 <= row["score"] <= 1
    from oculo.tasks.evaluate import find_documents

    with_total = [t for _, t in find_documents(SHARED) if (json.loads(t.read_text())[0]).get("amount") is not None]
    assert row["fields"]["total"]["scored"] == len(with_total)  # a truth without a total is not scored


def test_bad_pdf_and_bad_schema_are_one_line(tmp_path):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog")
    schema = tmp_path / "schema.json"
    schema.write_text("{\"type\": \"object\", \"properties\": 5}")
    env = cli_env(OLLAMA_HOST="127.0.0.1:9")
    for args, name in (((str(broken), "--engine", "ollama", "-m", "x"), "broken.pdf"),
                       (("--schema", str(schema), str(broken)), "schema.json"),
                       (("--schema", "nosuchmodule:Thing", str(broken)), "nosuchmodule")):
        proc = oculo("extract", *args, env=env)
        err = proc.stderr.decode().strip()
        assert proc.returncode == 1 and len(err.splitlines()) == 1 and name in err, err


@needs_shared
def test_ocr_classic_json_has_lines_with_boxes_and_confidence():
    proc = oculo("ocr", str(SHARED / "oyo.png"), "--format", "json")
    assert proc.returncode == 0, proc.stderr.decode()
    page = json.loads(proc.stdout.decode().splitlines()[0])
    assert page["engine"] == "rapidocr" and "1939" in page["text"]
    line = page["lines"][0]
    assert len(line["box"]) == 4 and 0 < line["confidence"] <= 1


@needs_shared
def test_ocr_tesseract_reads_the_invoice_number():
    import shutil

    if not shutil.which("tesseract"):
        pytest.skip("tesseract is not installed (CI installs tesseract-ocr)")
    proc = oculo("ocr", str(SHARED / "AmazonWebServices.pdf"), "--engine", "tesseract", "--pages", "1")
    assert proc.returncode == 0 and "42183017" in proc.stdout.decode()


@needs_shared
def test_ocr_through_a_vision_model_gives_text_per_page(tiny_qwen):
    proc = oculo("ocr", str(SHARED / "coolblue1.pdf"), "--engine", "transformers", "-m", str(tiny_qwen),
                 "--max-tokens", "8", "--format", "json")
    assert proc.returncode == 0, proc.stderr.decode()
    pages = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [p["page"] for p in pages] == list(range(1, len(pages) + 1))
    assert all(p["engine"].startswith("transformers:") and p["stats"]["generated_tokens"] > 0 for p in pages)


def test_ocr_bad_page_spec_is_one_line(tmp_path):
    from PIL import Image

    pdf = tmp_path / "two.pdf"
    Image.new("RGB", (200, 200), "white").save(pdf, save_all=True, append_images=[Image.new("RGB", (200, 200))])
    proc = oculo("ocr", str(pdf), "--pages", "5")
    err = proc.stderr.decode().strip()
    assert proc.returncode == 1 and len(err.splitlines()) == 1 and "two.pdf" in err


def test_folder_include_exclude_and_from_list_pick_the_documents(tmp_path):
    # Small pages of text: what is tested is which documents are read; OCR of a full-size scan costs ~10 s each.
    _text_page("Invoice 1939").save(tmp_path / "oyo.png")
    for name in ("AmazonWebServices.pdf", "coolblue1.pdf"):
        _text_page(name[:6]).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a document")
    proc = oculo("ocr", str(tmp_path), "--exclude", "coolblue*", "--format", "json", "--pages", "1")
    assert proc.returncode == 0, proc.stderr.decode()
    sources = {Path(json.loads(line)["source"]).name for line in proc.stdout.decode().splitlines()}
    assert sources == {"oyo.png", "AmazonWebServices.pdf"}
    listing = tmp_path / "list.txt"
    listing.write_text(f"# the one to read\n{tmp_path / 'oyo.png'}\n\n")
    proc = oculo("ocr", "--from-list", str(listing), "--format", "json")
    assert [Path(json.loads(line)["source"]).name for line in proc.stdout.decode().splitlines()] == ["oyo.png"]


def _text_page(text: str):
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (640, 160), "white")
    ImageDraw.Draw(img).text((20, 40), text, fill="black", font=ImageFont.load_default(size=48))
    return img


def test_ocr_is_a_job_by_page_that_resumes_and_fails_a_corrupt_file_alone(tmp_path):
    import re
    import shutil

    import pyarrow.parquet as pq

    if not shutil.which("tesseract"):
        pytest.skip("tesseract is not installed (CI installs tesseract-ocr)")
    docs = tmp_path / "docs"
    docs.mkdir()
    _text_page("PAGE ONE 111").save(docs / "two.pdf", save_all=True, append_images=[_text_page("PAGE TWO 222")])
    _text_page("SOLO 333").save(docs / "solo.png")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj garbage")
    env = cli_env(OCULO_STORE=str(tmp_path / "jobs.sqlite3"))
    args = ("ocr", str(docs), "--engine", "tesseract", "--format", "json", "--progress", "plain")
    first = oculo(*args, "--out", str(tmp_path / "pages.csv"), env=env)
    err = first.stderr.decode()
    assert first.returncode == 1 and "broken.pdf" in err and "3 done, 1 failed" in err, err
    lines = list(map(json.loads, first.stdout.decode().splitlines()))
    # with --format json every page has its record on stdout, a failed one with its error
    assert [Path(r["source"]).name for r in lines if r.get("error")] == ["broken.pdf"]
    records = {(Path(r["source"]).name, r["page"]): r["text"] for r in lines if not r.get("error")}
    assert set(records) == {("two.pdf", 1), ("two.pdf", 2), ("solo.png", 1)}
    assert "111" in records["two.pdf", 1] and "222" in records["two.pdf", 2] and "333" in records["solo.png", 1]
    rows = list(csv.DictReader((tmp_path / "pages.csv").open()))
    assert len(rows) == 4 and [Path(r["source"]).name for r in rows if r["error"]] == ["broken.pdf"]

    again = oculo(*args, env=env)
    assert "3 done (3 from the store), 1 failed" in again.stderr.decode()
    job = re.search(r"job (\d+)", again.stderr.decode())[1]
    export = oculo("jobs", "export", job, "--out", str(tmp_path / "pages.parquet"), env=env)
    assert export.returncode == 0, export.stderr.decode()
    table = pq.read_table(tmp_path / "pages.parquet").to_pylist()
    assert sorted((Path(r["source"]).name, r["page"]) for r in table) == sorted(records)
