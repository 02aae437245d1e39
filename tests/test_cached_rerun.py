"""A fully cached rerun loads no model: what a job needs up front comes from the model folder's config files."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from oculo.batch.jobs import JobSpec
from oculo.cli import cli
from oculo.engines import Options, Request
from oculo.engines.local import TransformersEngine
from oculo.testing import free_port, make_image


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every real model load, by model folder (the real loader still runs)."""
    seen: list[str] = []
    real = TransformersEngine._load_now

    def counted(self: TransformersEngine):  # type: ignore[no-untyped-def]
        seen.append(self.model)
        return real(self)

    monkeypatch.setattr(TransformersEngine, "_load_now", counted)
    return seen


def test_cached_rerun_through_the_cli_loads_no_model(tiny_qwen, tmp_path, loads):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(20):
        make_image(32, 24, seed=100 + i).save(folder / f"{i:02d}.png")
    runner = CliRunner()
    runner.env = {"OCULO_STORE": str(tmp_path / "jobs.sqlite3")}
    args = ["describe", str(folder), "--engine", "transformers", "-m", str(tiny_qwen), "--max-tokens", "1",
            "--progress", "plain"]  # plain: its closing line says how many came from the store

    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert loads == [str(tiny_qwen)]  # the first run needs the model, once

    again = runner.invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert loads == [str(tiny_qwen)]  # the rerun found all 20 in the store and loaded nothing
    assert "20 done (20 from the store)" in again.output
    assert again.stdout == first.stdout  # the same records, from the store (progress goes to stderr)


def test_capabilities_come_from_config_files_without_loading(tiny_qwen, loads):
    eng = TransformersEngine(str(tiny_qwen), batch_size=5)
    caps = eng.capabilities()
    assert not eng.loaded and loads == []
    config = json.loads((tiny_qwen / "processor_config.json").read_text())["image_processor"]
    assert caps.max_pixels == min(1024 * 1024, config["size"]["longest_edge"])  # Qwen's longest_edge counts pixels
    assert caps.batch == 5 and caps.parallel == 1
    eng.generate([Request.simple("hi", options=Options(max_tokens=1))])
    assert eng.loaded and loads == [str(tiny_qwen)]


@pytest.mark.parametrize(("files", "budget"), [
    ({"preprocessor_config.json": {"image_processor_type": "Qwen2VLImageProcessor", "max_pixels": 401408}}, 401408),
    ({"processor_config.json": {"image_processor": {"image_processor_type": "Idefics3ImageProcessor",
                                                    "size": {"longest_edge": 728}}}}, 728 ** 2),
    ({"processor_config.json": {"image_processor": {"image_processor_type": "Qwen2VLImageProcessorFast",
                                                    "size": {"longest_edge": 50176, "shortest_edge": 3136}}}},
     50176),
    ({"preprocessor_config.json": {"size": {"height": 896, "width": 896}}}, 1024 * 1024),  # fixed size: our default
    ({}, 1024 * 1024),  # no processor config at all
])
def test_image_budget_from_each_config_layout(tmp_path, files, budget):
    (tmp_path / "config.json").write_text("{}")
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content))
    eng = TransformersEngine(str(tmp_path))
    assert eng.capabilities().max_pixels == budget and not eng.loaded


def test_jobs_take_concurrency_and_batch_from_capabilities(tiny_qwen):
    from oculo.engines.ocr import RapidOcrEngine, TesseractEngine

    spec = JobSpec("describe", TransformersEngine(str(tiny_qwen), batch_size=6), "p", command=["oculo", "describe"])
    assert (spec.default_concurrency(), spec.batch_size()) == (1, 6)
    pytest.importorskip("rapidocr")
    rapid = JobSpec("ocr", RapidOcrEngine(), {})
    assert (rapid.default_concurrency(), rapid.batch_size(), rapid.model, rapid.engine_name) == \
        (1, 1, "rapidocr", "rapidocr")
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract is not installed")
    tess = JobSpec("ocr", TesseractEngine(), {})
    assert tess.default_concurrency() == max(1, os.cpu_count() or 1) and tess.batch_size() == 1


@pytest.mark.parametrize("name", ["rapidocr", "tesseract"])
def test_classic_ocr_answers_through_the_seam(name):
    """generate() on a classic engine gives the text its own reader finds; it is opened like any engine."""
    from PIL import Image, ImageDraw

    from oculo.engines import ImagePart, open_engine
    from oculo.errors import OculoError

    try:
        eng = open_engine(name)
    except OculoError:
        pytest.skip(f"{name} is not installed")
    image = Image.new("RGB", (400, 80), "white")
    ImageDraw.Draw(image).text((10, 20), "TOTAL 42.00", fill="black", font_size=32)
    (reply,) = eng.generate([Request.simple("", [ImagePart(image, "t.png")])])
    assert reply.text == eng.read(image).text and "42" in reply.text
    assert (reply.engine, reply.model) == (name, name) and not eng.capabilities().schema


def test_serve_loads_the_model_at_start_so_a_broken_one_fails_before_any_client(tmp_path):
    # Capabilities no longer load weights, so `oculo serve` warms the engine itself: a folder whose weights are
    # missing is refused in one line at start instead of on the first request.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "qwen2_vl"}')
    r = CliRunner().invoke(cli, ["serve", "--engine", "transformers", "-m", str(broken), "--port", str(free_port())],
                           env={"OCULO_NO_DOWNLOAD": "1"})
    assert r.exit_code == 1, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("oculo: error:")]
    assert len(errors) == 1 and "Traceback" not in r.output


def test_warm_loads_the_weights_once(tiny_qwen, loads):
    from oculo.engines.local import TransformersEngine

    engine = TransformersEngine(str(tiny_qwen))
    assert not engine.loaded
    engine.warm()
    engine.warm()
    assert engine.loaded and loads == [str(tiny_qwen)]
