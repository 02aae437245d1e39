"""Screenshots, charts, comparisons and prompts as data: checks on their own, then end to end on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from oculo.checks.grounding import index_document
from oculo.engines import Capabilities, ImagePart, Options, open_engine
from oculo.errors import InputError
from oculo.schemas.chart import Chart
from oculo.schemas.screens import BugReport, ScreenReading
from oculo.tasks.charts import ESTIMATE_NOTE, check_chart, render_chart
from oculo.tasks.compare import compare_images
from oculo.tasks.prompts import fill, parts, prompt, read_prompt_file, tasks
from oculo.tasks.screens import check_screen, render_screen
from oculo.testing import FakeEngine

from .conftest import BOUNDED_SCHEMA, cli_env, oculo

ERROR = "Error: connection refused (ECONNREFUSED) at 127.0.0.1:5432"


def _font(size: int = 28) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> Path:
    img = Image.new("RGB", (900, 260), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((10, 10, 890, 250), outline="gray")
    d.text((30, 50), ERROR, fill="darkred", font=_font())
    d.text((30, 150), "Retry      Cancel", fill="black", font=_font())
    path = tmp_path_factory.mktemp("shots") / "db-error.png"
    img.save(path)
    return path


@pytest.fixture(scope="module")
def bar_chart(tmp_path_factory) -> Path:
    img = Image.new("RGB", (640, 420), "white")
    d = ImageDraw.Draw(img)
    d.text((220, 10), "Sales 2025", fill="black", font=_font())
    for i, (label, value) in enumerate([("Q1", 120), ("Q2", 180), ("Q3", 90)]):
        x = 100 + i * 160
        d.rectangle((x, 360 - value, x + 80, 360), fill="steelblue")
        d.text((x + 18, 325 - value), str(value), fill="black", font=_font())
        d.text((x + 22, 370), label, fill="black", font=_font())
    path = tmp_path_factory.mktemp("charts") / "sales.png"
    img.save(path)
    return path


# --- prompts as data ---------------------------------------------------------------------------------------

def test_every_task_has_a_prompt_and_placeholders_fill():
    assert {"describe", "ocr", "extract", "alt-text", "screenshot", "bug-report", "chart", "compare",
            "video-frame", "video-summary"} <= set(tasks())
    assert all(prompt(t).strip() for t in tasks())
    assert "{count}" in prompt("compare") and "each" in parts("compare")
    filled = fill(prompt("compare"), count=3, names="a, b, c")
    assert "3 images (a, b, c)" in filled and "{" not in filled


def test_fill_leaves_a_users_other_braces_alone():
    assert fill('Answer like {"total": 1} for {name}.', name="invoice") == 'Answer like {"total": 1} for invoice.'


def test_prompt_file_errors_are_one_line(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(InputError, match="empty.txt: the prompt file is empty"):
        read_prompt_file(empty)
    with pytest.raises(InputError, match="nope.txt: no such prompt file"):
        read_prompt_file(tmp_path / "nope.txt")
    good = tmp_path / "p.txt"
    good.write_text("\nDescribe the {thing}.\n\n")
    assert read_prompt_file(good) == "Describe the {thing}."


def test_oculo_prompts_prints_a_prompt_to_start_from():
    listed = oculo("prompts")
    assert listed.returncode == 0 and "screenshot" in listed.stdout.decode()
    one = oculo("prompts", "chart")
    assert one.stdout.decode().strip() == prompt("chart")
    bad = oculo("prompts", "nosuch")
    assert bad.returncode == 1 and bad.stderr.decode().count("\n") == 1 and "oculo prompts" in bad.stderr.decode()


# --- screenshot check ------------------------------------------------------------------------------------

def test_screen_check_accepts_ocr_slips_and_flags_invented_text():
    seen = "Error: connectiom refused (ECONNREFUSED) at 127.0.0.l:5432\nRetry Cancel"  # OCR's m/n and l/1
    data = {"screen": "a dialog", "error_text": [ERROR, "Fatal: disk quota exceeded on /home"]}
    out = check_screen(data, seen, "tesseract")
    assert out["status"] == "warnings" and out["checked_with"] == "tesseract"
    assert [w["field"] for w in out["warnings"]] == ["error_text[1]"]
    assert check_screen({"error_text": [ERROR]}, seen, "tesseract")["status"] == "ok"


def test_screen_check_without_ocr_says_it_did_not_check():
    out = check_screen({"error_text": [ERROR]}, None, None)
    assert out["status"] == "ok" and out["checked_with"] is None and "not checked" in out["note"]


def test_screen_render_shows_errors_verbatim_and_warnings():
    text = render_screen({"data": {"application": "psql", "error_text": [ERROR, ""], "fix": "start the server"},
                          "warnings": [{"field": "error_text[0]", "message": "not found"}]})
    assert f"  > {ERROR}" in text and "Error text (verbatim):" in text and "warning: error_text[0]" in text
    assert "  > \n" not in text + "\n"


# --- chart check -----------------------------------------------------------------------------------------

CHART = {"chart_type": "column", "title": "Sales 2025", "x_axis": {"label": "Quarter", "unit": None},
         "y_axis": {"label": "Units", "unit": None, "min": 0, "max": 200},
         "series": [{"name": "Sales", "points": [
             {"x": "Q1", "y": 120, "printed": True},   # printed and in the chart's text
             {"x": "Q2", "y": 185, "printed": True},   # claimed printed, but the chart says 180
             {"x": "Q3", "y": 90, "printed": False},   # read off the axis
             {"x": "Q4", "y": 260, "printed": False},  # above the axis
         ]}], "trend": "up, then down"}


def test_chart_check_marks_estimates_and_flags_doubtful_values():
    out = check_chart(CHART, "Sales 2025\n120 180 90\nQ1 Q2 Q3", "tesseract")
    assert [row["estimate"] for row in out["table"]] == [False, True, True, True]
    messages = {w["field"]: w["message"] for w in out["warnings"]}
    assert "not in the chart's text" in messages["series[0].points[1]"]
    assert "outside the y axis range 0 to 200" in messages["series[0].points[3]"]
    assert out["status"] == "warnings" and out["note"] == ESTIMATE_NOTE


def test_chart_check_without_the_charts_text_trusts_no_value_as_printed():
    out = check_chart(CHART, None, None)
    assert all(row["estimate"] for row in out["table"])


def test_chart_render_marks_estimates_with_a_tilde():
    record = {"data": CHART, **check_chart(CHART, "120 180 90", "tesseract")}
    md = render_chart(record)
    assert "| Sales | Q1 | 120 |" in md and "| Sales | Q3 | ~90 |" in md and "estimates" in md


def test_chart_values_printed_with_separators_are_found():
    assert index_document("Revenue: 1,250.5").has_number(1250.5)


# --- end to end on the tiny in-process model --------------------------------------------------------------

def _records(proc) -> list[dict]:
    assert proc.returncode == 0, proc.stderr.decode()
    return [json.loads(line) for line in proc.stdout.decode().splitlines()]


@pytest.mark.parametrize("flag, model", [((), ScreenReading), (("--bug-report",), BugReport)])
def test_screenshot_end_to_end_is_schema_valid_and_checked(tiny_terse, shot, flag, model, tmp_path):
    import shutil

    if not shutil.which("tesseract"):
        pytest.skip("tesseract is not installed (CI installs tesseract-ocr)")
    env = cli_env(OCULO_STORE=str(tmp_path / "s.sqlite3"))
    args = ("screenshot", str(shot), *flag, "--engine", "transformers", "-m", str(tiny_terse), "--ocr", "tesseract",
            "--json", "--progress", "plain")  # plain: one input's job summary is printed only when asked for
    [record] = _records(oculo(*args, env=env))
    model.model_validate(record["data"])
    assert record["task"] == ("bug-report" if flag else "screenshot")
    assert record["status"] in ("ok", "warnings") and record["checked_with"] == "tesseract"
    again = oculo(*args, env=env)
    assert "1 done (1 from the store)" in again.stderr.decode()  # a job like the others: cached, checked once


def test_chart_end_to_end_gives_a_table_of_estimates(tiny_terse, bar_chart, tmp_path):
    out = tmp_path / "charts.csv"
    proc = oculo("chart", str(bar_chart), "--engine", "transformers", "-m", str(tiny_terse), "--ocr", "none",
                 "--json", "--out", str(out), "--progress", "off")
    [record] = _records(proc)
    Chart.model_validate(record["data"])
    n_points = sum(len(s["points"]) for s in record["data"]["series"])
    assert len(record["table"]) == n_points and all(row["estimate"] for row in record["table"])
    assert record["note"] == ESTIMATE_NOTE and out.read_text().startswith("source,")


def test_chart_markdown_on_the_terminal(tiny_terse, bar_chart):
    proc = oculo("chart", str(bar_chart), "--engine", "transformers", "-m", str(tiny_terse), "--ocr", "none",
                 "--progress", "off")
    assert proc.returncode == 0, proc.stderr.decode()
    assert "estimates" in proc.stdout.decode() and proc.stdout.decode().startswith("**")


def test_compare_sends_images_together_when_the_model_takes_them(tiny_qwen, images):
    eng = open_engine("transformers", str(tiny_qwen))
    parts = [ImagePart(Image.open(images[n]).convert("RGB"), n) for n in ("small", "wide")]
    record = compare_images(eng, parts, options=Options(max_tokens=8))  # the length is beside the point
    assert record["mode"] == "together" and record["sources"] == ["small", "wide"]
    assert record["stats"]["generated_tokens"] > 0 and "descriptions" not in record


def test_compare_falls_back_to_descriptions_for_a_one_image_model(images):
    # One image per request, as LLaVA 1.6 declares in the catalog; the fallback's logic needs no real model.
    eng = FakeEngine(capabilities=Capabilities(max_images=1))
    parts = [ImagePart(Image.open(images[n]).convert("RGB"), n) for n in ("small", "wide", "tall")]
    record = compare_images(eng, parts, schema=BOUNDED_SCHEMA)
    assert record["mode"] == "describe" and [d["source"] for d in record["descriptions"]] == ["small", "wide", "tall"]
    import jsonschema

    jsonschema.validate(record["data"], BOUNDED_SCHEMA)
    with pytest.raises(InputError, match="at least two images"):
        compare_images(eng, parts[:1])


def test_compare_cli_with_a_schema(tiny_qwen, images, tmp_path):
    schema = tmp_path / "diff.json"
    schema.write_text(json.dumps(BOUNDED_SCHEMA))
    proc = oculo("compare", str(images["small"]), str(images["wide"]), "--engine", "transformers",
                 "-m", str(tiny_qwen), "--schema", str(schema), "--json")
    [record] = _records(proc)
    import jsonschema

    jsonschema.validate(record["data"], BOUNDED_SCHEMA)
    assert record["mode"] == "together"
    one = oculo("compare", str(images["small"]), "--engine", "transformers", "-m", str(tiny_qwen))
    assert one.returncode == 1 and "at least two images" in one.stderr.decode()


def test_a_prompt_file_replaces_the_prompt_and_the_cache_key(tiny_qwen, images, tmp_path):
    env = cli_env(OCULO_STORE=str(tmp_path / "s.sqlite3"))
    args = ("describe", str(images["small"]), "--engine", "transformers", "-m", str(tiny_qwen), "--max-tokens", "4",
            "--progress", "plain", "--json")
    assert oculo(*args, env=env).returncode == 0
    custom = tmp_path / "p.txt"
    custom.write_text('List the colours, as {"colours": [...]}.')
    with_file = oculo(*args, "--prompt-file", str(custom), env=env)
    assert with_file.returncode == 0 and "from the store" not in with_file.stderr.decode()
    assert "1 done (1 from the store)" in oculo(*args, "--prompt-file", str(custom), env=env).stderr.decode()
    both = oculo(*args, "--prompt", "x", "--prompt-file", str(custom), env=env)
    assert both.returncode == 2 and "not both" in both.stderr.decode()


def test_library_calls_give_the_same_records(tiny_terse, shot, bar_chart):
    import oculo

    [reading] = oculo.screenshot([shot], engine="transformers", model=str(tiny_terse), ocr="none")
    ScreenReading.model_validate(reading["data"])
    assert reading["source"] == str(shot) and reading["status"] in ("ok", "warnings")
    [chart] = oculo.chart([bar_chart], engine="transformers", model=str(tiny_terse), ocr="none")
    Chart.model_validate(chart["data"])
    assert chart["task"] == "chart" and chart["note"] == ESTIMATE_NOTE


def test_pie_slices_must_add_up_to_the_whole():
    def pie(*values, unit="%"):
        return {"chart_type": "pie", "y_axis": {"unit": unit},
                "series": [{"name": "share", "points": [{"x": str(i), "y": v, "printed": False}
                                                        for i, v in enumerate(values)]}]}

    assert check_chart(pie(40, 35, 25), None, None)["warnings"] == []
    assert check_chart(pie(33.3, 33.3, 33.3), None, None)["warnings"] == []  # rounding is not a mistake
    [w] = check_chart(pie(40, 35, 35), None, None)["warnings"]
    assert w["message"] == "the slices add up to 110%, not 100%"
    assert check_chart(pie(120, 80, 55, unit=None), None, None)["warnings"] == []  # counts, not shares
