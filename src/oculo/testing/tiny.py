"""Tiny random-weight vision-language models, built locally for tests.

``tiny_model(arch, out_dir)`` writes a complete Hugging Face model folder (config, safetensors
weights, generation config, a byte-level BPE tokenizer trained on the spot, the architecture's real
image processor / processor classes and a chat template) that loads through the same path real
users take::

    processor = AutoProcessor.from_pretrained(out_dir)
    model = AutoModelForImageTextToText.from_pretrained(out_dir)

Nothing is downloaded. Weights are random (seeded), so the models produce gibberish, but every code
path (chat template, image-token expansion, vision tower, generation, decoding, grammar-constrained
decoding over a byte-level vocabulary) is real.

Usage notes that hold for real checkpoints of these architectures too:

* For a batch, pass one list of images per prompt (``images=[[img_a], [img_b]]``), the form every
  processor here accepts; Gemma 3's, Mllama's and SmolVLM's reject a flat list for several prompts.
* Gemma 3's and Mllama's chat templates write the BOS token themselves and their tokenizers add one
  too (SmolVLM/Idefics3 templates start with their BOS token as well): when calling
  ``processor(text=...)`` on a rendered template that starts with the BOS token, pass
  ``add_special_tokens=False`` (``apply_chat_template(tokenize=True)`` does the same).
* Chat templates differ in the content shape they read: Mllama's (Llama 3.2 Vision) reads a system
  message's content as a string and refuses a system message when the conversation has images;
  SmolVLM's reads a list of parts only; PaliGemma ships no chat template at all (the prompt is
  ``<image>`` x N plus a task prefix; its processor adds ``<bos>`` and the closing newline, returns
  the ``token_type_ids`` the model needs for its bidirectional prefix, plus training ``labels`` that
  must not be passed to ``generate``, and refuses a prompt without an image).
* Mllama cross-attends to its images: the prompt keeps one ``<|image|>`` per image (no expansion),
  and the processor adds ``cross_attention_mask``, ``aspect_ratio_ids`` and ``aspect_ratio_mask``.
  InternVL expands each ``<IMG_CONTEXT>`` to ``<img>`` + one block of context tokens per tile +
  ``</img>``.
* Everything is float32; batched left-padded greedy generation gives the same tokens per row as
  running each prompt alone, with both the default ``sdpa`` and ``eager`` attention.
* The model's vocabulary size equals ``len(tokenizer)`` (real checkpoints often pad it), except
  Mllama's, whose ``<|image|>`` token is the one id past the text vocabulary, as in Llama 3.2 Vision.
  PaliGemma's vocabulary includes the 1024 ``<locXXXX>`` and 128 ``<segXXX>`` detection tokens.
* SmolVLM's processor needs the ``num2words`` package.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .common import Parts
from .families_gemma import build_gemma3, build_paligemma
from .families_idefics import build_idefics3, build_smolvlm
from .families_internvl import build_internvl
from .families_llama import build_llava_next, build_mllama
from .families_qwen import build_qwen2_5_vl, build_qwen2_vl

__all__ = ["ARCHES", "tiny_model"]

_BUILDERS: dict[str, Callable[[], Parts]] = {
    "qwen2_vl": build_qwen2_vl,
    "qwen2_5_vl": build_qwen2_5_vl,
    "llava_next": build_llava_next,
    "idefics3": build_idefics3,
    "gemma3": build_gemma3,
    "mllama": build_mllama,
    "paligemma": build_paligemma,
    "internvl": build_internvl,
    "smolvlm": build_smolvlm,
}

# Derived, so the public list and the builders cannot drift apart.
ARCHES: tuple[str, ...] = tuple(_BUILDERS)


def tiny_model(arch: str, out_dir: str | Path, *, seed: int = 0, terse: bool = False) -> Path:
    """Build a tiny random-weight model of architecture ``arch`` into ``out_dir`` and return its path.

    The folder loads with ``AutoProcessor.from_pretrained`` and
    ``AutoModelForImageTextToText.from_pretrained``. The same ``(arch, seed)`` always writes the same
    files (weights included). ``arch`` must be one of :data:`ARCHES`, else ``ValueError``. The
    returned path is absolute. Torch's global RNG state is left untouched.

    ``terse=True`` writes a generation config that favours the characters closing JSON values (quote,
    bracket, brace, then comma), so a schema-constrained answer ends within a few hundred tokens even for a
    long schema (a chart, a bug report). Weights stay random and the grammar is the real one: it only makes
    the random walk through the schema short, where an unbiased one can run past any token budget.
    """
    if arch not in _BUILDERS:
        raise ValueError(f"unknown tiny-model arch {arch!r}; choose one of: {', '.join(ARCHES)}")
    import torch
    from transformers import GenerationConfig
    from transformers.utils import logging as hf_logging

    out = Path(out_dir).absolute()
    out.mkdir(parents=True, exist_ok=True)

    parts = _BUILDERS[arch]()
    parts.config.dtype = "float32"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = parts.model_class(parts.config).to(torch.float32).eval()
    generation = dict(parts.generation)
    if terse:
        tok = getattr(parts.processor, "tokenizer", parts.processor)
        ids = {ch: tok.convert_tokens_to_ids(ch) for ch in '"]},'}
        missing = [ch for ch, i in ids.items() if i is None or i == tok.unk_token_id]
        if missing:
            raise ValueError(f"the {arch} tiny tokenizer has no single token for {missing}; terse needs them")
        generation["sequence_bias"] = [[[ids[ch]], 6.0 if ch == "," else 12.0] for ch in '"]},']
    model.generation_config = GenerationConfig(**generation)

    bars_were_disabled = hf_logging.is_progress_bar_enabled() is False
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out)
        parts.processor.save_pretrained(out)
    finally:
        if not bars_were_disabled:
            hf_logging.enable_progress_bar()
    return out
