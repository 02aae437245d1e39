"""What every tiny-model family builder shares: sizes, the returned ``Parts``, tokenizer and config helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .tokenizer import train_byte_level_bpe

# Shared sizes of the tiny text decoders.
TEXT = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=4096,
)
HEAD_DIM = TEXT["hidden_size"] // TEXT["num_attention_heads"]  # 16 -> rotary half = 8
MODEL_MAX_LENGTH = 4096


@dataclass
class Parts:
    """What an architecture builder returns; ``tiny_model`` instantiates and saves it."""

    config: Any
    model_class: Any
    processor: Any
    generation: dict[str, Any]


def wrap_tokenizers_backend(tokenizer, chat_template: str | None, **special):
    """Wrap a ``tokenizers.Tokenizer`` as the generic transformers fast tokenizer class."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_max_length=MODEL_MAX_LENGTH,
        chat_template=chat_template,
        clean_up_tokenization_spaces=False,
        **special,
    )


def qwen2_tokenizer(specials: list[str], chat_template: str, **special):
    """A ``Qwen2Tokenizer`` (ChatML specials, no BOS) over a freshly trained Qwen2-style BPE.

    Built from vocab and merges rather than wrapped, because that is the class the Qwen2 family's
    real checkpoints load as.
    """
    from transformers import Qwen2Tokenizer

    model = json.loads(train_byte_level_bpe(specials, style="qwen2").to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return Qwen2Tokenizer(
        vocab=dict(model["vocab"]),
        merges=merges,  # type: ignore[arg-type]  # tuples are what the slow tokenizer keeps
        unk_token=None,  # type: ignore[arg-type]  # byte-level BPE has no unknown token
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        **special,
        model_max_length=MODEL_MAX_LENGTH,
        chat_template=chat_template,
        clean_up_tokenization_spaces=False,
    )


def qwen2_text_config(tokenizer, **extra) -> dict[str, Any]:
    """Text config of a Qwen2 decoder with the ChatML specials ``qwen2_tokenizer`` sets up."""
    return text_config(tokenizer, bos="<|endoftext|>", eos="<|im_end|>", pad="<|endoftext|>", tie=False, **extra)


def qwen2_generation(tokenizer) -> dict[str, Any]:
    """Qwen2 chat checkpoints stop on either end token."""
    return generation(tokenizer, bos="<|endoftext|>", eos=["<|im_end|>", "<|endoftext|>"], pad="<|endoftext|>")


def text_config(tokenizer, *, bos: str, eos: str, pad: str, tie: bool, **extra) -> dict[str, Any]:
    """The tiny text decoder's config: shared sizes, the tokenizer's vocabulary and special ids.

    ``extra`` wins over the defaults (Mllama's text vocabulary is one short of the tokenizer's).
    """
    ids = tokenizer.convert_tokens_to_ids
    return {
        **TEXT,
        "vocab_size": len(tokenizer),
        "bos_token_id": ids(bos),
        "eos_token_id": ids(eos),
        "pad_token_id": ids(pad),
        "tie_word_embeddings": tie,
        **extra,
    }


def small_vision(image_size: int, patch_size: int, **extra) -> dict[str, Any]:
    """The one-layer ViT most families' vision towers shrink to; ``extra`` wins over the defaults."""
    return {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": image_size,
        "patch_size": patch_size,
        **extra,
    }


def generation(tokenizer, *, bos: str, eos: str | list[str], pad: str) -> dict[str, Any]:
    """Generation-config ids; a list ``eos`` stays a list, as the real checkpoints write it."""
    ids = tokenizer.convert_tokens_to_ids
    return {
        "bos_token_id": ids(bos),
        "eos_token_id": ids(eos) if isinstance(eos, str) else [ids(t) for t in eos],
        "pad_token_id": ids(pad),
    }
