"""Every model family oculo runs in-process, end to end through oculo's transformers engine.

Each architecture in ``oculo.testing.ARCHES`` is built as a tiny random-weight model folder, loaded by
``TransformersEngine`` exactly as a real checkpoint would be (AutoProcessor + AutoModelForImageTextToText),
and asked questions through the engine seam: plain answers, ragged batches, schema-constrained JSON,
streaming, system prompts, several images, multi-turn history.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import oculo
from oculo.engines import ImagePart, Message, Options, Request, validate_output
from oculo.engines.local import TransformersEngine
from oculo.errors import EngineError
from oculo.testing import ARCHES, make_image, tiny_model

from .conftest import BOUNDED_SCHEMA

# PaliGemma's processor builds its training labels with np.array(tensor), which numpy 2 warns about.
PALIGEMMA_NUMPY_WARNING = "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings(PALIGEMMA_NUMPY_WARNING)]

# The families oculo's catalog runs with transformers' own (non remote-code) classes.
FAMILIES = {"llava_next", "mllama", "qwen2_vl", "qwen2_5_vl", "paligemma", "idefics3", "smolvlm", "internvl", "gemma3"}

# PaliGemma's processor refuses a prompt without an image (the model is prompted "<image>...<bos>prefix\n").
NEEDS_AN_IMAGE = {"paligemma"}


@pytest.fixture(scope="module", params=ARCHES)
def family(request, tmp_path_factory):
    """One architecture's tiny model, built and loaded once for all the tests of this module."""
    arch = request.param
    if arch == "smolvlm":
        pytest.importorskip("num2words")  # SmolVLM's processor needs it (oculo's `local` extra)
    eng = TransformersEngine(str(tiny_model(arch, tmp_path_factory.mktemp(arch))))
    yield SimpleNamespace(arch=arch, engine=eng)
    eng.close()


@pytest.fixture
def engine(family):
    return family.engine


def _part(w: int, h: int, seed: int = 0) -> ImagePart:
    return ImagePart(make_image(w, h, seed=seed), f"{w}x{h}.png")


def _same(a, b) -> bool:
    return (a.text, a.stats.generated_tokens, a.stats.prompt_tokens, a.finish_reason) == (
        b.text, b.stats.generated_tokens, b.stats.prompt_tokens, b.finish_reason)


def test_every_family_has_a_tiny_model():
    assert FAMILIES <= set(ARCHES)


def test_ask(engine, images):
    reply = oculo.ask("What is in this image?", [str(images["small"])], engine=engine,
                      options=Options(max_tokens=8))
    assert reply.error is None and reply.engine == "transformers"
    assert isinstance(reply.text, str) and reply.text
    assert 0 < reply.stats.generated_tokens <= 8
    assert reply.stats.prompt_tokens > 0
    assert reply.finish_reason in {"stop", "length"}


def test_batch_of_two_image_sizes_equals_one_by_one(engine):
    a = Request.simple("Describe the image.", [_part(64, 48, 1)], options=Options(max_tokens=10))
    b = Request.simple("What colours are in this picture, and what shapes?", [_part(120, 90, 2)],
                       options=Options(max_tokens=10))
    batched = engine.generate([a, b])
    alone = [engine.generate([a])[0], engine.generate([b])[0]]
    assert all(r.error is None for r in batched + alone)
    assert _same(batched[0], alone[0]) and _same(batched[1], alone[1])
    assert batched[0].stats.prompt_tokens != batched[1].stats.prompt_tokens  # the batch was really padded


def test_schema_constrained_output_validates(engine):
    reqs = [Request.simple("Fill the form.", [_part(64 + 16 * i, 48, i)], schema=BOUNDED_SCHEMA,
                           options=Options(max_tokens=80)) for i in range(2)]
    for reply in engine.generate(reqs):
        assert reply.error is None, reply.text
        assert validate_output(reply.text, BOUNDED_SCHEMA) == reply.data
        assert list(reply.data) == ["label", "count", "ok", "kind"]


def test_streaming_equals_the_final_reply(engine):
    req = Request.simple("Stream a caption.", [_part(64, 48, 5)], options=Options(max_tokens=12))
    chunks = list(engine.stream(req))
    final = chunks[-1].reply
    assert final is not None and final.error is None
    assert "".join(c.text for c in chunks) == final.text
    assert final.text == engine.generate([req])[0].text
    assert final.stats.generated_tokens > 0 and final.stats.prompt_tokens > 0


def test_system_prompt_with_an_image_reaches_the_model(engine):
    # Llama 3.2 Vision's template refuses a system message next to an image: the engine folds it into
    # the user turn. Either way the system text must be in the prompt, never dropped.
    plain = Request.simple("Describe.", [_part(64, 48)], options=Options(max_tokens=4))
    with_system = Request.simple("Describe.", [_part(64, 48)], system="Answer in one short sentence.",
                                 options=Options(max_tokens=4))
    replies = engine.generate([plain, with_system])
    assert all(r.error is None for r in replies)
    assert replies[1].stats.prompt_tokens > replies[0].stats.prompt_tokens


def test_system_prompt_is_rendered_as_text(family):
    # Templates read content differently: Llama 3.2 Vision trims a system message as a string (a list of
    # parts would print as a Python repr), SmolVLM reads parts only. The engine finds the form that works.
    processor = family.engine._load().processor
    reqs = [Request.simple("Say hello.", system="Answer in one short sentence."),
            Request.simple("Describe.", [_part(64, 48)], system="Answer in one short sentence.")]
    for req in reqs[1:] if family.arch in NEEDS_AN_IMAGE else reqs:
        prompt = family.engine._render(processor, req)
        assert "Answer in one short sentence." in prompt and req.messages[-1].text in prompt
        assert "'type'" not in prompt


def test_two_images_in_one_request(engine):
    one = Request.simple("Compare.", [_part(64, 48, 1)], options=Options(max_tokens=4))
    two = Request.simple("Compare.", [_part(64, 48, 1), _part(90, 60, 2)], options=Options(max_tokens=4))
    r_one, r_two = engine.generate([one])[0], engine.generate([two])[0]
    assert r_two.error is None and r_two.stats.generated_tokens > 0
    assert r_two.stats.prompt_tokens > r_one.stats.prompt_tokens


def test_multi_turn_history(engine):
    req = Request([
        Message("user", "Hello."),
        Message("assistant", "Hi! Send me a picture."),
        Message("user", "Here it is: what is in it?", [_part(64, 48, 3)]),
    ], Options(max_tokens=4))
    reply = engine.generate([req])[0]
    assert reply.error is None and reply.stats.generated_tokens > 0


def test_text_only_prompt(family):
    engine = family.engine
    req = Request.simple("Say hello.", options=Options(max_tokens=4))
    if family.arch in NEEDS_AN_IMAGE:
        with pytest.raises(EngineError, match="need an image"):
            engine.generate([req])
        return
    reply = engine.generate([req])[0]
    assert reply.error is None and reply.stats.generated_tokens > 0
