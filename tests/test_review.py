"""`oculo review`: corrections kept beside the model's output, re-verified, exported; the page over real HTTP.

The job is built without a model: the shared invoices' ground truth, mapped to the invoice schema, with a
wrong total injected, verified for real against each PDF's text, written through the store's API.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from oculo.batch.store import Store
from oculo.cli import cli

INVOICES = Path(__file__).resolve().parents[2] / "shared" / "data" / "invoices"
# name -> amount added to the true total (0: left as printed)
JOB = {"AmazonWebServices": 100.0, "coolblue1": 100.0, "NetpresseInvoice": 0.0}


def build_job(store: Store, invoices: dict[str, float] = JOB) -> int:
    """An extraction job as `oculo extract` records it, from truth with injected errors, verified for real."""
    from oculo.checks import verify
    from oculo.checks.layout import layout_from_pdf
    from oculo.media.documents import open_document
    from oculo.schemas.truth import INVOICE2DATA, map_truth
    from oculo.tasks.extract import document_text

    paths = [str(INVOICES / f"{name}.pdf") for name in invoices]
    job = store.create_job("review-test", command=["oculo", "extract", *paths, "--schema", "invoice"],
                           task="extract", model="truth+errors", engine="none")
    for (name, delta), path in zip(invoices.items(), paths):
        data = map_truth(json.loads((INVOICES / f"{name}.json").read_text()), INVOICE2DATA)
        data["total"] = round(data["total"] + delta, 2)
        pages = open_document(path, max_pixels=1_000_000)
        v = verify(data, document_text(pages, None, "none", "rapidocr"), schema="invoice",
                   layout=layout_from_pdf(path)).to_dict()
        output = {"source": path, "pages": [p.index + 1 for p in pages], "status": v["status"], "data": data,
                  "warnings": v["warnings"], "error": None, "attempts": 1, "anchor": "text"}
        store.record(job, f"key-{name}", path, None, "done", output, attempts=1, stats={})
    return job


def truth_total(name: str) -> float:
    return float(json.loads((INVOICES / f"{name}.json").read_text())[0]["amount"])


needs_invoices = pytest.mark.skipif(not INVOICES.is_dir(), reason="the shared invoices are not here")


@pytest.fixture
def job(tmp_path):
    store = Store(tmp_path / "jobs.sqlite3")
    job_id = build_job(store)
    yield store, job_id
    store.close()


@needs_invoices
def test_the_built_job_has_the_injected_errors_flagged(job):
    store, job_id = job
    by_name = {Path(it.source).stem: it.output for it in store.items(job_id)}
    assert by_name["NetpresseInvoice"]["status"] == "ok"
    for name in ("AmazonWebServices", "coolblue1"):
        assert by_name[name]["status"] == "warnings"
        assert "total" in {w["field"] for w in by_name[name]["warnings"]}


@needs_invoices
def test_a_correction_is_kept_beside_the_output_and_reverified(job):
    from oculo.review import ReviewJob

    store, job_id = job
    review = ReviewJob(store, job_id)
    doc = next(d for d in review.documents() if d.name == "coolblue1.pdf")
    before = doc.item.output
    row = review.correct(doc, "total", f"{truth_total('coolblue1'):.2f}")
    assert row.data["total"] == truth_total("coolblue1")
    assert row.verification["status"] == "ok" and row.verification["warnings"] == []
    assert row.corrected == ["total"] and row.approved is None
    item = next(it for it in store.items(job_id) if it.key == doc.item.key)
    assert item.output == before  # the model's output is untouched
    # a wrong correction is re-verified too, and flagged again
    row = review.correct(review.document(doc.index), "total", "1.234,00")
    assert row.data["total"] == 1234.0 and "total" in {w["field"] for w in row.verification["warnings"]}
    review.mark_checked(review.document(doc.index), "issue_date", True)
    review.approve(review.document(doc.index))
    log = store.corrections(job_id, doc.item.key)
    assert [(c["field"], c["action"]) for c in log] == [("total", "correct"), ("total", "correct"),
                                                       ("issue_date", "check"), ("", "approve")]
    assert log[0]["value"] == truth_total("coolblue1")
    final = store.review(job_id, doc.item.key)
    assert final.checked == ["issue_date"] and final.approved


@needs_invoices
def test_bad_corrections_are_refused(job):
    from oculo.errors import InputError
    from oculo.review import ReviewJob

    store, job_id = job
    review = ReviewJob(store, job_id)
    doc = review.document(1)
    for path in ("nope", "line_items[99].amount", "../etc", ""):
        with pytest.raises(InputError, match="not"):
            review.correct(doc, path, "1")
    with pytest.raises(InputError, match="no document 9"):
        review.document(9)
    assert store.reviews(job_id) == {}


@needs_invoices
def test_export_corrected(job, tmp_path):
    from oculo.review import ReviewJob

    store, job_id = job
    review = ReviewJob(store, job_id)
    doc = next(d for d in review.documents() if d.name == "coolblue1.pdf")
    review.correct(doc, "total", str(truth_total("coolblue1")))
    review.approve(review.document(doc.index))
    runner = CliRunner()
    base = ["jobs", "--store", str(store.path), "export", str(job_id)]
    out = tmp_path / "c.jsonl"
    assert runner.invoke(cli, [*base, "--corrected", "--out", str(out)]).exit_code == 0
    rows = {Path(r["source"]).stem: r["output"] for r in map(json.loads, out.read_text().splitlines())}
    assert len(rows) == 3
    assert rows["coolblue1"]["data"]["total"] == truth_total("coolblue1")
    assert rows["coolblue1"]["status"] == "ok"
    assert rows["coolblue1"]["review"]["corrected"] == ["total"] and rows["coolblue1"]["review"]["approved"]
    assert rows["coolblue1"]["review"]["model_status"] == "warnings"
    assert rows["AmazonWebServices"]["status"] == "warnings"  # not reviewed: as the model left it
    assert rows["AmazonWebServices"]["review"] == {"corrected": [], "checked": [], "approved": None}
    plain = tmp_path / "p.jsonl"
    assert runner.invoke(cli, [*base, "--out", str(plain)]).exit_code == 0
    rows = {Path(r["source"]).stem: r["output"] for r in map(json.loads, plain.read_text().splitlines())}
    assert rows["coolblue1"]["data"]["total"] == truth_total("coolblue1") + 100 and "review" not in rows["coolblue1"]
    table = tmp_path / "c.csv"
    assert runner.invoke(cli, [*base, "--corrected", "--out", str(table)]).exit_code == 0
    cells = [r for r in csv.DictReader(table.open()) if r["source"].endswith("coolblue1.pdf")]
    assert cells and {float(r["total"]) for r in cells} == {truth_total("coolblue1")}
    assert {r["status"] for r in cells} == {"ok"}


def test_review_without_a_job_is_one_line(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    store.close()
    result = CliRunner().invoke(cli, ["review", "--store", str(tmp_path / "s.sqlite3"), "--no-browser"])
    assert result.exit_code == 1 and "no extraction job" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["review", "7", "--store", str(tmp_path / "s.sqlite3"), "--no-browser"])
    assert result.exit_code == 1 and "no job 7" in result.output


# -- the page over real HTTP on loopback --------------------------------------------------------------------

def start_review(store_path: Path, job_id: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "oculo", "review", str(job_id), "--store", str(store_path),
                             "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ})
    line = proc.stdout.readline().strip()  # the URL, printed once the socket listens
    if not line.startswith("http://127.0.0.1:"):
        proc.kill()
        raise AssertionError(f"no URL from oculo review: {line!r} {proc.stderr.read()[:2000]}")
    return proc, line


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if not INVOICES.is_dir():
        pytest.skip("the shared invoices are not here")
    path = tmp_path_factory.mktemp("review") / "jobs.sqlite3"
    with Store(path) as store:
        job_id = build_job(store)
    proc, url = start_review(path, job_id)
    yield path, job_id, url
    stop(proc)


def request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None,
            method: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=30) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_page_marks_exactly_the_flagged_fields(served):
    path, job_id, url = served
    code, body, _ = request(url + "?sort=status")
    assert code == 200
    listing = body.decode()
    assert listing.count("data-doc=") == 3
    order = re.findall(r"data-status='(\w+)'", listing)
    assert order == sorted(order, key=["failed", "warning", "ok"].index)
    with Store(path) as store:
        items = store.items(job_id)
    for n, item in enumerate(items, 1):
        code, body, _ = request(f"{url}doc/{n}")
        assert code == 200
        page = body.decode()
        flagged = set(re.findall(r"data-field='([^']*)' data-status='(?:warning|failed)'", page))
        assert flagged == {w["field"] for w in item.output["warnings"]}
        assert page.count("data-action=approve") == 1
        code, png, headers = request(f"{url}doc/{n}/page/1.png")
        assert code == 200 and png.startswith(b"\x89PNG") and headers["content-type"] == "image/png"
    amazon = request(url + "doc/1")[1].decode()
    assert "data-box-for='issue_date'" in amazon  # grounded with a box from the PDF's text layer
    total = amazon[amazon.index("data-field='total'"):]
    assert "place unknown" in total[:total.index("</li>")]  # the wrong total is nowhere on the page


@pytest.mark.parametrize("how", ["host", "origin", "big", "json", "doc", "page", "field", "method", "sort"])
def test_bad_requests_get_4xx(served, how):
    _, _, url = served
    cases = {
        "host": (url, None, {"Host": "evil.example"}, None, 403),
        "origin": (url + "doc/1/approve", b"", {**FORM, "Origin": "http://evil.example"}, None, 403),
        "big": (url + "doc/1/correct", b"field=total&value=" + b"9" * 70_000, FORM, None, 413),
        "json": (url + "doc/1/correct", b'{"field": "total"}', {"Content-Type": "application/json"}, None, 400),
        "doc": (url + "doc/99", None, {}, None, 400),
        "page": (url + "doc/1/page/7.png", None, {}, None, 400),
        "field": (url + "doc/1/correct", b"field=..%2Fetc&value=1", FORM, None, 400),
        "method": (url + "doc/1", None, {}, "DELETE", 405),
        "sort": (url + "?sort=%3Cscript%3E", None, {}, None, 400),
    }
    target, data, headers, method, expected = cases[how]
    code, body, _ = request(target, data, headers, method)
    assert code == expected, body
    assert b"Traceback" not in body and len(body.decode().strip().splitlines()) == 1


def test_a_form_post_corrects_and_redirects(served):
    path, job_id, url = served
    with Store(path) as store:
        n, item = next((i, it) for i, it in enumerate(store.items(job_id), 1) if "coolblue1" in it.source)
    code, _, headers = request(f"{url}doc/{n}/correct", f"field=total&value={truth_total('coolblue1')}".encode(),
                               {**FORM, "Origin": url.rstrip("/")})
    assert code == 303 and headers["location"].startswith(f"/doc/{n}")
    page = request(f"{url}doc/{n}")[1].decode()
    assert "data-field='total' data-status='ok'" in page and "re-verified" in page
    with Store(path) as store:
        assert store.review(job_id, item.key).verification["status"] == "ok"


def test_the_page_assets_are_served(served):
    _, _, url = served
    for name, kind in (("review.js", "javascript"), ("review.css", "text/css")):
        code, body, headers = request(f"{url}static/{name}")
        assert code == 200 and kind in headers["content-type"] and len(body) > 100
    assert request(f"{url}static/..%2Fcore.py")[0] == 404


@needs_invoices
def test_a_failed_document_without_a_record_still_shows(job):
    from oculo.errors import InputError
    from oculo.review import ReviewJob
    from oculo.review.pages import document, listing

    store, job_id = job
    store.record(job_id, "key-broken", str(INVOICES / "oyo.pdf"), None, "failed", None, error="model gave up")
    review = ReviewJob(store, job_id)
    doc = review.documents()[-1]
    assert doc.status == "failed" and doc.data is None
    html = document(review, doc, len(review.documents()))
    assert "model gave up" in html and "data-field=" not in html and "data-action=approve" in html
    assert "data-status='failed'" in listing(review, review.documents(), "status")
    with pytest.raises(InputError, match="no record to correct"):
        review.correct(doc, "total", "1")
