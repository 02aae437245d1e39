"""memory.estimate: calibrated against the catalog, monotonic in what costs memory, and exact on a hand-worked case."""

from __future__ import annotations

import pytest

from oculo.models.catalog import find, load_catalog, parse_catalog
from oculo.models.memory import PRECISIONS, estimate

GIB = 1024**3

TOY = """
[[model]]
id = "toy-1b"
name = "Toy"
family = "toy"
params_b = 1.0
vision_params_b = 0.2
hf = "org/toy-1b"
transformers = "native"
arch = "llava"
mem_q4_gb = 1
mem_bf16_gb = 3
layers = 10
{cross}kv_heads = 2
head_dim = 64
context = 8192
max_resolution = [336, 336]
tokens_per_image = 576
strengths = ["photos"]
ocr_rank = 3
ref_tokens_per_s = 100
"""


def toy(cross: int = 0):
    (spec,) = parse_catalog(TOY.format(cross=f"cross_attn_layers = {cross}\n" if cross else ""))
    return spec


@pytest.mark.parametrize("spec", load_catalog(), ids=lambda s: s.id)
def test_q4_at_4k_lands_near_the_catalog_figure(spec):
    est = estimate(spec, precision="q4", context=4096, images=1)
    assert 0.65 * spec.mem_q4_gb <= est.total_gb <= 1.35 * spec.mem_q4_gb, est.explain()


@pytest.mark.parametrize("spec", load_catalog(), ids=lambda s: s.id)
def test_parts_add_up(spec):
    e = estimate(spec)
    assert e.total_gb == pytest.approx(e.weights_gb + e.vision_gb + e.kv_cache_gb + e.overhead_gb)
    assert min(e.weights_gb, e.vision_gb, e.kv_cache_gb, e.overhead_gb) > 0


def test_hand_computed_case():
    # Toy: 0.8B language model, 0.2B encoder, 10 layers x 2 KV heads x 64 dims, 4096-token window, one image.
    e = estimate(toy(), precision="q4", context=4096, images=1)
    weights = 0.8e9 * 0.5625  # 450,000,000 bytes
    vision = 0.2e9 * 2  # encoder stays 16-bit
    kv = 2 * 10 * 2 * 64 * 2 * 4096  # K and V x layers x heads x dims x f16 bytes x tokens = 20,971,520
    overhead = 0.3 * GIB + 0.04 * (weights + vision)
    assert e.weights_gb == pytest.approx(weights / GIB)
    assert e.vision_gb == pytest.approx(vision / GIB)
    assert e.kv_cache_gb == pytest.approx(kv / GIB)
    assert e.overhead_gb == pytest.approx(overhead / GIB)
    assert e.total_gb == pytest.approx(1_227_094_067.2 / GIB)
    assert e.context == 4096 and e.image_tokens == 576


def test_images_beyond_the_window_grow_the_cache():
    # 8 images x 576 tokens + 512 for prompt and reply = 5120 tokens > the 4096 window.
    e = estimate(toy(), context=4096, images=8)
    assert e.context == 5120
    assert e.kv_cache_gb == pytest.approx(2 * 10 * 2 * 64 * 2 * 5120 / GIB)


def test_cross_attention_images_always_cost_memory():
    # 2 of 10 layers cross-attend: 8 self-attention layers hold the window, 2 hold 576 tokens per image.
    e = estimate(toy(cross=2), context=4096, images=1)
    assert e.kv_cache_gb == pytest.approx(2 * 2 * 64 * 2 * (8 * 4096 + 2 * 576) / GIB)
    assert estimate(toy(cross=2), images=2).total_gb > e.total_gb


@pytest.mark.parametrize("spec", load_catalog(), ids=lambda s: s.id)
def test_more_context_costs_more(spec):
    sizes = [c for c in (512, 1024, 2048, 4096, 8192, 16384) if c <= spec.context]
    totals = [estimate(spec, context=c, images=0).total_gb for c in sizes]
    assert totals == sorted(totals) and len(set(totals)) == len(totals)


@pytest.mark.parametrize("spec", load_catalog(), ids=lambda s: s.id)
def test_more_images_never_cost_less_and_overflow_costs_more(spec):
    totals = [estimate(spec, context=2048, images=n).total_gb for n in range(12)]
    assert totals == sorted(totals)
    assert totals[-1] > totals[0]


@pytest.mark.parametrize("spec", load_catalog(), ids=lambda s: s.id)
def test_higher_precision_costs_more(spec):
    t = {p: estimate(spec, precision=p).total_gb for p in PRECISIONS}
    assert t["q4"] < t["q8"] < t["bf16"] < t["fp32"]
    assert t["bf16"] == t["fp16"]


def test_more_image_tokens_cost_more_once_they_overflow():
    spec = find("qwen2-vl-7b")
    assert estimate(spec, image_tokens=16384).total_gb > estimate(spec, image_tokens=1280).total_gb


def test_window_is_capped_at_the_trained_context():
    moondream = find("moondream2")  # 2048-token model: Ollama caps num_ctx there
    assert estimate(moondream, context=8192).total_gb == estimate(moondream, context=2048).total_gb
    assert estimate(moondream).context == 2048


def test_default_is_a_4k_window_with_one_full_resolution_image():
    spec = find("llava-1.6-7b")
    assert estimate(spec) == estimate(spec, precision="q4", context=4096, images=1, image_tokens=spec.tokens_per_image)


def test_explain_is_one_line_with_the_parts():
    e = estimate(find("minicpm-v-2.6"), precision="bf16")
    line = e.explain()
    assert "\n" not in line
    assert "minicpm-v-2.6" in line and "bf16" in line and f"{e.total_gb:.1f} GB" in line and "KV cache" in line


@pytest.mark.parametrize("kwargs", [{"precision": "q3"}, {"images": -1}, {"context": 0}, {"image_tokens": -5}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        estimate(find("moondream2"), **kwargs)
