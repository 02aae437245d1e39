"""The in-process transformers engine on a tiny random-weight model loaded through from_pretrained."""

from __future__ import annotations

import pytest

from oculo import Options, Request, open_engine
from oculo.engines import ImagePart, validate_output
from oculo.engines.local import TransformersEngine
from oculo.errors import EngineError, ModelNotFound
from oculo.testing import make_image

from .conftest import BOUNDED_SCHEMA

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(tiny_qwen):
    # Exact fp32: the batched, left-padded path (int8, the CPU default, runs requests one at a time).
    return TransformersEngine(str(tiny_qwen), batch_size=8, dtype="float32")


def _part(w, h, seed=0):
    return ImagePart(make_image(w, h, seed=seed), f"{w}x{h}.png")


def test_reply_has_text_and_stats(engine):
    reply = engine.generate([Request.simple("What is this?", [_part(64, 48)], options=Options(max_tokens=12))])[0]
    assert reply.error is None and reply.engine == "transformers"
    s = reply.stats
    assert s.generated_tokens and 0 < s.generated_tokens <= 12
    assert s.prompt_tokens > 10  # the image alone expands to several tokens
    assert s.total_s > 0 and s.ttft_s is not None and 0 < s.ttft_s <= s.total_s
    assert reply.finish_reason in {"stop", "length"}


def test_batch_equals_one_by_one_under_greedy(engine):
    # Different image sizes and prompt lengths force real left padding inside the batch.
    reqs = [
        Request.simple("Describe.", [_part(64, 48, 1)], options=Options(max_tokens=16)),
        Request.simple("What colours are in this picture, and what shapes?", [_part(120, 90, 2)],
                       options=Options(max_tokens=16)),
        Request.simple("Two images: same?", [_part(56, 56, 3), _part(90, 60, 4)], options=Options(max_tokens=16)),
        Request.simple("No image here, just text.", options=Options(max_tokens=16)),
    ]
    batched = engine.generate(reqs)
    alone = [engine.generate([r])[0] for r in reqs]
    assert [b.text for b in batched] == [a.text for a in alone]
    assert [b.stats.generated_tokens for b in batched] == [a.stats.generated_tokens for a in alone]
    assert [b.stats.prompt_tokens for b in batched] == [a.stats.prompt_tokens for a in alone]
    assert len({b.stats.prompt_tokens for b in batched}) > 1  # the batch really was ragged


def test_schema_constrained_output_validates_even_with_random_weights(engine):
    reqs = [Request.simple("Fill the form.", [_part(64 + 8 * i, 48, i)], schema=BOUNDED_SCHEMA,
                           options=Options(max_tokens=80)) for i in range(3)]
    for reply in engine.generate(reqs):
        assert reply.error is None, reply.text
        assert set(reply.data) == {"label", "count", "ok", "kind"}
        assert validate_output(reply.text, BOUNDED_SCHEMA) == reply.data
        assert list(reply.data) == ["label", "count", "ok", "kind"]  # schema order kept, not sorted


def test_schema_batch_equals_one_by_one(engine):
    reqs = [Request.simple(p, [_part(64, 48, i)], schema=BOUNDED_SCHEMA, options=Options(max_tokens=80))
            for i, p in enumerate(["a", "a longer prompt than the first"])]
    assert [r.text for r in engine.generate(reqs)] == [engine.generate([r])[0].text for r in reqs]


def test_mixed_batch_groups_by_settings(engine):
    reqs = [Request.simple("x", [_part(64, 48)], options=Options(max_tokens=4)),
            Request.simple("x", [_part(64, 48)], schema=BOUNDED_SCHEMA, options=Options(max_tokens=80)),
            Request.simple("x", [_part(64, 48)], options=Options(max_tokens=9))]
    replies = engine.generate(reqs)
    assert replies[0].stats.generated_tokens <= 4 and replies[2].stats.generated_tokens <= 9
    assert replies[1].data is not None and replies[0].data is None


def test_streaming_matches_plain_generation(engine):
    req = Request.simple("Stream me.", [_part(64, 48)], options=Options(max_tokens=20))
    chunks = list(engine.stream(req))
    final = chunks[-1].reply
    assert final is not None and "".join(c.text for c in chunks) == final.text
    assert final.text == engine.generate([req])[0].text
    assert final.stats.ttft_s is not None


def test_stop_strings_cut_the_text(engine):
    full = engine.generate([Request.simple("go", options=Options(max_tokens=30))])[0].text
    assert len(full) > 3
    stop = full[2:4]
    cut = engine.generate([Request.simple("go", options=Options(max_tokens=30, stop=[stop]))])[0].text
    assert stop not in cut and full.startswith(cut)


def test_sampling_with_a_seed_is_reproducible(engine):
    req = Request.simple("go", options=Options(max_tokens=12, temperature=1.0, seed=123))
    assert engine.generate([req])[0].text == engine.generate([req])[0].text


def test_load_time_is_charged_once(tiny_qwen):
    eng = TransformersEngine(str(tiny_qwen))
    first = eng.generate([Request.simple("a", options=Options(max_tokens=2))])[0]
    second = eng.generate([Request.simple("a", options=Options(max_tokens=2))])[0]
    assert first.stats.load_s > 0 and second.stats.load_s == 0


def test_missing_model_says_how_to_get_it_without_touching_the_network(tmp_path, monkeypatch):
    # A missing model downloads on first use unless that is off (tests/test_first_run.py covers the download).
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("OCULO_NO_DOWNLOAD", "1")
    eng = open_engine("transformers", "no-such-org/no-such-model-xyz")
    with pytest.raises(ModelNotFound) as ei:
        eng.capabilities()
    msg = str(ei.value)
    assert "\n" not in msg and "`oculo pull no-such-org/no-such-model-xyz --engine transformers`" in msg


def test_remote_code_needs_the_explicit_flag(tmp_path):
    import json

    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "custom-vlm", "auto_map": {"AutoConfig": "configuration_custom.CustomConfig"}}))
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({
        "auto_map": {"AutoProcessor": "processing_custom.CustomProcessor"}}))
    eng = TransformersEngine(str(tmp_path))
    eng.capabilities()  # read from the config files: nothing loads (or runs) until the first generate
    with pytest.raises(EngineError) as ei:
        eng.generate([Request.simple("a", options=Options(max_tokens=2))])
    assert "--trust-remote-code" in str(ei.value)


def test_library_ask_with_a_pydantic_model_returns_an_instance(engine, images):
    from pydantic import BaseModel, Field

    import oculo

    class Form(BaseModel):
        label: str = Field(max_length=12)
        count: int = Field(ge=0, le=99)
        ok: bool

    reply = oculo.ask("Fill the form.", [str(images["small"])], engine=engine, schema=Form,
                      options=Options(max_tokens=80))
    assert reply.error is None and isinstance(reply.data, Form)
    assert 0 <= reply.data.count <= 99 and len(reply.data.label) <= 12
