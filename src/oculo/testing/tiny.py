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

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tokenizer import train_byte_level_bpe

__all__ = ["ARCHES", "tiny_model"]

ARCHES: tuple[str, ...] = (
    "qwen2_vl", "qwen2_5_vl", "llava_next", "idefics3", "gemma3", "mllama", "paligemma", "internvl", "smolvlm",
)

# Shared sizes of the tiny text decoders.
_TEXT = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=4096,
)
_MODEL_MAX_LENGTH = 4096


@dataclass
class _Parts:
    """What an architecture builder returns; ``tiny_model`` instantiates and saves it."""

    config: Any
    model_class: Any
    processor: Any
    generation: dict[str, Any]


# --------------------------------------------------------------------------------------------
# Chat templates (the architectures' real styles; content is a string or a list of parts).
# --------------------------------------------------------------------------------------------

# Qwen2-VL-Instruct's template, verbatim apart from whitespace control.
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Vicuna style, as in llava-hf/llava-v1.6-vicuna-*: "SYSTEM\n\nUSER: <image>\ntext ASSISTANT: reply</s>".
# The BOS token is added by the tokenizer, not by the template.
LLAVA_NEXT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] if part['type'] == 'text' %}{{ part['text'] }}{% endfor %}{% endif %}"
    "{{ '\n\n' }}"
    "{% else %}"
    "{{ message['role'].upper() + ': ' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}"
    "{% for part in message['content'] if part['type'] == 'image' or 'image' in part or 'image_url' in part %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{% for part in message['content'] if part['type'] == 'text' %}"
    "{% if not loop.first %}{{ ' ' }}{% endif %}{{ part['text'] }}{% endfor %}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% else %}{{ ' ' }}{% endif %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

# SmolVLM / Idefics3 style: "<|im_start|>User:<image>text<end_of_utterance>\nAssistant:".
IDEFICS3_CHAT_TEMPLATE = (
    "<|im_start|>"
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}"
    "{% if message['content'] is string %}{{ ': ' + message['content'] }}"
    "{% else %}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in message['content'] %}"
    "{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' or 'image' in line or 'image_url' in line %}{{ '<image>' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "<end_of_utterance>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# Gemma 3 style: system text is folded into the first user turn; "model" is the assistant role.
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% if messages[0]['content'] is string %}{% set first_user_prefix = messages[0]['content'] + '\n\n' %}"
    "{% else %}{% set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' %}{% endif %}"
    "{% set loop_messages = messages[1:] %}"
    "{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{% if message['content'] is string %}{{ message['content'] | trim }}"
    "{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' or 'image' in item or 'image_url' in item %}{{ '<start_of_image>' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] | trim }}{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "{{ '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


# Llama 3.2 Vision Instruct's template (tools branch left out; the date is the template's own fixed
# fallback, so builds stay deterministic). Note the real quirks kept on purpose: the system message's
# content is read as a string (``|trim``), and a system message together with images is refused.
MLLAMA_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- set date_string = '26 Jul 2024' %}"
    "{%- if messages[0]['role'] == 'system' %}"
    "{%- set system_message = messages[0]['content']|trim %}"
    "{%- set messages = messages[1:] %}"
    "{%- else %}{%- set system_message = '' %}{%- endif %}"
    "{%- set image_ns = namespace(has_images=false) %}"
    "{%- for message in messages %}"
    "{%- for content in message['content'] %}"
    "{%- if content['type'] == 'image' %}{%- set image_ns.has_images = true %}{%- endif %}"
    "{%- endfor %}"
    "{%- endfor %}"
    "{%- if image_ns.has_images and not system_message == '' %}"
    "{{- raise_exception('Prompting with images is incompatible with system messages.') }}"
    "{%- endif %}"
    "{%- if not image_ns.has_images %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}"
    "{{- 'Cutting Knowledge Date: December 2023\\n' }}"
    "{{- 'Today Date: ' + date_string + '\\n\\n' }}"
    "{{- system_message }}"
    "{{- '<|eot_id|>' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- else %}"
    "{%- for content in message['content'] %}"
    "{%- if content['type'] == 'image' %}{{- '<|image|>' }}"
    "{%- elif content['type'] == 'text' %}{{- content['text'] }}{%- endif %}"
    "{%- endfor %}"
    "{%- endif %}"
    "{{- '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)

# InternVL (the transformers-native "-hf" checkpoints): ChatML with one <IMG_CONTEXT> line per image.
INTERNVL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\\n' }}"
    "{% elif content['type'] == 'video' %}{{ '<video>\\n' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# SmolVLM(2)-Instruct's template as shipped: content must be a list of parts (a plain string content
# renders as nothing), "<|im_start|>User:<image>text<end_of_utterance>\\nAssistant:".
SMOLVLM_CHAT_TEMPLATE = (
    "<|im_start|>"
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in message['content'] %}"
    "{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}"
    "{% elif line['type'] == 'video' %}{{ '<video>' }}"
    "{% endif %}"
    "{% endfor %}"
    "<end_of_utterance>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# PaliGemma (1 and 2) ships no chat template: it is prompted with a task prefix ("caption en",
# "answer en <question>") and its processor lays the prompt out as "<image>...<bos>prefix\\n".


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _bpe_parts(tokenizer) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """vocab and merges of a trained ``tokenizers.Tokenizer`` (BPE)."""
    model = json.loads(tokenizer.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return dict(model["vocab"]), merges


def _wrap_tokenizers_backend(tokenizer, chat_template: str, **special):
    """Wrap a ``tokenizers.Tokenizer`` as the generic transformers fast tokenizer class."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_max_length=_MODEL_MAX_LENGTH,
        chat_template=chat_template,
        clean_up_tokenization_spaces=False,
        **special,
    )


def _vocab_size(tokenizer) -> int:
    return len(tokenizer)


# --------------------------------------------------------------------------------------------
# Architectures
# --------------------------------------------------------------------------------------------


_QWEN_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]


def _qwen_tokenizer():
    from transformers import Qwen2Tokenizer

    trained = train_byte_level_bpe(_QWEN_SPECIALS, style="qwen2")
    vocab, merges = _bpe_parts(trained)
    return Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=[t for t in _QWEN_SPECIALS if t not in ("<|endoftext|>", "<|im_end|>")],
        model_max_length=_MODEL_MAX_LENGTH,
        chat_template=QWEN2_VL_CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )


_QWEN_PIXELS = dict(min_pixels=56 * 56, max_pixels=224 * 224)


def _qwen_processor(tokenizer, processor_class):
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    image_processor = Qwen2VLImageProcessor(patch_size=14, temporal_patch_size=2, merge_size=2, **_QWEN_PIXELS)
    video_processor = Qwen2VLVideoProcessor(patch_size=14, temporal_patch_size=2, merge_size=2, **_QWEN_PIXELS)
    return processor_class(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )


def _qwen_text_config(tokenizer) -> dict[str, Any]:
    ids = tokenizer.convert_tokens_to_ids
    head_dim = _TEXT["hidden_size"] // _TEXT["num_attention_heads"]  # 16 -> rotary half = 8
    return dict(
        _TEXT,
        vocab_size=_vocab_size(tokenizer),
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
        bos_token_id=ids("<|endoftext|>"),
        eos_token_id=ids("<|im_end|>"),
        pad_token_id=ids("<|endoftext|>"),
        tie_word_embeddings=False,
        head_dim=head_dim,
    )


def _qwen_ids(tokenizer) -> dict[str, int]:
    ids = tokenizer.convert_tokens_to_ids
    return dict(
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )


def _qwen_generation(tokenizer) -> dict[str, Any]:
    ids = tokenizer.convert_tokens_to_ids
    return dict(
        bos_token_id=ids("<|endoftext|>"),
        eos_token_id=[ids("<|im_end|>"), ids("<|endoftext|>")],
        pad_token_id=ids("<|endoftext|>"),
    )


def _build_qwen2_vl() -> _Parts:
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    tokenizer = _qwen_tokenizer()
    config = Qwen2VLConfig(
        text_config=_qwen_text_config(tokenizer),
        vision_config=dict(
            depth=1,
            embed_dim=32,
            hidden_size=_TEXT["hidden_size"],  # the merger's output = the text hidden size
            num_heads=2,
            mlp_ratio=2,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        tie_word_embeddings=False,
        **_qwen_ids(tokenizer),
    )
    return _Parts(
        config,
        Qwen2VLForConditionalGeneration,
        _qwen_processor(tokenizer, Qwen2VLProcessor),
        _qwen_generation(tokenizer),
    )


def _build_qwen2_5_vl() -> _Parts:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    tokenizer = _qwen_tokenizer()
    config = Qwen2_5_VLConfig(
        text_config=_qwen_text_config(tokenizer),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            out_hidden_size=_TEXT["hidden_size"],
            num_heads=2,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=56,  # 2x2 merged patches per window
            fullatt_block_indexes=[1],
            tokens_per_second=2,
        ),
        tie_word_embeddings=False,
        **_qwen_ids(tokenizer),
    )
    return _Parts(
        config,
        Qwen2_5_VLForConditionalGeneration,
        _qwen_processor(tokenizer, Qwen2_5_VLProcessor),
        _qwen_generation(tokenizer),
    )


_LLAMA_SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]


def _build_llava_next() -> _Parts:
    from transformers import (
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
    )

    trained = train_byte_level_bpe(_LLAMA_SPECIALS, style="gpt2")
    tokenizer = _wrap_tokenizers_backend(
        trained,
        LLAVA_NEXT_CHAT_TEMPLATE,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens=["<image>"],
        add_bos_token=True,
        add_eos_token=False,
    )
    ids = tokenizer.convert_tokens_to_ids
    crop = 56  # the CLIP tower's image size: 4x4 patches of 14 px per crop
    pinpoints = [[crop, 2 * crop], [2 * crop, crop], [2 * crop, 2 * crop]]
    image_processor = LlavaNextImageProcessor(
        size={"shortest_edge": crop},
        crop_size={"height": crop, "width": crop},
        image_grid_pinpoints=pinpoints,
    )
    processor = LlavaNextProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        chat_template=LLAVA_NEXT_CHAT_TEMPLATE,
        image_token="<image>",
        num_additional_image_tokens=1,  # CLIP's CLS token
    )
    config = LlavaNextConfig(
        text_config=dict(
            _TEXT,
            model_type="llama",
            vocab_size=_vocab_size(tokenizer),
            bos_token_id=ids("<s>"),
            eos_token_id=ids("</s>"),
            pad_token_id=ids("<pad>"),
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            model_type="clip_vision_model",
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            patch_size=14,
            image_size=crop,
            projection_dim=32,
        ),
        image_token_index=ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        image_grid_pinpoints=pinpoints,
        image_seq_length=(crop // 14) ** 2,
        tie_word_embeddings=False,
    )
    generation = dict(bos_token_id=ids("<s>"), eos_token_id=ids("</s>"), pad_token_id=ids("<pad>"))
    return _Parts(config, LlavaNextForConditionalGeneration, processor, generation)


_IDEFICS3_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<end_of_utterance>",
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    *[f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)],
]


def _build_idefics3() -> _Parts:
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessor,
        Idefics3Processor,
    )

    trained = train_byte_level_bpe(_IDEFICS3_SPECIALS, style="gpt2")
    tokenizer = _wrap_tokenizers_backend(
        trained,
        IDEFICS3_CHAT_TEMPLATE,
        unk_token="<|endoftext|>",
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        extra_special_tokens=[t for t in _IDEFICS3_SPECIALS if t.startswith("<row_")]
        + ["<fake_token_around_image>", "<image>", "<global-img>"],
    )
    ids = tokenizer.convert_tokens_to_ids
    tile, patch, scale = 32, 8, 2  # vision tower: 4x4 patches per tile -> 2x2 = 4 tokens after pixel shuffle
    image_seq_len = (tile // patch) ** 2 // scale**2
    image_processor = Idefics3ImageProcessor(
        size={"longest_edge": 3 * tile},  # at most 3x3 tiles + the global image
        max_image_size={"longest_edge": tile},
        do_image_splitting=True,
    )
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=image_seq_len,
        chat_template=IDEFICS3_CHAT_TEMPLATE,
    )
    config = Idefics3Config(
        text_config=dict(
            _TEXT,
            model_type="llama",
            vocab_size=_vocab_size(tokenizer),
            bos_token_id=ids("<|im_start|>"),
            eos_token_id=ids("<end_of_utterance>"),
            pad_token_id=ids("<|im_end|>"),
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=tile,
            patch_size=patch,
        ),
        image_token_id=ids("<image>"),
        scale_factor=scale,
        tie_word_embeddings=False,
    )
    generation = dict(
        bos_token_id=ids("<|im_start|>"),
        eos_token_id=[ids("<end_of_utterance>")],
        pad_token_id=ids("<|im_end|>"),
    )
    return _Parts(config, Idefics3ForConditionalGeneration, processor, generation)


_GEMMA3_SPECIALS = [
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
]


def _build_gemma3() -> _Parts:
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessor,
        Gemma3Processor,
    )

    trained = train_byte_level_bpe(_GEMMA3_SPECIALS, style="gpt2")
    tokenizer = _wrap_tokenizers_backend(
        trained,
        GEMMA3_CHAT_TEMPLATE,
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        extra_special_tokens={
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "image_token": "<image_soft_token>",
        },
        add_bos_token=True,
        add_eos_token=False,
    )
    ids = tokenizer.convert_tokens_to_ids
    image_size, patch, mm_tokens = 56, 14, 4  # 4x4 SigLIP patches, avg-pooled to 2x2 = 4 soft tokens
    image_processor = Gemma3ImageProcessor(
        size={"height": image_size, "width": image_size},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        do_pan_and_scan=False,
    )
    processor = Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=GEMMA3_CHAT_TEMPLATE,
        image_seq_length=mm_tokens,
    )
    head_dim = _TEXT["hidden_size"] // _TEXT["num_attention_heads"]
    config = Gemma3Config(
        text_config=dict(
            _TEXT,
            vocab_size=_vocab_size(tokenizer),
            head_dim=head_dim,
            query_pre_attn_scalar=head_dim,
            sliding_window=256,
            layer_types=["sliding_attention", "full_attention"],
            bos_token_id=ids("<bos>"),
            eos_token_id=ids("<eos>"),
            pad_token_id=ids("<pad>"),
            tie_word_embeddings=True,
        ),
        vision_config=dict(
            model_type="siglip_vision_model",
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch,
            vision_use_head=False,
        ),
        mm_tokens_per_image=mm_tokens,
        boi_token_index=ids("<start_of_image>"),
        eoi_token_index=ids("<end_of_image>"),
        image_token_index=ids("<image_soft_token>"),
        tie_word_embeddings=True,
    )
    generation = dict(
        bos_token_id=ids("<bos>"),
        eos_token_id=[ids("<eos>"), ids("<end_of_turn>")],
        pad_token_id=ids("<pad>"),
    )
    return _Parts(config, Gemma3ForConditionalGeneration, processor, generation)


_MLLAMA_SPECIALS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|finetune_right_pad_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
]


def _build_mllama() -> _Parts:
    from tokenizers import AddedToken
    from transformers import (
        MllamaConfig,
        MllamaForConditionalGeneration,
        MllamaImageProcessor,
        MllamaProcessor,
    )

    trained = train_byte_level_bpe(_MLLAMA_SPECIALS, style="gpt2")
    # As in the real vocabulary, <|image|> comes last, right past the text vocabulary: the LM head
    # never predicts it (the input embedding has 8 spare rows that hold it).
    trained.add_special_tokens([AddedToken("<|image|>", special=True, normalized=False)])
    tokenizer = _wrap_tokenizers_backend(
        trained,
        MLLAMA_CHAT_TEMPLATE,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|finetune_right_pad_id|>",
        extra_special_tokens=[t for t in _MLLAMA_SPECIALS if t not in ("<|begin_of_text|>", "<|eot_id|>",
                                                                       "<|finetune_right_pad_id|>")],
        image_token="<|image|>",
        add_bos_token=True,
        add_eos_token=False,
    )
    ids = tokenizer.convert_tokens_to_ids
    text_vocab = _vocab_size(tokenizer) - 1
    assert ids("<|image|>") == text_vocab
    # 4x4 patches per tile, up to 4 tiles (8 aspect ratios): a 64x48 image takes 2 tiles, 120x90 takes 4
    tile, patch, max_tiles = 56, 14, 4
    image_processor = MllamaImageProcessor(
        size={"height": tile, "width": tile},
        max_image_tiles=max_tiles,
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
    )
    processor = MllamaProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                chat_template=MLLAMA_CHAT_TEMPLATE)
    vision_hidden, intermediate_layers = 32, [0]
    config = MllamaConfig(
        text_config=dict(
            _TEXT,
            cross_attention_layers=[1],  # layer 1 attends to the image (every 5th layer in Llama 3.2 Vision)
            vocab_size=text_vocab,
            rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
            bos_token_id=ids("<|begin_of_text|>"),
            eos_token_id=ids("<|end_of_text|>"),
            pad_token_id=ids("<|finetune_right_pad_id|>"),
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            hidden_size=vision_hidden,
            intermediate_size=64,
            num_hidden_layers=2,
            num_global_layers=1,
            attention_heads=2,
            image_size=tile,
            patch_size=patch,
            max_num_tiles=max_tiles,
            intermediate_layers_indices=intermediate_layers,
            vision_output_dim=vision_hidden * (len(intermediate_layers) + 1),
        ),
        image_token_index=ids("<|image|>"),
        tie_word_embeddings=False,
    )
    generation = dict(
        bos_token_id=ids("<|begin_of_text|>"),
        eos_token_id=[ids("<|end_of_text|>"), ids("<|eom_id|>"), ids("<|eot_id|>")],
        pad_token_id=ids("<|finetune_right_pad_id|>"),
    )
    return _Parts(config, MllamaForConditionalGeneration, processor, generation)


_PALIGEMMA_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<image>"]


def _build_paligemma() -> _Parts:
    """PaliGemma 2 layout (Gemma 2 decoder); PaliGemma 1 differs only in using a Gemma decoder."""
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessor,
    )

    trained = train_byte_level_bpe(_PALIGEMMA_SPECIALS, style="gpt2")
    tokenizer = _wrap_tokenizers_backend(
        trained,
        None,  # the real checkpoints ship no chat template
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        extra_special_tokens=["<image>"],
        add_bos_token=True,
        add_eos_token=False,
    )
    image_size, patch = 28, 14
    image_seq_length = (image_size // patch) ** 2
    image_processor = SiglipImageProcessor(
        size={"height": image_size, "width": image_size},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        resample=3,
        image_seq_length=image_seq_length,
    )
    # The processor adds the 1024 <locXXXX> and 128 <segXXX> detection/segmentation tokens to the
    # tokenizer (as in the real vocabulary) and turns its BOS off: it writes "<image>...<bos>" itself.
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)
    ids = tokenizer.convert_tokens_to_ids
    head_dim = _TEXT["hidden_size"] // _TEXT["num_attention_heads"]
    config = PaliGemmaConfig(
        text_config=dict(
            _TEXT,
            model_type="gemma2",
            vocab_size=_vocab_size(tokenizer),
            head_dim=head_dim,
            query_pre_attn_scalar=head_dim,
            sliding_window=256,
            bos_token_id=ids("<bos>"),
            eos_token_id=ids("<eos>"),
            pad_token_id=ids("<pad>"),
            tie_word_embeddings=True,
        ),
        vision_config=dict(
            model_type="siglip_vision_model",
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch,
            vision_use_head=False,
        ),
        image_token_index=ids("<image>"),
        vocab_size=_vocab_size(tokenizer),
        projection_dim=_TEXT["hidden_size"],
        hidden_size=_TEXT["hidden_size"],
        tie_word_embeddings=True,
    )
    generation = dict(bos_token_id=ids("<bos>"), eos_token_id=ids("<eos>"), pad_token_id=ids("<pad>"))
    return _Parts(config, PaliGemmaForConditionalGeneration, processor, generation)


_INTERNVL_IMAGE_TOKENS = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}


def _build_internvl() -> _Parts:
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
        Qwen2Tokenizer,
    )

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *_INTERNVL_IMAGE_TOKENS.values()]
    trained = train_byte_level_bpe(specials, style="qwen2")
    vocab, merges = _bpe_parts(trained)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=["<|im_start|>"],
        **_INTERNVL_IMAGE_TOKENS,  # named: the processor reads tokenizer.start_image_token and friends
        model_max_length=_MODEL_MAX_LENGTH,
        chat_template=INTERNVL_CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )
    ids = tokenizer.convert_tokens_to_ids
    tile, patch, downsample = 56, 14, 0.5  # 4x4 patches per tile, pixel-shuffled to 2x2 = 4 tokens
    image_seq_length = int((tile // patch) ** 2 * downsample**2)
    common = dict(
        size={"height": tile, "width": tile},
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    image_processor = GotOcr2ImageProcessor(crop_to_patches=True, min_patches=1, max_patches=4, **common)
    video_processor = InternVLVideoProcessor(**common)
    processor = InternVLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        image_seq_length=image_seq_length,
        chat_template=INTERNVL_CHAT_TEMPLATE,
    )
    config = InternVLConfig(
        text_config=dict(
            _TEXT,
            model_type="qwen2",
            vocab_size=_vocab_size(tokenizer),
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
            bos_token_id=ids("<|endoftext|>"),
            eos_token_id=ids("<|im_end|>"),
            pad_token_id=ids("<|endoftext|>"),
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=tile,
            patch_size=patch,
        ),
        image_token_id=ids("<IMG_CONTEXT>"),
        image_seq_length=image_seq_length,
        downsample_ratio=downsample,
        tie_word_embeddings=False,
    )
    generation = dict(
        bos_token_id=ids("<|endoftext|>"),
        eos_token_id=[ids("<|im_end|>"), ids("<|endoftext|>")],
        pad_token_id=ids("<|endoftext|>"),
    )
    return _Parts(config, InternVLForConditionalGeneration, processor, generation)


def _build_smolvlm() -> _Parts:
    """SmolVLM / SmolVLM2 (its processor needs the ``num2words`` package)."""
    from transformers import (
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )

    specials = [*_IDEFICS3_SPECIALS, "<video>"]
    trained = train_byte_level_bpe(specials, style="gpt2")
    tokenizer = _wrap_tokenizers_backend(
        trained,
        SMOLVLM_CHAT_TEMPLATE,
        unk_token="<|endoftext|>",
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        extra_special_tokens=[t for t in specials if t.startswith("<row_")],
        # named, as in the real tokenizer config: the processor reads tokenizer.image_token and friends
        fake_image_token="<fake_token_around_image>",
        image_token="<image>",
        global_image_token="<global-img>",
        end_of_utterance_token="<end_of_utterance>",
        video_token="<video>",
    )
    ids = tokenizer.convert_tokens_to_ids
    tile, patch, scale = 32, 8, 2  # 4x4 patches per tile -> 2x2 = 4 tokens after pixel shuffle
    image_seq_len = (tile // patch) ** 2 // scale**2
    sizes = dict(size={"longest_edge": 3 * tile}, max_image_size={"longest_edge": tile},
                 image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    image_processor = SmolVLMImageProcessor(do_image_splitting=True, **sizes)
    video_processor = SmolVLMVideoProcessor(**sizes)
    processor = SmolVLMProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        image_seq_len=image_seq_len,
        chat_template=SMOLVLM_CHAT_TEMPLATE,
    )
    config = SmolVLMConfig(
        text_config=dict(
            _TEXT,
            model_type="llama",
            vocab_size=_vocab_size(tokenizer),
            bos_token_id=ids("<|im_start|>"),
            eos_token_id=ids("<end_of_utterance>"),
            pad_token_id=ids("<|im_end|>"),
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=tile,
            patch_size=patch,
        ),
        image_token_id=ids("<image>"),
        scale_factor=scale,
        tie_word_embeddings=False,
    )
    generation = dict(
        bos_token_id=ids("<|im_start|>"),
        eos_token_id=[ids("<end_of_utterance>")],
        pad_token_id=ids("<|im_end|>"),
    )
    return _Parts(config, SmolVLMForConditionalGeneration, processor, generation)


_BUILDERS: dict[str, Callable[[], _Parts]] = {
    "qwen2_vl": _build_qwen2_vl,
    "qwen2_5_vl": _build_qwen2_5_vl,
    "llava_next": _build_llava_next,
    "idefics3": _build_idefics3,
    "gemma3": _build_gemma3,
    "mllama": _build_mllama,
    "paligemma": _build_paligemma,
    "internvl": _build_internvl,
    "smolvlm": _build_smolvlm,
}


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def tiny_model(arch: str, out_dir: str | Path, *, seed: int = 0) -> Path:
    """Build a tiny random-weight model of architecture ``arch`` into ``out_dir`` and return its path.

    The folder loads with ``AutoProcessor.from_pretrained`` and
    ``AutoModelForImageTextToText.from_pretrained``. The same ``(arch, seed)`` always writes the same
    files (weights included). ``arch`` must be one of :data:`ARCHES`, else ``ValueError``. The
    returned path is absolute. Torch's global RNG state is left untouched.
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
    model.generation_config = GenerationConfig(**parts.generation)

    bars_were_disabled = hf_logging.is_progress_bar_enabled() is False
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out)
        parts.processor.save_pretrained(out)
    finally:
        if not bars_were_disabled:
            hf_logging.enable_progress_bar()
    return out
