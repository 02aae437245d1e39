"""Alt text: the clean-up rules, the one-batch task, and the command end to end with a tiny model."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from oculo.cli.alt_text import alt_text as alt_text_cmd
from oculo.engines import ImagePart, Options
from oculo.tasks.alt_text import alt_prompt, alt_texts, clean_alt
from oculo.testing import FakeEngine, make_image

from .conftest import oculo


@pytest.mark.parametrize("raw,expected", [
    ("A dog on a beach.", "A dog on a beach."),
    ('"A dog on a beach."', "A dog on a beach."),
    ('"A dog on a beach".', "A dog on a beach."),
    ("“A dog on a beach”", "A dog on a beach"),
    ("'A dog'", "A dog"),
    ("**A cat sleeping**", "A cat sleeping"),
    ('"OPEN" sign on a glass door', '"OPEN" sign on a glass door'),
    ('A sign that reads "OPEN".', 'A sign that reads "OPEN".'),
    ("Image of a dog running.", "A dog running."),
    ("An image of a dog running.", "A dog running."),
    ("A picture of a red bicycle", "A red bicycle"),
    ("Photo of the Eiffel Tower at night", "The Eiffel Tower at night"),
    ("A photograph showing two children", "Two children"),
    ("This image shows a bar chart of sales", "A bar chart of sales"),
    ("The image depicts a harbor", "A harbor"),
    ("In this image, we can see two people", "Two people"),
    ("Alt text: A laptop on a desk", "A laptop on a desk"),
    ('Alt text: "Image of a cat"', "A cat"),
    ("Picture of:  a tree", "A tree"),
    ("Ein Bild von einem Hund", "Einem Hund"),
    ("Das Bild zeigt einen Hund.", "Einen Hund."),
    ("Une photo de la tour Eiffel", "La tour Eiffel"),
    ("Image d'un chat noir", "Un chat noir"),
    ("Una imagen de un perro", "Un perro"),
    ("Foto di un gatto", "Un gatto"),
    ("Uma imagem de um carro", "Um carro"),
    ("Een foto van een fiets", "Een fiets"),
    ("A dog   \n running  .", "A dog running."),
    ("A red bicycle..", "A red bicycle."),
    ("A red bicycle...", "A red bicycle."),
    ("A red bicycle!.", "A red bicycle!"),
    ("A red bicycle…", "A red bicycle."),
    ("Screenshot of a login form", "Screenshot of a login form"),  # the medium can matter: kept
    ("Imagery of Mars from orbit", "Imagery of Mars from orbit"),
    ("", ""),
    ("   \n ", ""),
    ('""', ""),
])
def test_clean_alt(raw, expected):
    assert clean_alt(raw, 125) == expected


@pytest.mark.parametrize("raw,max_chars,expected", [
    ("The quick brown fox jumps over the lazy dog, again and again", 40, "The quick brown fox jumps over the lazy"),
    ("A man stands next to a bicycle on the street", 40, "A man stands next to a bicycle"),
    ("A dog sleeps on a sofa. A cat watches it from the window sill", 40, "A dog sleeps on a sofa."),
    ("Red, green, blue, yellow, orange, purple", 20, "Red, green, blue"),
    ("A chart (sales by month) with growth", 12, "A chart"),
    ("Supercalifragilisticexpialidociousandmore", 10, "Supercalif"),
    ("A dog on the beach with a ball", 20, "A dog on the beach"),
    ("A dog — running fast", 7, "A dog"),
    ("Exactly forty characters long, no cut!!!", 40, "Exactly forty characters long, no cut!!!"),
])
def test_clean_alt_cuts_at_a_word(raw, max_chars, expected):
    out = clean_alt(raw, max_chars)
    assert out == expected
    assert len(out) <= max_chars and out[-1:] not in tuple(",;:-–—([/&\"'")


@pytest.mark.parametrize("max_chars", [10, 16, 40, 125])
def test_clean_alt_never_exceeds_the_limit(max_chars):
    words = ["An", "image", "of", "a", "very-long-hyphenated-thing,", "(with", "brackets)", "and", "“quotes”:",
             "plus", "more", "words"]
    for n in range(1, len(words) + 1):
        out = clean_alt(" ".join(words[:n]) * 3, max_chars)
        assert len(out) <= max_chars
        assert out == out.strip() and "  " not in out


def test_prompt_asks_for_short_plain_alt_text():
    p = alt_prompt(80)
    assert "80 characters" in p and "One sentence" in p and "Image of" in p
    assert "Where the image appears" not in p
    p = alt_prompt(80, 'page "Team"\n  text before: "Meet Ana"')
    assert 'Where the image appears: page "Team" text before: "Meet Ana"' in p


def parts(n: int) -> list[ImagePart]:
    return [ImagePart(make_image(32, 32, seed=i), f"img{i}.png") for i in range(n)]


def test_alt_texts_one_batch_with_context():
    eng = FakeEngine(["An image of a cat.", FakeEngine.failed("boom"), "   ", "A very long answer " * 10])
    out = alt_texts(eng, parts(4), max_chars=30, context=["page about cats", None, None, None])
    assert len(eng.batches) == 1 and len(eng.batches[0]) == 4
    first = eng.batches[0][0]
    assert len(first.images) == 1 and "page about cats" in first.messages[-1].text
    assert "Where the image appears" not in eng.batches[0][1].messages[-1].text
    assert first.options.max_tokens == 30 // 2 + 24
    assert [(a.source, a.text, a.error) for a in out[:3]] == [
        ("img0.png", "A cat.", None), ("img1.png", "", "boom"),
        ("img2.png", "", "the model returned no usable alt text; try another model")]
    assert out[3].error is None and 0 < len(out[3].text) <= 30
    assert out[0].to_dict()["alt_text"] == "A cat."


def test_alt_texts_empty_and_mismatched_context():
    assert alt_texts(FakeEngine([]), []) == []
    with pytest.raises(ValueError, match="one per image"):
        alt_texts(FakeEngine(["x"]), parts(2), context=["only one"])


# ---- with the tiny in-process model ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_engine(tiny_qwen):
    from oculo.engines.local import TransformersEngine

    eng = TransformersEngine(str(tiny_qwen))
    yield eng
    eng.close()


@pytest.mark.slow
def test_tiny_model_every_image_gets_short_text(tiny_engine, images):
    from oculo import api

    loaded = api.load_images([str(p) for p in images.values()], tiny_engine)
    out = alt_texts(tiny_engine, loaded, max_chars=40, options=Options(max_tokens=12))
    assert [a.source for a in out] == [str(p) for p in images.values()]
    for a in out:
        # Random weights babble; whatever they say, the limit holds.
        assert a.error or (0 < len(a.text) <= 40 and a.text == a.text.strip())
        assert a.stats.generated_tokens


def _site(tmp_path: Path, images: dict[str, Path]) -> Path:
    root = tmp_path / "site"
    (root / "img").mkdir(parents=True)
    shutil.copy(images["small"], root / "img" / "small.png")
    shutil.copy(images["wide"], root / "wide.png")
    html = ('<html><head><title>Shop</title></head><body>\n<p>Caf\xe9</p>\n'
            '<IMG SRC="img/small.png">\n<img src="wide.png" alt="Already here">\n'
            '<img src="missing.png">\n<img src="https://example.org/x.png">\n</body></html>\n')
    (root / "index.html").write_bytes(html.encode("latin-1"))
    return root


@pytest.mark.slow
def test_cli_csv_and_html_write(tiny_qwen, images, tmp_path):
    runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
    runner.env = {"OCULO_STORE": str(tmp_path / "jobs.sqlite3")}  # a throwaway job store, not the user's
    engine = ["--engine", "transformers", "-m", str(tiny_qwen), "--max-chars", "40", "--max-tokens", "12"]
    out_csv = tmp_path / "alt.csv"
    res = runner.invoke(alt_text_cmd, [str(images["small"]), str(images["wide"]), *engine, "--out", str(out_csv)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert [r["path"] for r in rows] == [str(images["small"]), str(images["wide"])]
    assert all(0 < len(r["alt_text"]) <= 40 and r["error"] == "" for r in rows)
    again = runner.invoke(alt_text_cmd, [str(images["small"]), str(images["wide"]), *engine, "--out", str(out_csv)])
    assert "(2 from the store)" in again.stderr
    assert list(csv.DictReader(out_csv.open(encoding="utf-8"))) == rows

    root = _site(tmp_path, images)
    page = root / "index.html"
    before = page.read_bytes()
    res = runner.invoke(alt_text_cmd, ["--html", str(root), *engine, "--json"])  # dry run
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [Path(r["path"]).name for r in lines] == ["small.png"]  # the one that still needs alt text
    assert "missing.png (no such file)" in res.stderr and "dry run" in res.stderr
    assert page.read_bytes() == before and not (root / "index.html.bak").exists()

    res = runner.invoke(alt_text_cmd, ["--html", str(root), *engine, "--write"])
    assert res.exit_code == 0, res.output
    after = page.read_bytes()
    assert (root / "index.html.bak").read_bytes() == before
    head, tail = before.split(b'<IMG SRC="img/small.png"', 1)
    assert after.startswith(head + b'<IMG SRC="img/small.png" alt="') and after.endswith(b'">' + tail[1:])
    alt = after[len(head) + len(b'<IMG SRC="img/small.png" alt="'):-len(b'">' + tail[1:])]
    assert 0 < len(alt.decode("latin-1")) <= 40 + 20  # escaping may lengthen it
    assert b'alt="Already here"' in after and b"Caf\xe9" in after


def test_cli_usage_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(alt_text_cmd, [])
    assert res.exit_code == 2 and "--html DIR" in res.output
    res = runner.invoke(alt_text_cmd, ["x.png", "--write"])
    assert res.exit_code == 2 and "need --html" in res.output


@pytest.mark.slow
def test_cli_through_the_oculo_group(tiny_qwen, images, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    out_csv = tmp_path / "alt.csv"
    res = oculo("alt-text", str(images["tall"]), str(bad), "--engine", "transformers", "-m", str(tiny_qwen),
                "--max-chars", "40", "--max-tokens", "12", "--out", str(out_csv))
    assert res.returncode == 1 and f"oculo: error: {bad}" in res.stderr.decode()
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert rows[0]["error"] == "" and 0 < len(rows[0]["alt_text"]) <= 40 and rows[1]["error"]
