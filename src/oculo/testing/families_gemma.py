"""Tiny Gemma-decoder families with a SigLIP tower: Gemma 3 and PaliGemma 2."""

from __future__ import annotations

from typing import Any

from .common import HEAD_DIM, TEXT, Parts, generation, small_vision, text_config, wrap_tokenizers_backend
from .templates import GEMMA3_CHAT_TEMPLATE
from .tokenizer import train_byte_level_bpe

_BASE_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>"]
_HALF = [0.5, 0.5, 0.5]


def _tokenizer(specials: list[str], chat_template: str | None, extra_special_tokens):
    return wrap_tokenizers_backend(
        train_byte_level_bpe(specials, style="gpt2"),
        chat_template,
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        extra_special_tokens=extra_special_tokens,
        add_bos_token=True,
        add_eos_token=False,
    )


def _text_config(tokenizer, **extra) -> dict[str, Any]:
    return text_config(
        tokenizer,
        bos="<bos>",
        eos="<eos>",
        pad="<pad>",
        tie=True,
        head_dim=HEAD_DIM,
        query_pre_attn_scalar=HEAD_DIM,
        sliding_window=256,
        **extra,
    )


def _siglip(image_size: int, patch: int) -> dict[str, Any]:
    return small_vision(image_size, patch, model_type="siglip_vision_model", vision_use_head=False)


def build_gemma3() -> Parts:
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessor,
        Gemma3Processor,
    )

    specials = [
        *_BASE_SPECIALS,
        "<start_of_turn>",
        "<end_of_turn>",
        "<start_of_image>",
        "<end_of_image>",
        "<image_soft_token>",
    ]
    tokenizer = _tokenizer(
        specials,
        GEMMA3_CHAT_TEMPLATE,
        {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"},
    )
    ids = tokenizer.convert_tokens_to_ids
    image_size, patch, mm_tokens = 56, 14, 4  # 4x4 SigLIP patches, avg-pooled to 2x2 = 4 soft tokens
    image_processor = Gemma3ImageProcessor(
        size={"height": image_size, "width": image_size},
        image_mean=_HALF,
        image_std=_HALF,
        do_pan_and_scan=False,
    )
    processor = Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=GEMMA3_CHAT_TEMPLATE,
        image_seq_length=mm_tokens,
    )
    config = Gemma3Config(
        text_config=_text_config(tokenizer, layer_types=["sliding_attention", "full_attention"]),
        vision_config=_siglip(image_size, patch),
        mm_tokens_per_image=mm_tokens,
        boi_token_index=ids("<start_of_image>"),
        eoi_token_index=ids("<end_of_image>"),
        image_token_index=ids("<image_soft_token>"),
        tie_word_embeddings=True,
    )
    gen = generation(tokenizer, bos="<bos>", eos=["<eos>", "<end_of_turn>"], pad="<pad>")
    return Parts(config, Gemma3ForConditionalGeneration, processor, gen)


def build_paligemma() -> Parts:
    """PaliGemma 2 layout (Gemma 2 decoder); PaliGemma 1 differs only in using a Gemma decoder."""
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessor,
    )

    # None: the real checkpoints ship no chat template
    tokenizer = _tokenizer([*_BASE_SPECIALS, "<image>"], None, ["<image>"])
    image_size, patch = 28, 14
    image_processor = SiglipImageProcessor(
        size={"height": image_size, "width": image_size},
        image_mean=_HALF,
        image_std=_HALF,
        resample=3,
        image_seq_length=(image_size // patch) ** 2,
    )
    # The processor adds the 1024 <locXXXX> and 128 <segXXX> detection/segmentation tokens to the
    # tokenizer (as in the real vocabulary) and turns its BOS off: it writes "<image>...<bos>" itself.
    # So every vocabulary size below is read after it exists.
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)
    config = PaliGemmaConfig(
        text_config=_text_config(tokenizer, model_type="gemma2"),
        vision_config=_siglip(image_size, patch),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vocab_size=len(tokenizer),
        projection_dim=TEXT["hidden_size"],
        hidden_size=TEXT["hidden_size"],
        tie_word_embeddings=True,
    )
    gen = generation(tokenizer, bos="<bos>", eos="<eos>", pad="<pad>")
    return Parts(config, PaliGemmaForConditionalGeneration, processor, gen)
