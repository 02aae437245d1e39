"""`oculo review` in a real browser: Debian's Chromium, headless, driven by Playwright (no browser download).

Needs `apt-get install chromium` and `pip install playwright`; skipped, saying which is missing, without them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from oculo.batch.store import Store
from oculo.cli import cli

from .test_review import INVOICES, build_job, start_review, stop, truth_total

CHROMIUM = os.environ.get("OCULO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "review.png"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    if not INVOICES.is_dir():
        pytest.skip("the shared invoices are not here")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def test_review_in_a_browser(browser, tmp_path):
    path = tmp_path / "jobs.sqlite3"
    with Store(path) as store:
        job_id = build_job(store)
        items = store.items(job_id)
    proc, url = start_review(path, job_id)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "?sort=status")
        assert page.locator("tr[data-doc]").count() == len(items)
        assert page.locator("tr[data-doc]").first.get_attribute("data-status") == "warning"

        # every document: exactly the fields verification flagged are marked
        for n, item in enumerate(items, 1):
            page.goto(f"{url}doc/{n}")
            marked = {el.get_attribute("data-field") for el in page.locator("[data-field][data-status=warning]").all()}
            assert marked == {w["field"] for w in item.output["warnings"]}, item.source
            assert page.locator("img").first.evaluate("i => i.complete && i.naturalWidth > 0")

        # keyboard: j goes to the first flagged field and lights its box (or says the place is unknown)
        n = next(i for i, it in enumerate(items, 1) if "coolblue1" in it.source)
        page.goto(f"{url}doc/{n}")
        page.keyboard.press("j")
        current = page.locator("[data-field].current")
        assert current.get_attribute("data-status") == "warning"
        assert current.get_attribute("data-field") == "total"
        assert "place unknown" in current.inner_text()

        # correct the wrong total, see it re-verified, mark a field checked, approve
        total = page.locator("[data-field='total']")
        total.locator("input[name=value]").fill(f"{truth_total('coolblue1'):.2f}")
        total.locator("[data-action=correct]").click()
        page.wait_for_load_state()
        assert page.locator("[data-field='total']").get_attribute("data-status") == "ok"
        assert page.locator("[data-doc-status]").get_attribute("data-doc-status") == "ok"
        page.locator("[data-field='issue_date'] [data-action=check]").click()
        page.wait_for_load_state()
        page.locator("[data-action=approve]").click()
        page.wait_for_load_state()
        assert page.locator("[data-approved]").count() == 1

        # n moves to the next document
        if n < len(items):
            page.keyboard.press("n")
            page.wait_for_url(f"{url}doc/{n + 1}")

        # a screenshot of a document with warnings, its first flagged field selected
        page.goto(f"{url}doc/1")
        page.keyboard.press("j")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(tmp_path / "review.png"), full_page=False)
        if os.environ.get("OCULO_UPDATE_SCREENSHOT") or not SCREENSHOT.exists():
            shutil.copy(tmp_path / "review.png", SCREENSHOT)
    finally:
        stop(proc)

    out = tmp_path / "corrected.jsonl"
    result = CliRunner().invoke(cli, ["jobs", "--store", str(path), "export", str(job_id), "--corrected",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = {Path(r["source"]).stem: r["output"] for r in map(json.loads, out.read_text().splitlines())}
    fixed = rows["coolblue1"]
    assert fixed["data"]["total"] == truth_total("coolblue1")
    assert fixed["status"] == "ok" and fixed["warnings"] == []
    assert fixed["review"]["corrected"] == ["total"] and fixed["review"]["checked"] == ["issue_date"]
    assert fixed["review"]["approved"] and fixed["review"]["model_status"] == "warnings"
