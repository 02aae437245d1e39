"""Tiny InternVL, as the transformers-native "-hf" checkpoints lay it out (Qwen2 decoder, tiled images)."""

from __future__ import annotations

from .common import Parts, qwen2_generation, qwen2_text_config, qwen2_tokenizer, small_vision
from .templates import INTERNVL_CHAT_TEMPLATE

_IMAGE_TOKENS = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}


def build_internvl() -> Parts:
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
    )

    tokenizer = qwen2_tokenizer(
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *_IMAGE_TOKENS.values()],
        INTERNVL_CHAT_TEMPLATE,
        extra_special_tokens=["<|im_start|>"],
        **_IMAGE_TOKENS,  # named: the processor reads tokenizer.start_image_token and friends
    )
    tile, patch, downsample = 56, 14, 0.5  # 4x4 patches per tile, pixel-shuffled to 2x2 = 4 tokens
    image_seq_length = int((tile // patch) ** 2 * downsample**2)
    common = dict(
        size={"height": tile, "width": tile},
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    processor = InternVLProcessor(
        image_processor=GotOcr2ImageProcessor(crop_to_patches=True, min_patches=1, max_patches=4, **common),
        tokenizer=tokenizer,
        video_processor=InternVLVideoProcessor(**common),
        image_seq_length=image_seq_length,
        chat_template=INTERNVL_CHAT_TEMPLATE,
    )
    config = InternVLConfig(
        text_config=qwen2_text_config(
            tokenizer, model_type="qwen2", rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}
        ),
        vision_config=small_vision(tile, patch),
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_seq_length=image_seq_length,
        downsample_ratio=downsample,
        tie_word_embeddings=False,
    )
    return Parts(config, InternVLForConditionalGeneration, processor, qwen2_generation(tokenizer))
