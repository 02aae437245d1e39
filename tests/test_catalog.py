"""The catalog: shipped data validates, holds the required models and facts, and `find` resolves every naming."""

from __future__ import annotations

import zipfile
from importlib import resources
from pathlib import Path

import pytest

from oculo.models.catalog import (
    STRENGTHS,
    CatalogError,
    find,
    load_catalog,
    ollama_tag_for,
    parse_catalog,
)

REQUIRED = {
    "moondream2", "llava-1.6-7b", "llava-1.6-13b", "minicpm-v-2.6", "llama3.2-vision-11b", "llama3.2-vision-90b",
    "internvl2.5-8b", "qwen2-vl-7b", "qwen2-vl-72b", "qwen2.5-vl-3b", "qwen2.5-vl-7b", "qwen2.5-vl-32b",
    "qwen2.5-vl-72b", "paligemma2-3b", "smolvlm-2.2b", "smolvlm-256m", "smolvlm-500m", "gemma3-4b", "gemma3-12b",
    "gemma3-27b", "granite3.2-vision-2b",
}


def spec(model_id: str):
    s = find(model_id)
    assert s is not None and s.id == model_id
    return s


def test_catalog_loads_and_holds_the_required_models():
    ids = [s.id for s in load_catalog()]
    assert len(ids) == len(set(ids))
    assert REQUIRED <= set(ids)
    assert load_catalog() is load_catalog()  # cached


def test_catalog_ships_next_to_the_module():
    assert resources.files("oculo.models").joinpath("catalog.toml").is_file()


def test_catalog_toml_is_in_the_wheel(tmp_path):
    builders = pytest.importorskip("hatchling.builders.wheel")
    root = Path(__file__).resolve().parents[1]
    wheel = next(iter(builders.WheelBuilder(str(root)).build(directory=str(tmp_path), versions=["standard"])))
    assert "oculo/models/catalog.toml" in zipfile.ZipFile(wheel).namelist()


@pytest.mark.parametrize("s", load_catalog(), ids=lambda s: s.id)
def test_every_entry_is_coherent(s):
    assert set(s.strengths) <= set(STRENGTHS)
    assert 0 < s.vision_params_b < s.params_b
    assert s.mem_q4_gb < s.mem_bf16_gb
    assert s.ollama or s.hf
    if s.transformers == "native":
        assert s.arch and s.hf
    assert s.limits.max_pixels and s.limits.max_pixels > 0
    assert s.limits.tokens_per_image == s.tokens_per_image


def test_images_per_request_facts():
    assert spec("llava-1.6-7b").limits.images_per_request == 1
    assert spec("llava-1.6-13b").limits.images_per_request == 1
    assert spec("moondream2").limits.images_per_request == 1
    assert spec("minicpm-v-2.6").limits.images_per_request == 4
    assert spec("qwen2-vl-7b").limits.images_per_request == 8
    llama = spec("llama3.2-vision-11b")
    assert llama.limits.images_per_message == 1
    assert llama.ollama_parallel is False and llama.limits.parallel is False
    assert spec("llama3.2-vision-90b").ollama_parallel is False


def test_resolution_facts():
    assert spec("llava-1.6-7b").max_resolution == (672, 672)
    assert spec("llava-1.6-7b").limits.max_pixels == 672 * 672  # no max_pixels: w*h of max_resolution
    assert spec("llama3.2-vision-11b").max_resolution == (1120, 1120)
    assert spec("minicpm-v-2.6").max_resolution == (1792, 1792)
    assert spec("minicpm-v-2.6").limits.max_pixels == 1806336  # max_pixels wins over w*h
    assert 12_000_000 < spec("qwen2-vl-7b").limits.max_pixels < 4096 * 4096 + 1
    assert 900_000 < spec("qwen2.5-vl-7b").limits.max_pixels < 1_100_000  # Ollama's ~1 MP
    assert spec("qwen2.5-vl-3b").limits.min_side == 28
    assert spec("qwen2-vl-7b").limits.min_side == 28


@pytest.mark.parametrize("model_id, gb", [
    ("moondream2", 2), ("llava-1.6-7b", 6), ("llava-1.6-13b", 10), ("minicpm-v-2.6", 6),
    ("llama3.2-vision-11b", 8), ("llama3.2-vision-90b", 55), ("internvl2.5-8b", 8), ("qwen2-vl-7b", 6),
    ("qwen2-vl-72b", 48), ("paligemma2-3b", 3),
])
def test_memory_facts(model_id, gb):
    assert spec(model_id).mem_q4_gb == gb


def test_ocr_rank_order():
    rank = {m: spec(m).ocr_rank for m in ("qwen2-vl-7b", "minicpm-v-2.6", "llama3.2-vision-11b", "llava-1.6-13b",
                                          "llava-1.6-7b", "moondream2")}
    assert rank["qwen2-vl-7b"] == rank["minicpm-v-2.6"]
    assert (rank["minicpm-v-2.6"] < rank["llama3.2-vision-11b"] < rank["llava-1.6-13b"] < rank["llava-1.6-7b"]
            < rank["moondream2"])


def test_transformers_support():
    assert spec("minicpm-v-2.6").transformers == "remote-code"
    assert spec("moondream2").transformers == "remote-code"
    assert spec("qwen2.5-vl-3b").transformers == "native" and spec("qwen2.5-vl-3b").arch == "qwen2_5_vl"
    assert spec("llama3.2-vision-11b").arch == "mllama"
    assert spec("smolvlm-256m").arch == "idefics3"


@pytest.mark.parametrize("model_id, tag, hf", [
    ("moondream2", "moondream", "vikhyatk/moondream2"),
    ("llava-1.6-7b", "llava:7b", "llava-hf/llava-v1.6-mistral-7b-hf"),
    ("llava-1.6-13b", "llava:13b", "llava-hf/llava-v1.6-vicuna-13b-hf"),
    ("minicpm-v-2.6", "minicpm-v", "openbmb/MiniCPM-V-2_6"),
    ("llama3.2-vision-11b", "llama3.2-vision", "meta-llama/Llama-3.2-11B-Vision-Instruct"),
    ("llama3.2-vision-90b", "llama3.2-vision:90b", "meta-llama/Llama-3.2-90B-Vision-Instruct"),
    ("qwen2-vl-7b", None, "Qwen/Qwen2-VL-7B-Instruct"),
    ("qwen2.5-vl-3b", "qwen2.5vl:3b", "Qwen/Qwen2.5-VL-3B-Instruct"),
    ("paligemma2-3b", None, "google/paligemma2-3b-mix-448"),
    ("smolvlm-2.2b", None, "HuggingFaceTB/SmolVLM-Instruct"),
    ("gemma3-4b", "gemma3:4b", "google/gemma-3-4b-it"),
    ("granite3.2-vision-2b", "granite3.2-vision", "ibm-granite/granite-vision-3.2-2b"),
])
def test_tags_and_repos(model_id, tag, hf):
    s = spec(model_id)
    assert (s.ollama, s.hf) == (tag, hf)


@pytest.mark.parametrize("name, model_id", [
    ("qwen2.5-vl-7b", "qwen2.5-vl-7b"),
    ("QWEN2.5-VL-7B", "qwen2.5-vl-7b"),
    ("llava", "llava-1.6-7b"),  # llava:latest is the 7B
    ("llava:latest", "llava-1.6-7b"),
    ("llava:7b", "llava-1.6-7b"),
    ("llava:13b", "llava-1.6-13b"),
    ("moondream", "moondream2"),
    ("moondream:latest", "moondream2"),
    ("llama3.2-vision:latest", "llama3.2-vision-11b"),
    ("llama3.2-vision:90b", "llama3.2-vision-90b"),
    ("qwen2.5vl:7b-q8_0", "qwen2.5-vl-7b"),  # quantization variant of a known size
    ("llava:7b-v1.6-mistral-q4_0", "llava-1.6-7b"),
    ("gemma3:27b-it-qat", "gemma3-27b"),
    ("registry.ollama.ai/library/minicpm-v:latest", "minicpm-v-2.6"),
    ("Qwen/Qwen2-VL-7B-Instruct", "qwen2-vl-7b"),
    ("qwen/qwen2-vl-7b-instruct", "qwen2-vl-7b"),
    ("/models/Qwen2.5-VL-3B-Instruct", "qwen2.5-vl-3b"),  # a local folder named after the repo
    ("Qwen2.5-VL-3B-Instruct", "qwen2.5-vl-3b"),  # the name `oculo serve` publishes
    ("  gemma3:4b ", "gemma3-4b"),
])
def test_find(name, model_id):
    s = find(name)
    assert s is not None and s.id == model_id


@pytest.mark.parametrize("name", ["", "gpt-4o", "gemma3:1b", "llava:34b", "someone/unknown-model", "/tmp/tiny"])
def test_find_unknown_is_none(name):
    assert find(name) is None


def test_image_tokens_scale_with_area():
    lim = spec("qwen2.5-vl-7b").limits
    assert lim.image_tokens() == 1280
    assert lim.image_tokens(lim.max_pixels * 4) == 1280  # never beyond the budget
    assert lim.image_tokens(lim.max_pixels // 4) == 320
    assert lim.image_tokens(1) == 1


GOOD = """
[[model]]
id = "x-1b"
name = "X"
family = "x"
params_b = 1.0
vision_params_b = 0.2
ollama = "x:1b"
hf = "org/x-1b"
transformers = "native"
arch = "llava"
mem_q4_gb = 1
mem_bf16_gb = 3
layers = 10
kv_heads = 2
head_dim = 64
context = 4096
max_resolution = [336, 336]
tokens_per_image = 576
strengths = ["photos"]
ocr_rank = 3
ref_tokens_per_s = 100
"""


def test_a_minimal_entry_parses():
    (s,) = parse_catalog(GOOD)
    assert s.id == "x-1b" and s.limits.max_pixels == 336 * 336 and s.limits.images_per_request is None


@pytest.mark.parametrize("broken, match", [
    (GOOD.replace('["photos"]', '["photos", "selfies"]'), "strengths"),
    (GOOD + GOOD, "appears twice"),
    (GOOD + GOOD.replace('"x-1b"', '"y-1b"').replace('"org/x-1b"', '"org/y-1b"'), "names both"),
    (GOOD.replace("ocr_rank = 3", "ocr_rank = 3\nocr_rnak = 2"), "ocr_rnak"),
    (GOOD.replace('ollama = "x:1b"\n', "").replace('hf = "org/x-1b"\n', "").replace('"native"', '"unsupported"'),
     "Ollama tag or a Hugging Face repo"),
    (GOOD.replace('arch = "llava"\n', ""), "arch"),
    (GOOD.replace("max_resolution = [336, 336]\n", ""), "max_resolution or max_pixels"),
    (GOOD.replace("vision_params_b = 0.2", "vision_params_b = 1.5"), "vision_params_b"),
    (GOOD.replace('"x:1b"', '"X:1B"'), "Ollama tag"),
    (GOOD.replace("mem_bf16_gb = 3", "mem_bf16_gb = 0.5"), "mem_bf16_gb"),
    (GOOD.replace("layers = 10", "layers = 0"), "layers"),
    ("[[model]]\nid = ", "not valid TOML"),
    ("", "no \\[\\[model\\]\\] entries"),
    ("[other]\nx = 1\n", "unknown top-level"),
])
def test_a_broken_catalog_fails_loudly(broken, match):
    with pytest.raises(CatalogError, match=match):
        parse_catalog(broken)


@pytest.mark.parametrize("model_id", ["llama3.2-vision-11b", "llama3.2-vision-90b"])
def test_llama_vision_takes_one_image_through_ollama_and_several_in_process(model_id):
    s = spec(model_id)
    ollama, local = s.limits_for("ollama"), s.limits_for("transformers")
    assert ollama.images_per_request == 1 and ollama.images_per_message == 1
    assert local.images_per_request is None or local.images_per_request > 1
    assert s.limits.images_per_request == 1  # the engine-blind view stays the strictest, safe anywhere
    assert "Ollama" in s.images_why and "in-process" in s.images_why


@pytest.mark.parametrize("s", load_catalog(), ids=lambda s: s.id)
def test_per_engine_limits_never_loosen_the_strictest(s):
    for engine in ("ollama", "transformers"):
        lim = s.limits_for(engine)
        assert lim.max_pixels == s.limits.max_pixels
        strict = s.limits.images_per_request
        assert strict is None or (lim.images_per_request or 10**6) >= strict


@pytest.mark.parametrize("tag, model_id", [
    ("moondream", "moondream2"), ("llava:13b", "llava-1.6-13b"), ("minicpm-v", "minicpm-v-2.6"),
    ("llama3.2-vision", "llama3.2-vision-11b"), ("qwen2.5vl:7b", "qwen2.5-vl-7b"), ("granite3.2-vision", "granite3.2-vision-2b"),
])
def test_ollama_tags_and_catalog_ids_map_both_ways(tag, model_id):
    s = find(tag)
    assert s is not None and (model_id is None or s.id == model_id)
    assert ollama_tag_for(s) == (s.ollama, s) and find(s.ollama) is s


@pytest.mark.parametrize("model_id, instead", [
    ("qwen2-vl-7b", "qwen2.5vl:7b"), ("qwen2-vl-72b", "qwen2.5vl:72b"), ("internvl2.5-8b", "qwen2.5vl:7b"),
    ("paligemma2-3b", "gemma3:4b"), ("smolvlm-500m", "moondream"),
])
def test_a_model_without_an_ollama_build_names_the_tag_to_use_instead(model_id, instead):
    tag, other = ollama_tag_for(spec(model_id))
    assert tag is None and other.ollama == instead


def test_every_model_can_be_pulled_into_ollama_or_names_one_that_can():
    for s in load_catalog():
        tag, other = ollama_tag_for(s)
        assert tag or (other is not None and other.ollama), s.id


@pytest.mark.parametrize("broken, match", [
    (GOOD.replace('hf = "org/x-1b"', 'hf = "org/x-1b"\nollama_instead = "x-1b"'), "ollama_instead is for models"),
    (GOOD.replace('ollama = "x:1b"\n', 'ollama_instead = "nope"\n'), "not a catalog id"),
    (GOOD.replace('hf = "org/x-1b"', 'hf = "org/x-1b"\nollama_images_per_request = 1'), "images_why"),
])
def test_broken_engine_facts_fail_loudly(broken, match):
    with pytest.raises(CatalogError, match=match):
        parse_catalog(broken)
