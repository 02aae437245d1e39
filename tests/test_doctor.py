"""`oculo doctor` answers "can `oculo ask` run now?" — with which engine and model, roughly how fast, else the fix."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from oculo.cli import cli
from oculo.engines.resolve import default_local_model
from oculo.testing import tiny_model

UNREACHABLE = "127.0.0.1:9"


def _doctor(*args: str, **env: str | None):
    base = {"OCULO_MODEL": None, "OCULO_ENGINE": None, "OLLAMA_HOST": None, "OPENAI_BASE_URL": None,
            "HF_HUB_OFFLINE": None, "OCULO_NO_DOWNLOAD": None}
    return CliRunner().invoke(cli, ["doctor", *args], env={**base, **env})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_model("qwen2_vl", tmp_path_factory.mktemp("doctor") / "tiny")


def test_a_reachable_model_means_ask_can_run(tiny):
    r = _doctor("--json", OCULO_MODEL=str(tiny))
    out = json.loads(r.output)
    assert out["can_ask"] is True and r.exit_code == 0, r.output
    assert out["ask"].startswith(f"yes: in-process with {tiny}") and "tokens/s on CPU" in out["ask"]
    text = _doctor(OCULO_MODEL=str(tiny))
    assert text.exit_code == 0 and f"oculo ask: yes: in-process with {tiny}" in text.output


def test_nothing_to_answer_with_exits_non_zero_and_says_the_fix(tmp_path):
    env = {"OLLAMA_HOST": UNREACHABLE, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "HF_HUB_CACHE": str(tmp_path / "hf" / "hub")}
    r = _doctor("--json", **env)
    out = json.loads(r.output)
    assert r.exit_code == 1 and out["can_ask"] is False
    ask = next(c for c in out["checks"] if c["area"] == "ask")
    assert f"Ollama at http://{UNREACHABLE} is not reachable" in ask["detail"]
    assert f"{default_local_model()} is not in the Hugging Face cache" in ask["detail"]
    assert "`oculo pull moondream`" in ask["fix"] and "--engine transformers" in ask["fix"]
    text = _doctor(**env)
    assert text.exit_code == 1 and "oculo ask: no: " in text.output and "fix: start Ollama" in text.output


def test_a_missing_model_with_downloading_allowed_says_the_first_ask_fetches_it(tmp_path):
    r = _doctor("--json", HF_HOME=str(tmp_path / "hf"), HF_HUB_CACHE=str(tmp_path / "hf" / "hub"),
                OCULO_MODEL="someone/not-cached-vlm")
    out = json.loads(r.output)
    assert out["can_ask"] is True and "once someone/not-cached-vlm is downloaded" in out["ask"]


def test_ocr_engines_and_video_support_are_listed(tiny):
    out = json.loads(_doctor("--json", OCULO_MODEL=str(tiny)).output)
    names = {(c["area"], c["name"]) for c in out["checks"]}
    assert {("ocr", "rapidocr"), ("ocr", "tesseract"), ("video", "PyAV")} <= names
