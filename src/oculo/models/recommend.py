"""Which catalog model to run for a task on a machine with a given amount of GPU (or unified) memory.

A fixed decision tree by memory class, so the advice is predictable and easy to argue with:

    under 4 GB   Moondream 2 (PaliGemma 2 3B, SmolVLM as alternatives); nothing this small reads dense text
    4 to 8 GB    MiniCPM-V 2.6 for documents, OCR, UI and charts; LLaVA 1.6 7B for photos;
                 Qwen2-VL 7B for multilingual text (and runner-up for OCR)
    8 to 16 GB   Llama 3.2 Vision 11B for almost everything; Qwen2-VL 7B for multilingual text
    16 to 64 GB  LLaVA 1.6 13B for complex scenes, InternVL 2.5 8B for UI and charts, Llama 3.2 Vision 11B
                 otherwise (Qwen2-VL 7B for multilingual text)
    64 GB up     Llama 3.2 Vision 90B, Qwen2-VL 72B runner-up (and the pick for multilingual text)
    video        Llama 3.2 Vision 11B for quality, LLaVA 1.6 7B for speed (prefer="speed")
    no GPU       SmolVLM 500M, which answers in seconds on a few CPU cores (the memory is then system RAM)

The tree's pick is always returned; `fits` then says whether it fits in full, by the catalog's one memory
figure (mem_q4_gb: Q4, a 4k window, one image), the same number `oculo models` shows. When it does not, the
reason says so and the first alternative is one that does: the 4 GB band's edge sits below what its models need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .catalog import ModelSpec, find

__all__ = ["TASKS", "PREFERENCES", "Recommendation", "recommend", "need_gb"]

TASKS = ("general", "ocr", "documents", "ui", "charts", "multilingual", "video")
PREFERENCES = ("quality", "speed")

# Video-trained models for the runner-up slot: biggest first, the newer generation before the older.
_VIDEO_LADDER = ("qwen2.5-vl-72b", "qwen2-vl-72b", "qwen2.5-vl-32b", "qwen2.5-vl-7b", "qwen2-vl-7b", "qwen2.5-vl-3b")
# When a pick does not fit: the best general models first, the smallest last.
_FALLBACK_LADDER = ("qwen2.5-vl-7b", "minicpm-v-2.6", "llava-1.6-7b", "gemma3-4b", "qwen2.5-vl-3b", "paligemma2-3b",
                    "smolvlm-2.2b", "moondream2", "smolvlm-500m", "smolvlm-256m")


@dataclass
class Recommendation:
    id: str
    reason: str
    runner_up: str | None
    runner_up_reason: str | None
    alternatives: list[str]
    fits: bool
    spec: ModelSpec
    memory_gb: float = 0.0  # the pick's estimated need at Q4
    task: str = "general"
    vram_gb: float = 0.0
    device: str = "gpu"  # "cpu": no GPU, vram_gb is system RAM and the pick favours speed on CPU cores
    prefer: str = "quality"


def need_gb(spec: ModelSpec) -> float:
    """The one memory figure per model (the catalog's mem_q4_gb: Q4, a 4k window, one image).

    `oculo models` shows it and recommend() checks fit with it, so the two never disagree; memory.estimate()
    is for other windows, precisions and image counts.
    """
    return spec.mem_q4_gb


def _spec(model_id: str) -> ModelSpec:
    spec = find(model_id)
    if spec is None or spec.id != model_id:  # the tree names ids only; a miss is a catalog/tree mismatch
        raise LookupError(f"recommend's tree names {model_id!r}, which is not a catalog id")
    return spec


def _gb(x: float) -> str:
    # Rounded up, so a model that misses by 30 MB never reads "needs 8.0 GB, more than 8 GB".
    return f"{math.ceil(x * 10) / 10:.1f}"


def _name(model_id: str) -> str:
    return _spec(model_id).name


def _fits(model_id: str, vram: float) -> bool:
    return need_gb(_spec(model_id)) <= vram


@dataclass
class _Pick:
    id: str
    reason: str
    runner_up: str | None
    runner_up_reason: str | None
    alternatives: list[str]


def _tiny(task: str) -> _Pick:
    alts = ["smolvlm-2.2b", "smolvlm-500m", "smolvlm-256m"]
    runner = ("PaliGemma 2 3B reads short text better and captions in many languages, but it answers task "
              "prompts ('caption en', 'ocr', 'answer en ...') rather than free chat, and has no Ollama tag.")
    if task in ("ocr", "documents"):
        return _Pick(
            "moondream2",
            "No model under 4 GB is good at dense OCR or full pages: Moondream 2 is named because it is the most "
            "capable small general model, and it copes only with short, large text (signs, labels, headings). "
            "With about 3.5 GB free, Qwen2.5-VL 3B reads text far better; for real documents plan for 6 GB "
            "(MiniCPM-V 2.6).",
            "paligemma2-3b", runner, ["qwen2.5-vl-3b", *alts])
    extra = {
        "ui": " Small screen text and dense layouts are beyond it, so keep screenshots zoomed to the part you ask"
              " about.",
        "charts": " It can say what a chart shows in broad strokes, but misreads small labels and exact values.",
        "multilingual": " It answers in English; PaliGemma 2 captions and reads text in many languages.",
    }.get(task, "")
    return _Pick(
        "moondream2",
        "Moondream 2 is the most capable general vision model for under 4 GB: quick, reliable captions and "
        "answers about photos, one image per request, ready in Ollama (`moondream`)." + extra,
        "paligemma2-3b", runner, alts)


def _six(task: str) -> _Pick:
    qwen_ocr = ("Qwen2-VL 7B has the highest OCR accuracy at this size (level with MiniCPM-V 2.6, ahead on small "
                "print at high resolution), but has no official Ollama tag: run it in-process or through llama.cpp.")
    if task in ("ocr", "documents"):
        return _Pick(
            "minicpm-v-2.6",
            "MiniCPM-V 2.6 reads documents best at this size: it sees up to about 1.8 MP (1344x1344) in only 640 "
            "tokens, so pages stay sharp and the cache small, takes up to 4 pages per request, and is ready in "
            "Ollama (`minicpm-v`).",
            "qwen2-vl-7b", qwen_ocr, ["qwen2.5-vl-7b", "qwen2.5-vl-3b", "llava-1.6-7b"])
    if task == "multilingual":
        return _Pick(
            "qwen2-vl-7b",
            "Qwen2-VL 7B reads and answers in many languages (European, CJK, Arabic, ...) and is the strongest "
            "multilingual OCR model at this size. It has no official Ollama tag: run it in-process or through "
            "llama.cpp.",
            "minicpm-v-2.6", "MiniCPM-V 2.6 is multilingual too, and ready in Ollama (`minicpm-v`).",
            ["qwen2.5-vl-7b", "gemma3-4b"])
    if task in ("ui", "charts"):
        what = "screenshots" if task == "ui" else "charts"
        return _Pick(
            "minicpm-v-2.6",
            f"MiniCPM-V 2.6 keeps the small text in {what} legible: it slices images of up to about 1.8 MP into "
            "640 tokens, and is ready in Ollama (`minicpm-v`).",
            "qwen2-vl-7b", f"Qwen2-VL 7B is strong on {what} too and has the highest OCR accuracy at this size; "
            "it has no official Ollama tag.",
            ["qwen2.5-vl-7b", "qwen2.5-vl-3b"])
    return _Pick(
        "llava-1.6-7b",
        "LLaVA 1.6 7B is a proven describer of everyday photos at this size, up to 672x672, ready in Ollama "
        "(`llava:7b`).",
        "minicpm-v-2.6", "MiniCPM-V 2.6 is about as good on photos, reads any text in them better, and takes up to "
        "4 images per request.",
        ["qwen2.5-vl-7b", "gemma3-4b", "moondream2"])


_LLAMA_11B = ("Llama 3.2 Vision 11B is a strong all-rounder: it sees up to 1120x1120, reads text and "
              "charts well, and runs natively in Ollama (`llama3.2-vision`). It takes one image per request and "
              "serves one request at a time.")
_MULTILINGUAL_7B = ("Meta supports only English for Llama 3.2 Vision's image tasks, so for text in other languages "
                    "Qwen2-VL 7B is the better pick: it was trained on multilingual OCR and answers in the "
                    "document's language. It has no official Ollama tag: run it in-process or through llama.cpp.")


def _llama_runner(task: str) -> tuple[str, str, list[str]]:
    if task == "ocr":
        why = "Qwen2-VL 7B has the highest OCR accuracy at this size (OCRBench about 845), with no official Ollama tag."
        return "qwen2-vl-7b", why, ["minicpm-v-2.6", "qwen2.5-vl-7b"]
    if task == "documents":
        why = ("MiniCPM-V 2.6 reads pages about as accurately in far fewer tokens, and takes up to 4 pages per "
               "request where Llama takes one.")
        return "minicpm-v-2.6", why, ["qwen2-vl-7b", "qwen2.5-vl-7b"]
    if task in ("ui", "charts"):
        why = ("InternVL 2.5 8B is trained heavily on charts, diagrams and screenshots; it needs --trust-remote-code "
               "in-process and has no official Ollama tag.")
        return "internvl2.5-8b", why, ["minicpm-v-2.6", "qwen2.5-vl-7b"]
    why = "MiniCPM-V 2.6 is lighter and quicker, and takes up to 4 images per request where Llama takes one."
    return "minicpm-v-2.6", why, ["qwen2.5-vl-7b", "gemma3-12b"]


def _twelve(task: str) -> _Pick:
    if task == "multilingual":
        return _Pick("qwen2-vl-7b", _MULTILINGUAL_7B, "llama3.2-vision-11b",
                     "Llama 3.2 Vision 11B is the stronger all-rounder for English text and photos.",
                     ["qwen2.5-vl-7b", "minicpm-v-2.6", "gemma3-12b"])
    runner, why, alts = _llama_runner(task)
    return _Pick("llama3.2-vision-11b", _LLAMA_11B, runner, why, alts)


def _sixteen(task: str) -> _Pick:
    if task == "general":
        return _Pick(
            "llava-1.6-13b",
            "LLaVA 1.6 13B gives the richest descriptions of complex, busy scenes of the photo-tuned models, "
            "and is ready in Ollama (`llava:13b`).",
            "llama3.2-vision-11b", "Llama 3.2 Vision 11B is better when the picture also holds text or charts, and "
            "sees up to 1120x1120.",
            ["qwen2.5-vl-32b", "gemma3-27b", "minicpm-v-2.6"])
    if task in ("ui", "charts"):
        what = "screenshots and UI" if task == "ui" else "charts and diagrams"
        return _Pick(
            "internvl2.5-8b",
            f"InternVL 2.5 8B is trained heavily on {what} and sees up to 12 tiles of 448x448 (about 2.4 MP), so "
            "small labels stay readable. It has no official Ollama tag: run it in-process with "
            "--trust-remote-code.",
            "llama3.2-vision-11b", f"Llama 3.2 Vision 11B is nearly as good on {what} and ready in Ollama.",
            ["qwen2.5-vl-32b", "qwen2.5-vl-7b", "minicpm-v-2.6"])
    if task == "multilingual":
        return _Pick("qwen2-vl-7b", _MULTILINGUAL_7B, "llama3.2-vision-11b",
                     "Llama 3.2 Vision 11B is the stronger all-rounder for English text and photos.",
                     ["qwen2.5-vl-32b", "qwen2.5-vl-7b", "gemma3-27b"])
    runner, why, alts = _llama_runner(task)
    return _Pick("llama3.2-vision-11b", _LLAMA_11B, runner, why, ["qwen2.5-vl-32b", *alts])


def _sixty_four(task: str) -> _Pick:
    if task == "multilingual":
        return _Pick(
            "qwen2-vl-72b",
            "Meta supports only English for Llama 3.2 Vision's image tasks, so for text in other languages "
            "Qwen2-VL 72B is the pick at this size: multilingual OCR and answers in the document's language. It "
            "has no official Ollama tag; its successor Qwen2.5-VL 72B (`qwen2.5vl:72b`) has one.",
            "llama3.2-vision-90b", "Llama 3.2 Vision 90B is the stronger all-rounder for English.",
            ["qwen2.5-vl-72b", "qwen2.5-vl-32b"])
    return _Pick(
        "llama3.2-vision-90b",
        "Llama 3.2 Vision 90B is the most capable all-rounder in the catalog: photos, "
        "documents and charts up to 1120x1120, ready in Ollama (`llama3.2-vision:90b`). It takes one image per "
        "request and serves one request at a time.",
        "qwen2-vl-72b", "Qwen2-VL 72B is about as capable, better at dense and multilingual text, and takes up to "
        "8 images per request; it has no official Ollama tag (Qwen2.5-VL 72B, `qwen2.5vl:72b`, does).",
        ["qwen2.5-vl-72b", "qwen2.5-vl-32b", "gemma3-27b"])


def _tree(vram: float, task: str) -> _Pick:
    if vram < 4:
        return _tiny(task)
    if vram < 8:
        return _six(task)
    if vram < 16:
        return _twelve(task)
    if vram < 64:
        return _sixteen(task)
    return _sixty_four(task)


def _largest_video_model(vram: float, exclude: str) -> list[str]:
    return [m for m in _VIDEO_LADDER if m != exclude and _fits(m, vram)][:1]


def _video(vram: float, prefer: str) -> _Pick:
    """The guide's video picks: Llama 3.2 Vision 11B for quality, LLaVA 1.6 7B for speed, on sampled frames."""
    llama, llava = _spec("llama3.2-vision-11b"), _spec("llava-1.6-7b")
    qwen = _largest_video_model(vram, "")
    qwen_why = (f"{_name(qwen[0])} is trained on video and takes many frames in one request, with time-aware "
                "positions; through oculo it sees the same sampled frames.") if qwen else None
    speeds = (f"about {llava.ref_tokens_per_s:g} tokens/s against {llama.ref_tokens_per_s:g} for Llama 3.2 Vision "
              "11B on the same card")
    if prefer == "quality" and _fits(llama.id, vram):
        return _Pick(
            llama.id,
            "For video, Llama 3.2 Vision 11B describes sampled frames most accurately at this size: it sees up to "
            "1120x1120 and reads on-screen text. Through Ollama it takes one frame per request (several "
            "in-process), so oculo describes frames one at a time and joins them into a timeline.",
            llava.id, f"LLaVA 1.6 7B is quicker per frame ({speeds}): use --prefer speed for long videos.",
            qwen)
    if _fits(llava.id, vram):
        why = ("For video with speed first, LLaVA 1.6 7B gets through many frames quickly "
               f"({speeds}), one frame per request, ready in Ollama (`llava:7b`)."
               if prefer == "speed" else
               "For video, Llama 3.2 Vision 11B is the quality pick but needs "
               f"{_gb(need_gb(llama))} GB; LLaVA 1.6 7B fits and describes frames well, one per request.")
        runner_why = ("Llama 3.2 Vision 11B is more accurate on each frame, and reads on-screen text "
                      "(--prefer quality).")
        return _Pick(llava.id, why, llama.id, runner_why, [*qwen, "moondream2"])
    base = _tiny("general")
    base.reason = ("For video, the guide's picks (Llama 3.2 Vision 11B for quality, LLaVA 1.6 7B for speed) need "
                   f"{_gb(need_gb(llama))} and {_gb(need_gb(llava))} GB. Sample a few frames and ask about them one "
                   "at a time: " + base.reason)
    if qwen_why and qwen[0] not in (base.id, base.runner_up):
        base.alternatives = [*qwen, *base.alternatives]
    return base


def _cpu(task: str, cores: int | None) -> _Pick:
    """No GPU: generation on CPU is bound by memory bandwidth and cores, so size decides speed before quality."""
    on = f"{cores} CPU cores" if cores else "the CPU"
    small = _spec("smolvlm-500m")
    reason = (f"No GPU found, so this plans for {on} and system RAM. On CPU every generated token reads all the "
              f"weights, so a 7B model answers in minutes where SmolVLM 500M ({small.params_b:g}B parameters) "
              "answers in seconds; it reads documents as well as photos, and is oculo's in-process default, so "
              "nothing else needs to run.")
    if task in ("ocr", "documents", "ui", "charts"):
        return _Pick(small.id, reason, "qwen2.5-vl-3b",
                     "Qwen2.5-VL 3B reads small and dense text far better, but has about seven times the "
                     "parameters, so it is that much slower on CPU.",
                     ["smolvlm-2.2b", "moondream2", "smolvlm-256m"])
    return _Pick(small.id, reason, "moondream2",
                 "Moondream 2 (1.9B) gives richer photo descriptions and runs through Ollama (`moondream`); "
                 "expect a few times longer per answer on CPU.",
                 ["smolvlm-256m", "smolvlm-2.2b"])


def recommend(vram_gb: float, task: str = "general", *, prefer: str = "quality", cpu: bool = False,
              cores: int | None = None) -> Recommendation:
    """The model to run for `task` with `vram_gb` GB of GPU (or unified) memory, with reasons in plain words.

    `prefer` ("quality" or "speed") chooses between the guide's two video picks; it applies to video only.
    `cpu=True` says there is no GPU: `vram_gb` is then the RAM a model may use and `cores` the CPU cores.
    """
    if isinstance(vram_gb, bool) or not isinstance(vram_gb, (int, float)):
        raise TypeError(f"vram_gb must be a number of GB, got {vram_gb!r}")
    if not math.isfinite(vram_gb) or vram_gb <= 0:
        raise ValueError(f"vram_gb must be a positive number of GB, got {vram_gb}")
    key = task.strip().lower() if isinstance(task, str) else task
    if key not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    if prefer not in PREFERENCES:
        raise ValueError(f"unknown preference {prefer!r}; choose one of: {', '.join(PREFERENCES)}")
    if prefer != "quality" and key != "video":
        raise ValueError("a speed preference applies to the video task only (its two picks differ in speed)")

    if cpu:
        pick = _cpu(key, cores)
    elif key == "video":
        pick = _video(vram_gb, prefer)
    else:
        pick = _tree(vram_gb, key)
    spec = _spec(pick.id)
    need = need_gb(spec)
    fits = need <= vram_gb
    alternatives = [a for a in dict.fromkeys(pick.alternatives) if a not in (pick.id, pick.runner_up)]
    reason = f"{pick.reason} Needs about {_gb(need)} GB at Q4 with a 4k window"
    reason += f", which fits in {vram_gb:g} GB." if fits else "."
    if not fits:
        fallback = next((m for m in (pick.runner_up, *alternatives, *_FALLBACK_LADDER)
                         if m and m != pick.id and _fits(m, vram_gb)), None)
        reason += (f" That is more than {vram_gb:g} GB, so it does not fit entirely: the runtime (Ollama, llama.cpp) "
                   "keeps the rest on the CPU, which is several times slower." if not cpu else
                   f" That is more than the {vram_gb:g} GB of RAM free for a model.")
        if fallback:
            reason += f" {_name(fallback)} fits in full (about {_gb(need_gb(_spec(fallback)))} GB)."
            if fallback != pick.runner_up:
                alternatives = [fallback, *(a for a in alternatives if a != fallback)]
        else:
            reason += " No model in the catalog fits in full; expect CPU speed."
    runner_reason = pick.runner_up_reason
    if pick.runner_up and runner_reason and not _fits(pick.runner_up, vram_gb):
        runner_reason += f" It needs about {_gb(need_gb(_spec(pick.runner_up)))} GB, more than {vram_gb:g} GB."
    return Recommendation(
        id=pick.id, reason=reason, runner_up=pick.runner_up, runner_up_reason=runner_reason,
        alternatives=alternatives, fits=fits, spec=spec, memory_gb=need, task=key, vram_gb=float(vram_gb),
        device="cpu" if cpu else "gpu", prefer=prefer,
    )

