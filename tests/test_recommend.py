"""recommend(): each line of the decision tree, its boundaries, and the fit invariant over a grid."""

from __future__ import annotations

import pytest

from oculo.models.catalog import find, load_catalog
from oculo.models.recommend import TASKS, need_gb, recommend


@pytest.mark.parametrize("vram, task, model_id, runner_up", [
    # under 4 GB
    (3, "general", "moondream2", "paligemma2-3b"),
    (3, "ocr", "moondream2", "paligemma2-3b"),
    (3, "documents", "moondream2", "paligemma2-3b"),
    # about 6 GB
    (6, "ocr", "minicpm-v-2.6", "qwen2-vl-7b"),
    (6, "documents", "minicpm-v-2.6", "qwen2-vl-7b"),
    (6, "general", "llava-1.6-7b", "minicpm-v-2.6"),
    (6, "multilingual", "qwen2-vl-7b", "minicpm-v-2.6"),
    # 8 to 16 GB
    (12, "general", "llama3.2-vision-11b", "minicpm-v-2.6"),
    (12, "ocr", "llama3.2-vision-11b", "qwen2-vl-7b"),
    (12, "documents", "llama3.2-vision-11b", "minicpm-v-2.6"),
    (12, "ui", "llama3.2-vision-11b", "internvl2.5-8b"),
    (12, "charts", "llama3.2-vision-11b", "internvl2.5-8b"),
    (12, "multilingual", "qwen2-vl-7b", "llama3.2-vision-11b"),
    # 16 to 64 GB
    (20, "general", "llava-1.6-13b", "llama3.2-vision-11b"),
    (20, "ui", "internvl2.5-8b", "llama3.2-vision-11b"),
    (20, "charts", "internvl2.5-8b", "llama3.2-vision-11b"),
    (20, "ocr", "llama3.2-vision-11b", "qwen2-vl-7b"),
    (20, "documents", "llama3.2-vision-11b", "minicpm-v-2.6"),
    # 64 GB and more
    (80, "general", "llama3.2-vision-90b", "qwen2-vl-72b"),
    (80, "ocr", "llama3.2-vision-90b", "qwen2-vl-72b"),
    (80, "multilingual", "qwen2-vl-72b", "llama3.2-vision-90b"),
])
def test_tree(vram, task, model_id, runner_up):
    rec = recommend(vram, task)
    assert (rec.id, rec.runner_up) == (model_id, runner_up)
    assert rec.fits
    assert rec.spec.id == model_id and rec.task == task


def test_default_task_is_general():
    assert recommend(2).id == "moondream2"
    assert recommend(12).id == "llama3.2-vision-11b"
    assert recommend(80).id == "llama3.2-vision-90b"


def test_tiny_ocr_warns_that_nothing_fits_for_dense_text():
    rec = recommend(3, "ocr")
    assert rec.id == "moondream2"
    assert "dense OCR" in rec.reason
    assert rec.alternatives[0] == "qwen2.5-vl-3b"


def test_six_gb_ocr_runner_up_is_the_most_accurate_reader():
    assert "highest OCR accuracy" in recommend(6, "ocr").runner_up_reason


def test_multilingual_explains_why_not_llama():
    assert "English" in recommend(12, "multilingual").reason


@pytest.mark.parametrize("vram, model_id", [
    (3.9, "moondream2"), (4, "llava-1.6-7b"), (7.9, "llava-1.6-7b"), (8, "llama3.2-vision-11b"),
    (15.9, "llama3.2-vision-11b"), (16, "llava-1.6-13b"), (63.9, "llava-1.6-13b"), (64, "llama3.2-vision-90b"),
])
def test_boundaries_general(vram, model_id):
    assert recommend(vram).id == model_id


@pytest.mark.parametrize("vram, model_id", [
    (3.9, "moondream2"), (4, "minicpm-v-2.6"), (7.9, "minicpm-v-2.6"), (8, "llama3.2-vision-11b"),
    (16, "llama3.2-vision-11b"), (63.9, "llama3.2-vision-11b"), (64, "llama3.2-vision-90b"),
])
def test_boundaries_ocr(vram, model_id):
    assert recommend(vram, "ocr").id == model_id


@pytest.mark.parametrize("vram, model_id", [(15.9, "llama3.2-vision-11b"), (16, "internvl2.5-8b"),
                                             (63.9, "internvl2.5-8b"), (64, "llama3.2-vision-90b")])
def test_boundaries_ui(vram, model_id):
    assert recommend(vram, "ui").id == model_id


@pytest.mark.parametrize("vram, model_id", [
    (2, "moondream2"), (8, "llama3.2-vision-11b"), (16, "llava-1.6-13b"), (64, "llama3.2-vision-90b"),
])
def test_the_guides_thresholds_fit_by_the_one_memory_figure(vram, model_id):
    # The guide: Moondream 2 at 2 GB, Llama 3.2 Vision 11B at Q4 in 8 GB, LLaVA 1.6 13B from 16 GB,
    # Llama 3.2 Vision 90B at 64 GB; each must fit by the same figure the catalog and `oculo models` show.
    rec = recommend(vram)
    assert rec.id == model_id and rec.fits
    assert rec.memory_gb == find(model_id).mem_q4_gb <= vram
    assert f"fits in {vram:g} GB" in rec.reason


def test_sixty_four_gb_runner_up_is_qwen2_vl_72b_which_fits_too():
    rec = recommend(64)
    assert rec.runner_up == "qwen2-vl-72b" and need_gb(find("qwen2-vl-72b")) <= 64


@pytest.mark.parametrize("vram", [8, 12, 24, 80])
def test_video_quality_is_llama_11b_and_speed_is_llava_7b(vram):
    quality, speed = recommend(vram, "video"), recommend(vram, "video", prefer="speed")
    assert (quality.id, quality.runner_up) == ("llama3.2-vision-11b", "llava-1.6-7b")
    assert (speed.id, speed.runner_up) == ("llava-1.6-7b", "llama3.2-vision-11b")
    assert quality.fits and speed.fits and quality.prefer == "quality" and speed.prefer == "speed"
    # The speed pick is quicker by the catalog's own speed figures, and its reason quotes them.
    assert speed.spec.ref_tokens_per_s > quality.spec.ref_tokens_per_s
    assert f"{speed.spec.ref_tokens_per_s:g} tokens/s" in speed.reason
    # A video-trained Qwen that fits is offered as an alternative.
    assert any(a.startswith("qwen") and need_gb(find(a)) <= vram for a in quality.alternatives)


def test_video_below_llamas_memory_takes_llava_7b_and_says_why():
    rec = recommend(6, "video")
    assert rec.id == "llava-1.6-7b" and rec.fits and "Llama 3.2 Vision 11B is the quality pick" in rec.reason


def test_video_where_neither_guide_pick_fits_says_so():
    rec = recommend(3, "video")
    assert rec.id == "moondream2" and rec.fits
    assert "guide's picks" in rec.reason and "one at a time" in rec.reason


@pytest.mark.parametrize("task", [t for t in TASKS if t != "video"])
def test_a_speed_preference_outside_video_is_refused(task):
    with pytest.raises(ValueError, match="video"):
        recommend(12, task, prefer="speed")
    with pytest.raises(ValueError, match="quality, speed"):
        recommend(12, "video", prefer="cheap")


@pytest.mark.parametrize("task", TASKS)
def test_no_gpu_picks_a_small_model_that_answers_in_seconds_on_cpu(task):
    rec = recommend(5.5, task, cpu=True, cores=2)
    assert rec.device == "cpu" and rec.fits
    assert "No GPU found" in rec.reason and "2 CPU cores" in rec.reason and "seconds" in rec.reason
    # Speed on CPU follows size: the pick is one of the smallest models, far from the 13B the GPU tree gives.
    assert rec.spec.params_b < 1 < recommend(5.5, task).spec.params_b
    assert rec.runner_up_reason


def test_cpu_ocr_names_the_better_but_slower_reader():
    rec = recommend(16, "ocr", cpu=True, cores=2)
    assert rec.runner_up == "qwen2.5-vl-3b" and "slower" in rec.runner_up_reason
    assert find("qwen2.5-vl-3b").params_b > rec.spec.params_b


def test_lower_band_edges_flag_a_pick_that_does_not_fit_and_name_one_that_does():
    # The tree's 4 GB edge sits below what its models need; the pick stands, flagged, and one that fits is named.
    for vram, task in [(4, "ocr"), (4, "general"), (1.5, "general")]:
        rec = recommend(vram, task)
        assert not rec.fits
        assert "does not fit entirely" in rec.reason
        fallback = find(rec.runner_up) if need_gb(find(rec.runner_up)) <= vram else find(rec.alternatives[0])
        assert need_gb(fallback) <= vram
        assert fallback.name in rec.reason


GRID = [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 3.9, 4, 4.5, 5, 5.5, 6, 7, 7.9, 8, 8.5, 10, 12, 15.9, 16, 20, 24, 32, 40,
        48, 63.9, 64, 80, 96, 128, 192]


@pytest.mark.parametrize("vram", GRID)
@pytest.mark.parametrize("task", TASKS)
def test_invariants(vram, task):
    ids = {s.id for s in load_catalog()}
    rec = recommend(vram, task)
    assert rec.id in ids and rec.spec.id == rec.id
    assert rec.runner_up is None or rec.runner_up in ids
    assert all(a in ids for a in rec.alternatives)
    assert len(set(rec.alternatives)) == len(rec.alternatives)
    assert rec.id not in rec.alternatives and rec.id != rec.runner_up
    assert rec.reason and (rec.runner_up is None or rec.runner_up_reason)
    # `fits` is the memory check, at Q4 with a 4k window and one image.
    assert rec.fits == (need_gb(rec.spec) <= vram)
    assert rec.memory_gb == pytest.approx(need_gb(rec.spec))
    if not rec.fits:
        assert "does not fit entirely" in rec.reason
        smallest = min(need_gb(s) for s in load_catalog())
        if vram >= smallest:  # something fits: the reason names it, first in line after the runner-up
            named = [m for m in (rec.runner_up, *rec.alternatives) if m and need_gb(find(m)) <= vram]
            assert named and find(named[0]).name in rec.reason


# Typical cards, and each band's top: the tree's pick must fit in full there.
@pytest.mark.parametrize("vram", [3, 3.9, 6, 7.9, 10, 12, 15.9, 16, 24, 48, 63.9, 64, 80])
@pytest.mark.parametrize("task", TASKS)
def test_picks_fit_on_typical_cards(vram, task):
    assert recommend(vram, task).fits


@pytest.mark.parametrize("vram", [0, -1, -0.5, float("nan"), float("inf")])
def test_bad_memory(vram):
    with pytest.raises(ValueError):
        recommend(vram)


def test_unknown_task_lists_the_choices():
    with pytest.raises(ValueError) as e:
        recommend(8, "poetry")
    for t in TASKS:
        assert t in str(e.value)


def test_task_is_case_insensitive():
    assert recommend(6, " OCR ").id == "minicpm-v-2.6"
