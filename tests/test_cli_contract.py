"""The output and flag contract every task command keeps, run in-process with click's CliRunner.

Quiet by default where it should be (one input into a pipe), errors printed once, stdout strict JSON, failed
validation exits 1, every accepted flag honoured or refused (exit 2), and `-o` never overriding the request.
A loopback OpenAI-compatible server records each body that arrives, so what a flag changed is seen on the wire.
"""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from oculo.cli import cli
from oculo.testing import make_image

_OWN_ENV = ("OCULO_", "OLLAMA_", "OPENAI_")


def _no_constants(name: str) -> None:
    raise ValueError(f"not strict JSON: {name}")


def strict_loads(text: str):
    """json.loads that refuses NaN and Infinity, which Python's json would otherwise accept."""
    return json.loads(text, parse_constant=_no_constants)


@pytest.fixture
def run(tmp_path):
    """`oculo ARGS` in-process with its own job store; returns click's Result (stdout and stderr apart)."""
    env = {k: None for k in os.environ if k.startswith(_OWN_ENV)}
    env["OCULO_STORE"] = str(tmp_path / "jobs.sqlite3")

    def invoke(*args: str):
        return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
    return invoke


@pytest.fixture
def server(openai_recorder):
    openai_recorder.content = "a red square"
    return openai_recorder


def _openai(server) -> tuple[str, ...]:
    return ("--engine", "openai", "--base-url", server.base_url, "-m", "served-model")


# -- quiet where it should be -----------------------------------------------------------------------


def test_one_input_into_a_pipe_prints_the_answer_and_nothing_else(run, server, images):
    result = run("describe", images["small"], *_openai(server))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "a red square"
    assert result.stderr == ""  # no progress, no job summary


def test_several_inputs_get_a_summary_unless_quiet(run, server, images):
    args = ("describe", images["small"], images["wide"], *_openai(server))
    loud = run(*args)
    assert loud.exit_code == 0 and "2 done, 0 failed" in loud.stderr
    assert "finished: 2/2" in loud.stderr  # the progress's closing line
    for quiet in (("-q",), ("--progress", "off")):
        result = run(*args, *quiet)
        assert result.exit_code == 0 and result.stderr == "", quiet
        assert result.stdout.count("a red square") == 2


def test_an_error_is_printed_once_on_stderr_and_kept_in_the_json_record(run, server, images, tmp_path):
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    result = run("describe", images["small"], bad, *_openai(server), "--json", "-q")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"oculo: error: {bad}: ")
    assert lines[0].count("corrupt.jpg") == 1  # the file is named once, not "a.jpg: a.jpg: ..."
    records = [strict_loads(line) for line in result.stdout.splitlines()]
    failed = [r for r in records if r.get("error")]
    assert len(records) == 2 and len(failed) == 1 and failed[0]["source"] == str(bad)
    text = run("describe", images["small"], bad, *_openai(server))
    assert text.stderr.count("corrupt.jpg") == 1 and "corrupt" not in text.stdout  # not also in the text output


# -- strict JSON ----------------------------------------------------------------------------------


def test_non_finite_numbers_become_null_with_a_warning(run, server, images, tmp_path):
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"n": {"type": "number"}, "m": {"type": "number"}},
                                  "required": ["n", "m"]}))
    server.content = '{"n": 1e999, "m": NaN}'  # what a model can send; Python's json reads inf and nan
    out = tmp_path / "out.jsonl"
    result = run("ask", "how many?", images["small"], "--each", "--schema", schema, "--json", "--out", out,
                 *_openai(server))
    assert result.exit_code == 0, result.stderr
    for text in (result.stdout, out.read_text()):
        record = strict_loads(text.strip())
        assert record["data"] == {"n": None, "m": None}
        assert sorted(w["field"] for w in record["warnings"]) == ["data.m", "data.n"]
        assert all(w["code"] == "not_finite" for w in record["warnings"])


def test_the_output_module_cleans_any_record(capsys, tmp_path):
    from oculo.cli.output import Output

    with Output(as_json=True, out=tmp_path / "o.csv") as output:
        output.record({"source": "x", "status": "ok", "data": {"total": float("-inf"), "items": [float("nan"), 1]}})
    record = strict_loads(capsys.readouterr().out)
    assert record["data"] == {"total": None, "items": [None, 1]} and record["status"] == "warnings"
    assert "inf" not in (tmp_path / "o.csv").read_text().lower()


# -- validation failures fail -----------------------------------------------------------------------


def test_an_extraction_that_fails_its_own_validator_is_failed_and_exits_1(run, server, images, tmp_path, monkeypatch):
    (tmp_path / "strict_model.py").write_text(
        "from pydantic import BaseModel, field_validator\n"
        "class Picky(BaseModel):\n"
        "    label: str\n"
        "    @field_validator('label')\n"
        "    @classmethod\n"
        "    def never(cls, v):\n"
        "        raise ValueError('label is never right')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    server.content = '{"label": "x"}'
    result = run("extract", images["small"], "--schema", "strict_model:Picky", "--attempts", "1",
                 "--anchor", "none", *_openai(server))
    assert result.exit_code == 1
    record = strict_loads(result.stdout.strip())
    assert record["status"] == "failed" and "never right" in record["error"]
    assert record["data"] == {"label": "x"}  # kept for a look
    assert result.stderr.count("never right") == 1


# -- flags honoured or refused ----------------------------------------------------------------------


def test_system_is_sent_by_extract_and_ocr_with_a_vision_model(run, server, images, tmp_path):
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}))
    server.content = '{"n": 3}'
    result = run("extract", images["small"], "--schema", schema, "--attempts", "1", "--anchor", "none",
                 "--system", "Answer tersely.", *_openai(server))
    assert result.exit_code == 0, result.stderr
    assert server.bodies[-1]["messages"][0] == {"role": "system", "content": "Answer tersely."}
    server.content = "SOME TEXT"
    result = run("ocr", images["small"], "--system", "Transcribe only.", "--temperature", "0.2", *_openai(server))
    assert result.exit_code == 0, result.stderr
    body = server.bodies[-1]
    assert body["messages"][0] == {"role": "system", "content": "Transcribe only."}
    # --temperature alone must not shrink a page's room to the engine's short default
    assert body["temperature"] == 0.2 and body["max_tokens"] == 4096


def test_extract_system_reaches_the_tiny_model(run, tiny_qwen, images, tmp_path):
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"n": {"type": "integer", "minimum": 0,
                                  "maximum": 9}}, "required": ["n"], "additionalProperties": False}))
    args = ("extract", images["small"], "--schema", schema, "--attempts", "1", "--anchor", "none",
            "--engine", "transformers", "-m", tiny_qwen, "--max-tokens", "12")
    plain = strict_loads(run(*args).stdout.strip())
    steered = strict_loads(run(*args, "--system", "You read documents. " * 10).stdout.strip())
    assert steered["stats"]["prompt_tokens"] > plain["stats"]["prompt_tokens"] + 20


@pytest.mark.parametrize("flags", [("--system", "x"), ("--temperature", "0.5"), ("--max-tokens", "9"),
                                   ("-o", "num_ctx", "8"), ("--device", "cpu"), ("-m", "some-model"),
                                   ("--format", "markdown")])
def test_classic_ocr_refuses_what_it_cannot_use(run, images, flags):
    result = run("ocr", images["small"], "--engine", "rapidocr", *flags)
    assert result.exit_code == 2, result.output
    assert "rapidocr" in result.stderr


@pytest.mark.parametrize("flags", [("--device", "cpu"), ("--batch-size", "4"), ("--ollama-host", "127.0.0.1:9")])
def test_engine_options_for_another_engine_are_refused(run, server, images, flags):
    result = run("describe", images["small"], *_openai(server), *flags)
    assert result.exit_code == 2 and flags[0] in result.stderr
    assert server.bodies == []  # refused before any request


@pytest.mark.parametrize("args", [("ask", "hi", "--store", "x.sqlite3"), ("ask", "hi", "--progress", "plain"),
                                  ("ask", "hi", "--stream", "--json"), ("compare", "--text-model", "t",
                                                                        "--mode", "together"),
                                  ("eval", "--data", ".", "--models", "a", "-m", "b")])
def test_flags_that_cannot_apply_are_usage_errors(run, server, images, args):
    command, *rest = args
    inputs = () if command == "eval" else (images["small"], images["wide"])
    result = run(command, *rest, *inputs, *_openai(server))
    assert result.exit_code == 2, result.output


# -- -o never overrides the request -----------------------------------------------------------------


@pytest.mark.parametrize("key,flag", [("model", "-m"), ("stream", "--stream"), ("messages", "prompt"),
                                      ("temperature", "--temperature"), ("response_format", "--schema")])
def test_an_option_naming_a_request_field_is_refused(run, server, images, key, flag):
    result = run("ask", "hi", images["small"], "-o", key, "1", *_openai(server))
    assert result.exit_code == 2 and flag in result.stderr
    assert server.bodies == []


def test_other_options_travel_and_the_request_keeps_its_own_fields(run, server, images):
    result = run("ask", "hi", images["small"], "-o", "top_p", "0.5", *_openai(server))
    assert result.exit_code == 0, result.stderr
    body = server.bodies[-1]
    assert body["top_p"] == 0.5 and body["model"] == "served-model" and body["stream"] is True


def test_the_engines_refuse_an_extra_that_names_their_own_field():
    from oculo import Options, Request, Unsupported
    from oculo.engines.ollama import OllamaEngine
    from oculo.engines.openai import OpenAIEngine

    for engine, key in ((OpenAIEngine("m", base_url="http://127.0.0.1:9/v1"), "model"),
                        (OpenAIEngine("m", base_url="http://127.0.0.1:9/v1"), "stream"),
                        (OllamaEngine("m", host="127.0.0.1:9"), "format"),
                        (OllamaEngine("m", host="127.0.0.1:9"), "num_predict")):
        with pytest.raises(Unsupported, match=key):
            engine.payload(Request.simple("hi", options=Options(extra={key: "x"})), stream=False)
    body = OllamaEngine("m", host="127.0.0.1:9").payload(
        Request.simple("hi", options=Options(max_tokens=4, extra={"num_ctx": 64})), stream=False)
    assert body["model"] == "m" and body["options"] == {"num_predict": 4, "num_ctx": 64}


# -- the library's keywords -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_engine(tiny_qwen):
    from oculo.engines.local import TransformersEngine

    engine = TransformersEngine(str(tiny_qwen))
    yield engine
    engine.close()


def test_library_keywords_reach_the_model(tiny_engine, images):
    import oculo

    short = oculo.ask("What is this?", [images["small"]], engine=tiny_engine, max_tokens=2, temperature=0)
    assert short.stats.generated_tokens <= 2
    steered = oculo.ask("What is this?", [images["small"]], engine=tiny_engine, max_tokens=2, temperature=0,
                        system="You are terse. " * 8)
    assert steered.stats.prompt_tokens > short.stats.prompt_tokens + 10
    a, b = (oculo.ask("Say something.", [images["small"]], engine=tiny_engine, max_tokens=6, temperature=1.0,
                      seed=11) for _ in range(2))
    assert a.text == b.text  # the seed makes sampling repeatable
    replies = oculo.describe([images["small"], images["wide"]], engine=tiny_engine, max_tokens=3, system="Be brief.")
    assert len(replies) == 2 and all(r.stats.generated_tokens <= 3 for r in replies)
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
              "additionalProperties": False}
    typed = oculo.ask("Is it red?", [images["small"]], engine=tiny_engine, schema=schema, max_tokens=12)
    assert isinstance(typed.data, dict) and isinstance(typed.data["ok"], bool)


def test_library_keywords_on_the_task_functions(tiny_engine, images):
    import oculo

    compared = oculo.compare([images["small"], images["wide"]], engine=tiny_engine, max_tokens=3, mode="together")
    assert compared["stats"]["generated_tokens"] <= 3
    (read,) = oculo.chart([images["small"]], engine=tiny_engine, max_tokens=5, temperature=0, ocr="none")
    assert read["stats"]["generated_tokens"] <= 5
    (shot,) = oculo.screenshot([images["small"]], engine=tiny_engine, max_tokens=5, seed=1, ocr="none")
    assert shot["stats"]["generated_tokens"] <= 5
    with pytest.raises(ValueError, match="max_tokens"):
        oculo.ask("hi", [images["small"]], engine=tiny_engine, max_tokens=0)


def test_library_keywords_override_options():
    from oculo import Options
    from oculo.api import _options

    merged = _options(Options(max_tokens=100, seed=1, extra={"top_p": 0.9}), 5, None, None, "END")
    assert merged == Options(max_tokens=5, seed=1, stop=["END"], extra={"top_p": 0.9})
    assert _options(None, None, None, None, None) is None


def test_a_flag_the_named_engine_ignores_is_refused_before_any_server_is_asked(run, tmp_path):
    # --engine ollama with --device: a usage error at once, not a wait on (or an error from) an absent Ollama.
    image = tmp_path / "a.png"
    make_image(32, 32, seed=1).save(image)
    r = run("describe", image, "--engine", "ollama", "--device", "cpu")
    assert r.exit_code == 2 and "--device is for the in-process engine" in r.stderr
    assert "Ollama" not in r.stderr
