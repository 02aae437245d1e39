"""How much accelerator memory a catalog model needs: weights, vision encoder, KV cache and runtime overhead.

The model is deliberately simple (and tested against the catalog's published figures): it is for "will it
fit?", not for allocator-exact planning. Sizes are GiB, the unit GPU memory is sold and reported in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .catalog import ModelSpec

__all__ = ["Precision", "PRECISIONS", "MemoryEstimate", "estimate", "DEFAULT_CONTEXT", "TEXT_RESERVE"]

Precision = Literal["q4", "q8", "bf16", "fp16", "fp32"]

# Bytes per language-model parameter. GGUF Q4_0 stores 4.5 bits and Q8_0 8.5 bits per weight once the
# per-block scales are counted; Q4_K_M averages a little more, which the overhead term absorbs.
PRECISIONS: dict[str, float] = {"q4": 0.5625, "q8": 1.0625, "bf16": 2.0, "fp16": 2.0, "fp32": 4.0}

# The window Ollama allocates by default (num_ctx), and what the "4k context" catalog figures assume.
DEFAULT_CONTEXT = 4096
# Room for the prompt text and the reply when images alone would fill the window.
TEXT_RESERVE = 512

GIB = 1024**3
# CUDA context, compute graph buffers and allocator slack: a floor plus a share of what gets loaded.
OVERHEAD_FLOOR_GB = 0.3
OVERHEAD_SHARE = 0.04


@dataclass(frozen=True)
class MemoryEstimate:
    weights_gb: float
    vision_gb: float
    kv_cache_gb: float
    overhead_gb: float
    total_gb: float
    model: str = ""
    precision: str = "q4"
    context: int = DEFAULT_CONTEXT  # tokens the KV cache is sized for (the window, grown to fit the images)
    images: int = 1
    image_tokens: int = 0  # per image

    def explain(self) -> str:
        return (f"{self.model} at {self.precision}, {self.context}-token window, {self.images} image(s) of "
                f"{self.image_tokens} tokens: {self.weights_gb:.1f} GB weights + {self.vision_gb:.1f} GB vision "
                f"encoder + {self.kv_cache_gb:.1f} GB KV cache + {self.overhead_gb:.1f} GB overhead "
                f"= {self.total_gb:.1f} GB")


def estimate(spec: ModelSpec, *, precision: Precision = "q4", context: int | None = None, images: int = 1,
             image_tokens: int | None = None) -> MemoryEstimate:
    """Memory to run `spec` at `precision` with a `context`-token window holding `images` images.

    `context` is the window the runtime allocates up front, as Ollama and llama.cpp do (default 4096, and never
    more than the model was trained for: Ollama caps num_ctx there). Image tokens live inside that window, so
    they add memory only once prompt, images and reply no longer fit in it. Llama 3.2 Vision is the exception:
    its image tokens sit in separate cross-attention caches, so every image adds memory.
    `image_tokens` is per image (default: the model's count at full resolution).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if images < 0:
        raise ValueError("images cannot be negative")
    if context is not None and context <= 0:
        raise ValueError("context must be a positive number of tokens")
    if image_tokens is not None and image_tokens < 0:
        raise ValueError("image_tokens cannot be negative")
    per_image = spec.tokens_per_image if image_tokens is None else image_tokens

    weights = spec.text_params_b * 1e9 * PRECISIONS[precision]
    # GGUF mmproj files and transformers both keep the encoder at 16 bits unless everything is fp32.
    vision_bytes = 4.0 if precision == "fp32" else 2.0
    vision = spec.vision_params_b * 1e9 * vision_bytes

    # llama.cpp and transformers keep the cache in f16/bf16; an fp32 model keeps an fp32 cache.
    kv_bytes = 4.0 if precision == "fp32" else 2.0
    per_token_per_layer = 2 * spec.kv_heads * spec.head_dim * kv_bytes  # K and V
    window = min(context or DEFAULT_CONTEXT, spec.context)
    self_layers = spec.layers - spec.cross_attn_layers
    if spec.cross_attn_layers:
        in_window = images  # one placeholder token each; the pixels go to the cross-attention cache
        cross_tokens = images * per_image
    else:
        in_window = images * per_image
        cross_tokens = 0
    tokens = max(window, in_window + TEXT_RESERVE)
    kv = per_token_per_layer * (self_layers * tokens + spec.cross_attn_layers * cross_tokens)

    overhead = OVERHEAD_FLOOR_GB * GIB + OVERHEAD_SHARE * (weights + vision)
    total = weights + vision + kv + overhead
    return MemoryEstimate(
        weights_gb=weights / GIB,
        vision_gb=vision / GIB,
        kv_cache_gb=kv / GIB,
        overhead_gb=overhead / GIB,
        total_gb=total / GIB,
        model=spec.id,
        precision=precision,
        context=tokens,
        images=images,
        image_tokens=per_image,
    )
