"""Tiny Idefics3 and SmolVLM (its successor): same tokenizer layout, image tiling and model config.

They differ only in SmolVLM's extra ``<video>`` token, its named special tokens, its video
processor and its chat template (which reads a list of parts only).
"""

from __future__ import annotations

from .common import Parts, generation, small_vision, text_config, wrap_tokenizers_backend
from .templates import IDEFICS3_CHAT_TEMPLATE, SMOLVLM_CHAT_TEMPLATE
from .tokenizer import train_byte_level_bpe

_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<end_of_utterance>",
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    *[f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)],
]
_ROW_COL = [t for t in _SPECIALS if t.startswith("<row_")]
_TILE, _PATCH, _SCALE = 32, 8, 2  # vision tower: 4x4 patches per tile -> 2x2 = 4 tokens after pixel shuffle
_IMAGE_SEQ_LEN = (_TILE // _PATCH) ** 2 // _SCALE**2
_IMAGE_SIZES = dict(
    size={"longest_edge": 3 * _TILE},  # at most 3x3 tiles + the global image
    max_image_size={"longest_edge": _TILE},
    image_mean=[0.5, 0.5, 0.5],
    image_std=[0.5, 0.5, 0.5],
)


def _tokenizer(specials: list[str], chat_template: str, **named):
    return wrap_tokenizers_backend(
        train_byte_level_bpe(specials, style="gpt2"),
        chat_template,
        unk_token="<|endoftext|>",
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        **named,
    )


def _parts(tokenizer, processor, config_class, model_class) -> Parts:
    config = config_class(
        text_config=text_config(
            tokenizer, bos="<|im_start|>", eos="<end_of_utterance>", pad="<|im_end|>", tie=False, model_type="llama"
        ),
        vision_config=small_vision(_TILE, _PATCH),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=_SCALE,
        tie_word_embeddings=False,
    )
    gen = generation(tokenizer, bos="<|im_start|>", eos=["<end_of_utterance>"], pad="<|im_end|>")
    return Parts(config, model_class, processor, gen)


def build_idefics3() -> Parts:
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessor,
        Idefics3Processor,
    )

    tokenizer = _tokenizer(
        _SPECIALS,
        IDEFICS3_CHAT_TEMPLATE,
        extra_special_tokens=_ROW_COL + ["<fake_token_around_image>", "<image>", "<global-img>"],
    )
    processor = Idefics3Processor(
        image_processor=Idefics3ImageProcessor(do_image_splitting=True, **_IMAGE_SIZES),
        tokenizer=tokenizer,
        image_seq_len=_IMAGE_SEQ_LEN,
        chat_template=IDEFICS3_CHAT_TEMPLATE,
    )
    return _parts(tokenizer, processor, Idefics3Config, Idefics3ForConditionalGeneration)


def build_smolvlm() -> Parts:
    """SmolVLM / SmolVLM2 (its processor needs the ``num2words`` package)."""
    from transformers import (
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )

    tokenizer = _tokenizer(
        [*_SPECIALS, "<video>"],
        SMOLVLM_CHAT_TEMPLATE,
        extra_special_tokens=_ROW_COL,
        # named, as in the real tokenizer config: the processor reads tokenizer.image_token and friends
        fake_image_token="<fake_token_around_image>",
        image_token="<image>",
        global_image_token="<global-img>",
        end_of_utterance_token="<end_of_utterance>",
        video_token="<video>",
    )
    processor = SmolVLMProcessor(
        image_processor=SmolVLMImageProcessor(do_image_splitting=True, **_IMAGE_SIZES),
        tokenizer=tokenizer,
        video_processor=SmolVLMVideoProcessor(**_IMAGE_SIZES),
        image_seq_len=_IMAGE_SEQ_LEN,
        chat_template=SMOLVLM_CHAT_TEMPLATE,
    )
    return _parts(tokenizer, processor, SmolVLMConfig, SmolVLMForConditionalGeneration)
