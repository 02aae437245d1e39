"""Tiny Qwen2-VL and Qwen2.5-VL: one tokenizer, processor and text decoder, two vision towers."""

from __future__ import annotations

from typing import Any

from .common import HEAD_DIM, TEXT, Parts, qwen2_generation, qwen2_text_config, qwen2_tokenizer
from .templates import QWEN2_VL_CHAT_TEMPLATE

_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
_PIXELS = dict(min_pixels=56 * 56, max_pixels=224 * 224)
# Both towers cut 14 px patches, 2 frames deep, and merge 2x2 of them into one token.
_PATCHING = dict(patch_size=14, temporal_patch_size=2)
_MERGE = 2


def _tokenizer():
    return qwen2_tokenizer(
        _SPECIALS,
        QWEN2_VL_CHAT_TEMPLATE,
        extra_special_tokens=[t for t in _SPECIALS if t not in ("<|endoftext|>", "<|im_end|>")],
    )


def _processor(tokenizer, processor_class):
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    return processor_class(
        image_processor=Qwen2VLImageProcessor(merge_size=_MERGE, **_PATCHING, **_PIXELS),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(merge_size=_MERGE, **_PATCHING, **_PIXELS),
        chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )


def _parts(config_class, model_class, processor_class, vision_config: dict[str, Any]) -> Parts:
    """Everything but the vision tower is the same in both generations."""
    tokenizer = _tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    config = config_class(
        text_config=qwen2_text_config(
            tokenizer,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
            head_dim=HEAD_DIM,
        ),
        vision_config={**vision_config, **_PATCHING, "spatial_merge_size": _MERGE},
        tie_word_embeddings=False,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    return Parts(config, model_class, _processor(tokenizer, processor_class), qwen2_generation(tokenizer))


def build_qwen2_vl() -> Parts:
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    vision = dict(
        depth=1,
        embed_dim=32,
        hidden_size=TEXT["hidden_size"],  # the merger's output = the text hidden size
        num_heads=2,
        mlp_ratio=2,
    )
    return _parts(Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor, vision)


def build_qwen2_5_vl() -> Parts:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        out_hidden_size=TEXT["hidden_size"],
        num_heads=2,
        window_size=56,  # 2x2 merged patches per window
        fullatt_block_indexes=[1],
        tokens_per_second=2,
    )
    return _parts(Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor, vision)
