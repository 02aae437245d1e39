"""End to end with real parts: the CLI, `oculo serve` over real HTTP, the official clients.

Most CLI runs here are in process (conftest.oculo); the few marked "a real process" start `python -m oculo`
the way a user does: a cold model load, a real stdin pipe, a one-line error on a real stderr.

The model is a tiny random-weight qwen2_vl built on the spot and loaded through from_pretrained, so the
text is meaningless; what is asserted is the plumbing, the stats, and schema-valid structured output.
"""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest

from .conftest import BOUNDED_SCHEMA, cli_env, oculo

pytestmark = pytest.mark.slow


def oculo_process(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None, timeout: int = 300):
    return subprocess.run([sys.executable, "-m", "oculo", *args], input=stdin, capture_output=True,
                          env=env or cli_env(), timeout=timeout)


def _json(proc) -> dict:
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("schema") / "schema.json"
    p.write_text(json.dumps(BOUNDED_SCHEMA))
    return p


def _check_reply(out: dict, engine: str) -> None:
    assert out["engine"] == engine and out["error"] is None
    s = out["stats"]
    assert s["generated_tokens"] and s["generated_tokens"] > 0
    assert s["prompt_tokens"] and s["prompt_tokens"] > 0
    assert s["total_s"] > 0 and s["ttft_s"] is not None


def test_cli_ask_in_process(tiny_qwen, images):  # a real process: the model loads cold
    out = _json(oculo_process("ask", "hi", str(images["small"]), "--engine", "transformers", "-m", str(tiny_qwen),
                      "--json", "--max-tokens", "12"))
    _check_reply(out, "transformers")
    assert out["stats"]["load_s"] > 0 and out["stats"]["tokens_per_s"] > 0


def test_cli_ask_in_process_with_schema_and_stdin_image(tiny_qwen, images, schema_file):  # a real process
    out = _json(oculo_process("ask", "fill it", "-", "--engine", "transformers", "-m", str(tiny_qwen), "--json",
                      "--schema", str(schema_file), "--max-tokens", "80", stdin=images["wide"].read_bytes()))
    jsonschema.validate(out["data"], BOUNDED_SCHEMA)
    assert json.loads(out["text"]) == out["data"]


def test_cli_describe_several_images_in_one_batch(tiny_qwen, images):
    proc = oculo("describe", str(images["small"]), str(images["wide"]), str(images["tall"]),
                 "--engine", "transformers", "-m", str(tiny_qwen), "--json", "--max-tokens", "8")
    assert proc.returncode == 0, proc.stderr.decode()
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(rows) == 3 and all(r["stats"]["generated_tokens"] for r in rows)


def test_cli_streams_plain_text_when_asked(tiny_qwen, images):
    proc = oculo("ask", "hi", str(images["small"]), "--engine", "transformers", "-m", str(tiny_qwen),
                 "--stream", "--max-tokens", "10")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().endswith("\n") and len(proc.stdout) > 1


def test_cli_via_ollama_engine_to_oculo_serve(served, images, schema_file):
    host = served.removeprefix("http://")
    env = cli_env(OLLAMA_HOST=host)
    out = _json(oculo("ask", "hi", str(images["small"]), "--engine", "ollama", "-m", "tiny", "--json",
                      "--max-tokens", "12", env=env))
    _check_reply(out, "ollama")
    out = _json(oculo("ask", "fill it", str(images["tall"]), "--engine", "ollama", "-m", "tiny", "--json",
                      "--schema", str(schema_file), "--max-tokens", "80", env=env))
    jsonschema.validate(out["data"], BOUNDED_SCHEMA)


def test_cli_auto_engine_picks_reachable_ollama(served, images):
    env = cli_env(OLLAMA_HOST=served.removeprefix("http://"))
    out = _json(oculo("ask", "hi", str(images["small"]), "--json", "--max-tokens", "4", env=env))
    assert out["engine"] == "ollama" and out["model"] == "tiny:latest"  # the pulled vision model it found


def test_cli_via_openai_engine_to_oculo_serve(served, images, schema_file):
    base = ["--engine", "openai", "--base-url", served + "/v1"]
    out = _json(oculo("ask", "hi", str(images["small"]), *base, "--json", "--max-tokens", "12"))
    _check_reply(out, "openai")
    assert out["model"] == "tiny"  # the first model the server lists
    out = _json(oculo("ask", "fill it", str(images["wide"]), *base, "-m", "tiny", "--json",
                      "--schema", str(schema_file), "--max-tokens", "80"))
    jsonschema.validate(out["data"], BOUNDED_SCHEMA)


def test_unpulled_model_through_ollama_says_how_to_pull(served, images):  # a real process: all of stderr
    proc = oculo_process("ask", "hi", str(images["small"]), "--engine", "ollama", "-m", "llava:13b",
                 env=cli_env(OLLAMA_HOST=served.removeprefix("http://")))
    err = proc.stderr.decode().strip()
    assert proc.returncode == 1 and err.count("\n") == 0 and "ollama pull llava:13b" in err


def test_official_ollama_client_with_image_path_and_schema(served, images):
    import ollama

    client = ollama.Client(host=served)
    resp = client.chat(model="tiny", messages=[{"role": "user", "content": "Fill the form.",
                                                "images": [str(images["small"])]}],
                       format=BOUNDED_SCHEMA, options={"num_predict": 80, "temperature": 0})
    data = json.loads(resp.message.content)
    jsonschema.validate(data, BOUNDED_SCHEMA)
    assert resp.done and resp.eval_count > 0 and resp.prompt_eval_count > 0
    assert "vision" in client.show("tiny").capabilities


def test_official_ollama_client_streams(served, images):
    import ollama

    parts = list(ollama.Client(host=served).chat(
        model="tiny", messages=[{"role": "user", "content": "hi", "images": [str(images["wide"])]}],
        stream=True, options={"num_predict": 10}))
    assert parts[-1].done and not any(p.done for p in parts[:-1])
    assert parts[-1].eval_count > 0


def test_official_openai_client_with_data_uri_and_json_schema(served, images):
    import base64

    import openai

    client = openai.OpenAI(base_url=served + "/v1", api_key="unused", max_retries=0)
    uri = "data:image/png;base64," + base64.b64encode(images["tall"].read_bytes()).decode()
    resp = client.chat.completions.create(
        model="tiny", max_tokens=80, temperature=0,
        messages=[{"role": "user", "content": [{"type": "text", "text": "Fill the form."},
                                               {"type": "image_url", "image_url": {"url": uri}}]}],
        response_format={"type": "json_schema", "json_schema": {"name": "form", "schema": BOUNDED_SCHEMA}},
    )
    jsonschema.validate(json.loads(resp.choices[0].message.content), BOUNDED_SCHEMA)
    assert resp.usage.completion_tokens > 0 and resp.usage.prompt_tokens > 0
    assert [m.id for m in client.models.list().data] == ["tiny"]


def test_same_answer_in_process_and_through_the_server(served, tiny_qwen, images):
    args = ("ask", "hi", str(images["small"]), "--json", "--max-tokens", "12", "--temperature", "0")
    direct = _json(oculo(*args, "--engine", "transformers", "-m", str(tiny_qwen)))
    via = _json(oculo(*args, "--engine", "ollama", "-m", "tiny",
                      env=cli_env(OLLAMA_HOST=served.removeprefix("http://"))))
    # PNG encoding on the wire is lossless and the tiny image needs no resize, so greedy output matches.
    assert via["text"] == direct["text"]


def test_concurrent_requests_are_batched_and_answer_as_if_alone(served, images):
    from concurrent.futures import ThreadPoolExecutor

    import ollama

    client = ollama.Client(host=served)

    def ask(name: str) -> str:
        r = client.chat(model="tiny", messages=[{"role": "user", "content": f"about {name}",
                                                 "images": [str(images[name])]}],
                        options={"num_predict": 12, "temperature": 0}, stream=False)
        return r.message.content

    names = ["small", "wide", "tall", "small", "wide", "tall"]
    alone = [ask(n) for n in names]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(ask, names))
    assert together == alone
