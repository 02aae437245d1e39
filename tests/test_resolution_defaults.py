"""Resolution by default as the guide advises, `oculo ask` on a PDF, and `oculo eval` across engines.

PDF pages render at 150 dpi or more; a catalog model gets its own native pixel budget (not a blanket 1 MP), and
`-o max_pixels` still wins. What reaches a model is checked on the wire: a loopback OpenAI-compatible server
records every request body. Nothing is sent anywhere but 127.0.0.1; the off-machine warning is checked on URLs.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from oculo.engines.base import DEFAULT_MAX_PIXELS, NATIVE_PIXEL_CAP, Capabilities, with_catalog_limits
from oculo.engines.openai import OpenAIEngine
from oculo.engines.resolve import ENGINES
from oculo.media.documents import open_document
from oculo.models.catalog import find
from oculo.tasks.evaluate import leaves_machine, parse_models
from oculo.testing import make_image

from .conftest import oculo


@pytest.fixture
def server(openai_recorder):
    return openai_recorder


def _sent_images(body: dict) -> list[Image.Image]:
    out = []
    for m in body["messages"]:
        for part in m["content"] if isinstance(m["content"], list) else []:
            if part["type"] == "image_url":
                b64 = part["image_url"]["url"].split(",", 1)[1]
                out.append(Image.open(io.BytesIO(base64.b64decode(b64))))
    return out


@pytest.fixture
def letter_pdf(tmp_path: Path) -> Path:
    """Two US Letter pages (612 x 792 pt), made on the spot."""
    path = tmp_path / "two.pdf"
    first, second = (Image.new("RGB", (850, 1100), c) for c in ("white", (200, 220, 240)))
    first.save(path, "PDF", resolution=100, save_all=True, append_images=[second])
    return path


# -- PDF pages: 150 dpi or more -----------------------------------------------------------------------------------

def test_a_page_renders_at_150_dpi_by_default(letter_pdf: Path) -> None:
    pages = open_document(letter_pdf)
    assert [(p.image.size, p.dpi) for p in pages] == [((1275, 1650), 150.0)] * 2


def test_a_large_budget_raises_the_resolution_and_a_small_page_stops_at_300_dpi(tmp_path: Path,
                                                                                 letter_pdf: Path) -> None:
    (page,) = open_document(letter_pdf, pages="1", max_pixels=8_000_000)
    assert 290 < page.dpi <= 300 and page.image.width * page.image.height <= 8_000_000
    card = tmp_path / "card.pdf"
    Image.new("RGB", (350, 200), "white").save(card, "PDF", resolution=100)  # 252 x 144 pt
    (small,) = open_document(card, max_pixels=DEFAULT_MAX_PIXELS)
    assert small.dpi == 300 and small.image.size == (1050, 600)


def test_a_budget_below_the_page_at_150_dpi_shrinks_it_to_the_model_limit(letter_pdf: Path) -> None:
    (page,) = open_document(letter_pdf, pages="1", max_pixels=1_000_000)
    assert 0.95e6 < page.image.width * page.image.height <= 1_000_000 and page.dpi < 150


# -- the model's own pixel budget ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "budget"), [
    ("minicpm-v", 1_806_336),  # MiniCPM-V 2.6: 1.8 MP
    ("Qwen/Qwen2-VL-7B-Instruct", NATIVE_PIXEL_CAP),  # Qwen2-VL's processor takes 12.8 MP: capped by default
    ("moondream", 378 * 378),
    ("some-model-the-catalog-lacks", DEFAULT_MAX_PIXELS),  # unknown: the 1 MP default
])
def test_the_budget_is_the_catalog_models_own(model: str, budget: int) -> None:
    assert with_catalog_limits(Capabilities(), model).max_pixels == budget
    spec = find(model)
    assert spec is None or min(spec.pixel_budget, NATIVE_PIXEL_CAP) == budget


def test_the_backends_own_ceiling_still_caps_the_catalog_budget() -> None:
    assert with_catalog_limits(Capabilities(pixel_ceiling=1_000_000), "minicpm-v").max_pixels == 1_000_000
    assert with_catalog_limits(Capabilities(pixel_ceiling=50_000_000), "minicpm-v").max_pixels == 1_806_336


def test_an_engine_sends_the_native_budget_unless_max_pixels_overrides(server, tmp_path: Path) -> None:
    assert OpenAIEngine("minicpm-v", base_url=server.base_url).capabilities().max_pixels == 1_806_336
    assert OpenAIEngine("minicpm-v", base_url=server.base_url, max_pixels=500_000).capabilities().max_pixels \
        == 500_000
    photo = tmp_path / "photo.png"
    make_image(2000, 1500, seed=3).save(photo)  # 3 MP
    url = ("--engine", "openai", "--base-url", server.base_url, "-m", "minicpm-v")
    assert oculo("ask", "what?", str(photo), *url).returncode == 0
    assert oculo("ask", "what?", str(photo), *url, "-o", "max_pixels", "500000").returncode == 0
    native, overridden = (_sent_images(b)[0] for b in server.bodies)
    assert 1_500_000 < native.width * native.height <= 1_806_336  # more than the old blanket 1 MP
    assert overridden.width * overridden.height <= 500_000


# -- ask on a PDF -------------------------------------------------------------------------------------------------

def test_ask_sends_a_pdfs_pages_as_images(server, letter_pdf: Path) -> None:
    ran = oculo("ask", "How many pages?", str(letter_pdf), "--engine", "openai", "--base-url", server.base_url,
                "-m", "served-model")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.decode().strip() == "two pages"
    sent = _sent_images(server.bodies[-1])
    assert len(sent) == 2 and all(im.width * im.height <= DEFAULT_MAX_PIXELS for im in sent)
    colors = [im.convert("RGB").getpixel((5, 5)) for im in sent]  # in page order (the PDF holds them as JPEG)
    assert all(abs(a - b) <= 3 for got, want in zip(colors, [(255, 255, 255), (200, 220, 240)])
               for a, b in zip(got, want))


def test_ask_answers_on_a_pdf_with_the_tiny_model(tiny_qwen: Path, letter_pdf: Path) -> None:
    ran = oculo("ask", "What is this?", str(letter_pdf), "--engine", "transformers", "-m", str(tiny_qwen),
                "--max-tokens", "3", "--json", "-o", "max_pixels", "20000")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["text"] is not None


def test_more_pages_than_the_model_takes_is_one_line_naming_pages_and_each(server, letter_pdf: Path) -> None:
    url = ("--engine", "openai", "--base-url", server.base_url, "-m", "moondream")  # one image per request
    ran = oculo("ask", "What is this?", str(letter_pdf), *url)
    err = ran.stderr.decode().strip()
    assert ran.returncode != 0 and len(err.splitlines()) == 1
    assert "two.pdf" in err and "--pages" in err and "--each" in err and "Traceback" not in err
    assert server.bodies == []  # refused before anything was sent
    ok = oculo("ask", "What is this?", str(letter_pdf), *url, "--pages", "2")
    assert ok.returncode == 0, ok.stderr
    assert len(_sent_images(server.bodies[-1])) == 1


def test_pages_without_a_pdf_or_with_each_is_a_usage_error(server, images) -> None:
    url = ("--engine", "openai", "--base-url", server.base_url, "-m", "served-model")
    assert oculo("ask", "hi", str(images["small"]), *url, "--pages", "1").returncode == 2
    assert oculo("ask", "hi", str(images["small"]), *url, "--pages", "1", "--each").returncode == 2
    assert server.bodies == []


# -- eval across engines ------------------------------------------------------------------------------------------

def test_models_entries_split_on_a_known_engine_only() -> None:
    entries = parse_models("ollama:qwen2.5vl:7b, openai:gpt-4o,qwen2.5vl:3b,transformers:/m/tiny", ENGINES)
    assert [(e.engine, e.model, e.label) for e in entries] == [
        ("ollama", "qwen2.5vl:7b", "ollama:qwen2.5vl:7b"), ("openai", "gpt-4o", "openai:gpt-4o"),
        (None, "qwen2.5vl:3b", "qwen2.5vl:3b"), ("transformers", "/m/tiny", "transformers:/m/tiny")]


@pytest.mark.parametrize(("url", "leaves"), [
    ("https://api.openai.com/v1", True), ("http://10.0.0.5:8000/v1", True), ("http://gpu-box:8000/v1", True),
    ("http://127.0.0.1:8000/v1", False), ("http://localhost:11434/v1", False), ("http://[::1]:8000/v1", False),
    ("127.0.0.2:9000", False),
])
def test_the_off_machine_warning_depends_on_the_url_alone(url: str, leaves: bool) -> None:
    assert leaves_machine(url) is leaves


def test_eval_rows_are_named_by_entry_and_loopback_gives_no_warning(server, tmp_path: Path) -> None:
    data = tmp_path / "docs"
    data.mkdir()
    make_image(200, 100, seed=1).save(data / "inv.png")
    (data / "inv.json").write_text(json.dumps({"issuer": "Acme", "amount": 10.0}))
    server.content = json.dumps({"vendor": "Acme", "total": 10.0})
    ran = oculo("eval", "--data", str(data), "--models", "openai:served-a,served-b", "--engine", "openai",
                "--base-url", server.base_url, "--attempts", "1", "--json", "--fields", "vendor,total")
    assert ran.returncode == 0, ran.stderr
    rows = json.loads(ran.stdout)["models"]
    assert [r["model"] for r in rows] == ["openai:served-a", "served-b"]
    assert "leave this machine" not in ran.stderr.decode()
    assert {b["model"] for b in server.bodies} == {"served-a", "served-b"}
