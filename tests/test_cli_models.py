"""`oculo recommend`, `oculo models`, `oculo doctor` through the real CLI entry point."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from oculo.cli import cli
from oculo.models.catalog import find, load_catalog

from .conftest import cli_env

REQUIRED = {"moondream2", "llava-1.6-7b", "llava-1.6-13b", "minicpm-v-2.6", "llama3.2-vision-11b",
            "llama3.2-vision-90b", "internvl2.5-8b", "qwen2-vl-7b", "qwen2-vl-72b", "qwen2.5-vl-3b", "qwen2.5-vl-7b",
            "qwen2.5-vl-32b", "qwen2.5-vl-72b", "paligemma2-3b", "smolvlm-2.2b", "smolvlm-256m", "smolvlm-500m",
            "gemma3-4b", "gemma3-12b", "gemma3-27b", "granite3.2-vision-2b"}


def run(*args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(cli, list(args), env=env or {"OLLAMA_HOST": "127.0.0.1:9"}, catch_exceptions=False)
    return result


@pytest.mark.parametrize("args,expected", [
    (("--vram", "6", "--task", "ocr"), "minicpm-v-2.6"),
    (("--vram", "2"), "moondream2"),
    (("--vram", "12"), "llama3.2-vision-11b"),
    (("--vram", "80"), "llama3.2-vision-90b"),
    (("--vram", "24", "--task", "ui"), "internvl2.5-8b"),
])
def test_recommend_json(args, expected):
    r = run("recommend", *args, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["id"] == expected and out["reason"] and "runner_up" in out


def test_recommend_uses_the_detected_machine_or_the_override():
    r = run("recommend", "--json", env={"OCULO_VRAM_GB": "6", "OLLAMA_HOST": "127.0.0.1:9"})
    out = json.loads(r.output)
    assert out["memory_source"] == "detected" and out["vram_gb"] == 6.0 and out["id"] == "llava-1.6-7b"


def test_recommend_rejects_bad_memory():
    assert run("recommend", "--vram", "0").exit_code == 2
    assert run("recommend", "--task", "poetry").exit_code == 2


def test_models_json_lists_every_required_model():
    r = run("models", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    ids = {m["id"] for m in out["models"]}
    assert REQUIRED <= ids and len(ids) == len(load_catalog())
    by_id = {m["id"]: m for m in out["models"]}
    assert by_id["minicpm-v-2.6"]["transformers"] == "remote-code"
    assert by_id["llava-1.6-7b"]["images_per_request"] == 1
    assert all(m["pulled_in_ollama"] is None for m in out["models"])  # no Ollama here: unknown, not "no"
    assert out["machine"]["usable_gb"] > 0


def test_models_wide_table_marks_remote_code():
    r = run("models", "--wide")
    assert r.exit_code == 0 and "remote code*" in r.output and "--trust-remote-code" in r.output


@pytest.mark.slow
def test_doctor_sees_oculo_serve_as_ollama(served):
    r = run("doctor", "--json", env=cli_env(OLLAMA_HOST=served.removeprefix("http://")))
    out = json.loads(r.output)
    checks = {(c["area"], c["name"]): c for c in out["checks"]}
    assert checks[("ollama", "server")]["ok"] is True
    assert "tiny:latest" in checks[("ollama", "vision models")]["detail"]
    assert r.exit_code == (1 if out["problems"] else 0)


def test_doctor_reports_an_explicit_unreachable_ollama_as_a_problem_with_its_fix():
    r = run("doctor", "--json", env={"OLLAMA_HOST": "127.0.0.1:9", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    out = json.loads(r.output)
    problems = [c for c in out["checks"] if c["ok"] is False]
    assert r.exit_code == 1 and {c["area"] for c in problems} >= {"ollama", "openai"}
    assert all(c["fix"] for c in problems)


@pytest.mark.parametrize("engine,given,expected", [
    ("ollama", "minicpm-v-2.6", "minicpm-v"),
    ("ollama", "Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5vl:7b"),
    ("ollama", "llava:13b", "llava:13b"),
    ("transformers", "qwen2.5-vl-3b", "Qwen/Qwen2.5-VL-3B-Instruct"),
    ("transformers", "llava:7b", "llava-hf/llava-v1.6-mistral-7b-hf"),
    ("transformers", "some-org/unknown-model", "some-org/unknown-model"),
])
def test_catalog_names_become_each_engines_own_name(engine, given, expected):
    from oculo.engines.resolve import EngineSettings, _name_for

    assert _name_for(engine, given, EngineSettings()) == expected


def test_remote_code_models_need_the_flag_in_process():
    from oculo.engines.resolve import EngineSettings, _name_for
    from oculo.errors import ModelNotFound

    with pytest.raises(ModelNotFound, match="through Ollama"):
        _name_for("transformers", "minicpm-v-2.6", EngineSettings())
    assert _name_for("transformers", "minicpm-v-2.6", EngineSettings(trust_remote_code=True)) == "openbmb/MiniCPM-V-2_6"


@pytest.mark.parametrize("vram, expected", [
    ("2", "moondream2"), ("8", "llama3.2-vision-11b"), ("16", "llava-1.6-13b"), ("64", "llama3.2-vision-90b"),
])
def test_recommend_at_the_guides_thresholds_fits_with_the_figure_models_shows(vram, expected):
    out = json.loads(run("recommend", "--vram", vram, "--json").output)
    assert out["id"] == expected and out["fits"] is True and out["device"] == "gpu"
    assert out["memory_gb"] <= float(vram)
    listed = {m["id"]: m for m in json.loads(run("models", "--json").output)["models"]}
    # One figure: recommend's, the models listing's and the catalog's are the same number.
    assert listed[expected]["memory_gb"] == listed[expected]["mem_q4_gb"] == out["memory_gb"]


def test_models_lists_the_same_memory_figure_in_every_form():
    rows = json.loads(run("models", "--json").output)["models"]
    narrow = run("models").output
    for m in rows:
        line = next(x for x in narrow.splitlines() if x.startswith(m["id"] + " "))
        assert f" {m['memory_gb']:g} GB " in line, line


def _no_gpu(monkeypatch, cores=2):
    # A machine without a GPU cannot be made here on demand, so the real probe runs with every GPU tool absent.
    import os

    from oculo.models import hardware

    real = hardware.detect

    def missing(*a, **k):
        raise FileNotFoundError("not installed")

    monkeypatch.setattr(hardware, "detect", lambda **k: real(run=missing, nvml=False, env={}))
    monkeypatch.setattr(os, "cpu_count", lambda: cores)


def test_recommend_without_a_gpu_says_so_and_plans_for_the_cpu(monkeypatch):
    _no_gpu(monkeypatch)
    r = run("recommend", "--json", env={"OLLAMA_HOST": "127.0.0.1:9"})
    out = json.loads(r.output)
    assert out["device"] == "cpu" and out["memory_source"] == "detected"
    assert out["id"] != "llava-1.6-13b" and find(out["id"]).params_b < 1 and out["fits"]
    assert "No GPU found" in out["reason"] and "2 CPU cores" in out["reason"]
    text = run("recommend").output
    assert "RAM, no GPU" in text and out["id"] in text


def test_recommend_video_prefer(monkeypatch):
    q = json.loads(run("recommend", "--vram", "12", "--task", "video", "--json").output)
    s = json.loads(run("recommend", "--vram", "12", "--task", "video", "--prefer", "speed", "--json").output)
    assert (q["id"], q["prefer"]) == ("llama3.2-vision-11b", "quality")
    assert (s["id"], s["prefer"]) == ("llava-1.6-7b", "speed")
    r = run("recommend", "--vram", "12", "--prefer", "speed")
    assert r.exit_code == 2 and "--task video" in r.output


def test_models_fits_an_80_column_terminal():
    r = CliRunner().invoke(cli, ["models"], env={"COLUMNS": "80", "OLLAMA_HOST": "127.0.0.1:9"})
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert max(len(x) for x in lines) <= 80, max(lines, key=len)
    ids = {s.id for s in load_catalog()}
    listed = {x.split()[0] for x in lines if x.split() and x.split()[0] in ids}
    assert listed == ids  # every model still appears, one line each
    llama = next(x for x in lines if x.startswith("llama3.2-vision-11b "))
    assert " 1/many " in llama  # one image through Ollama, several in-process


def test_models_wide_and_json_hold_what_the_narrow_view_leaves_out():
    wide = run("models", "--wide").output
    assert "remote code*" in wide and "--trust-remote-code" in wide and "Qwen/Qwen2-VL-7B-Instruct" in wide
    assert "qwen2.5vl:7b" in wide and "mllama" in wide  # the tag to try instead, and why Llama's limits differ
    assert "remote code" not in run("models").output
    rows = {m["id"]: m for m in json.loads(run("models", "--json").output)["models"]}
    assert (rows["llama3.2-vision-11b"]["images_ollama"], rows["llama3.2-vision-11b"]["images_in_process"]) == (1, None)
    assert rows["qwen2-vl-7b"]["ollama_instead"] == "qwen2.5-vl-7b"
    assert run("models", "--json", "--wide").exit_code == 2


def test_recommend_says_how_to_get_the_pick_in_the_words_pull_accepts():
    assert "get it: oculo pull llama3.2-vision\n" in run("recommend", "--vram", "12").output
    ui = run("recommend", "--vram", "20", "--task", "ui").output  # InternVL: no Ollama tag, ships its own code
    assert "get it: oculo pull internvl2.5-8b --engine transformers --trust-remote-code" in ui
