"""Tiny Llama-decoder families: LLaVA-NeXT (image tokens in the prompt) and Mllama (cross-attention)."""

from __future__ import annotations

from .common import Parts, generation, small_vision, text_config, wrap_tokenizers_backend
from .templates import LLAVA_NEXT_CHAT_TEMPLATE, MLLAMA_CHAT_TEMPLATE
from .tokenizer import train_byte_level_bpe

_LLAVA_SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]


def build_llava_next() -> Parts:
    from transformers import (
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
    )

    tokenizer = wrap_tokenizers_backend(
        train_byte_level_bpe(_LLAVA_SPECIALS, style="gpt2"),
        LLAVA_NEXT_CHAT_TEMPLATE,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens=["<image>"],
        add_bos_token=True,
        add_eos_token=False,
    )
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
        text_config=text_config(tokenizer, bos="<s>", eos="</s>", pad="<pad>", tie=False, model_type="llama"),
        vision_config=small_vision(
            crop, 14, model_type="clip_vision_model", num_hidden_layers=2, projection_dim=32
        ),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        image_grid_pinpoints=pinpoints,
        image_seq_length=(crop // 14) ** 2,
        tie_word_embeddings=False,
    )
    gen = generation(tokenizer, bos="<s>", eos="</s>", pad="<pad>")
    return Parts(config, LlavaNextForConditionalGeneration, processor, gen)


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


def build_mllama() -> Parts:
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
    named = ("<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>")
    tokenizer = wrap_tokenizers_backend(
        trained,
        MLLAMA_CHAT_TEMPLATE,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|finetune_right_pad_id|>",
        extra_special_tokens=[t for t in _MLLAMA_SPECIALS if t not in named],
        image_token="<|image|>",
        add_bos_token=True,
        add_eos_token=False,
    )
    ids = tokenizer.convert_tokens_to_ids
    text_vocab = len(tokenizer) - 1
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
        text_config=text_config(
            tokenizer,
            bos="<|begin_of_text|>",
            eos="<|end_of_text|>",
            pad="<|finetune_right_pad_id|>",
            tie=False,
            cross_attention_layers=[1],  # layer 1 attends to the image (every 5th layer in Llama 3.2 Vision)
            vocab_size=text_vocab,
            rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
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
        tie_word_embeddings=False,  # type: ignore[call-arg]  # passed on to PretrainedConfig
    )
    eos = ["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"]
    gen = generation(tokenizer, bos="<|begin_of_text|>", eos=eos, pad="<|finetune_right_pad_id|>")
    return Parts(config, MllamaForConditionalGeneration, processor, gen)
