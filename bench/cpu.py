"""Benchmark: the CPU default (SmolVLM 500M) and SmolVLM 256M through oculo's engine and through plain `generate`.

    python bench/cpu.py [--tokens 32] [--dtypes int8,float32] [--models ID,...] [--image 512]

For each model (by default SmolVLM 500M, the CPU default, and SmolVLM 256M) builds a real-size, random-weight model
with its shapes (the same SigLIP 512 px / patch 16 vision tower, pixel shuffle x4; a 32-layer 960-wide or 30-layer
576-wide Llama decoder, 49,280-token vocabulary), the tiny SmolVLM tokenizer and the released processor's image
settings (2048 px longest edge, 512 px tiles), saves it, and loads it through oculo's in-process engine. For each
precision (exact float32, and the CPU default: torch's dynamic int8 quantization of every Linear layer) one image
and a short prompt go through `engine.generate` and through `model.generate` on the same loaded model, with the
same inputs (on CPU a 512 px image is one tile); each path runs once to warm up, then once measured. Reported per
path: time to first token (prefill + one decode step) and decode tokens/s (tokens after the first over the time
after the first). Random weights rarely pick the end-of-sequence token, so both paths generate the full --tokens.

The last line printed is one JSON object. The machine may be shared: figures are noisy, ratios less so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

try:
    import oculo  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from oculo import Options, Request
from oculo.engines import ImagePart
from oculo.engines.local import TransformersEngine
from oculo.engines.resolve import CPU_DEFAULT_MODEL
from oculo.testing import make_image

# The sizes that set the cost of each token, from each model's config.json (SmolLM2-135M / -360M decoders, the same
# SigLIP base 512 px / patch 16 vision tower, pixel shuffle x4).
_VISION = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
           "image_size": 512, "patch_size": 16}
_DECODER = {"vocab_size": 49280, "max_position_embeddings": 8192, "rope_theta": 100000.0, "rms_norm_eps": 1e-5,
            "model_type": "llama", "tie_word_embeddings": True}
SHAPES = {
    "HuggingFaceTB/SmolVLM-256M-Instruct": {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
                                            "num_attention_heads": 9, "num_key_value_heads": 3},
    "HuggingFaceTB/SmolVLM-500M-Instruct": {"hidden_size": 960, "intermediate_size": 2560, "num_hidden_layers": 32,
                                            "num_attention_heads": 15, "num_key_value_heads": 5},
}
SCALE = 4  # pixel shuffle: (512/16)^2 / 4^2 = 64 image tokens per 512 px tile


def build(folder: Path, model: str) -> None:
    import torch
    from transformers import GenerationConfig

    from oculo.testing.families_idefics import build_smolvlm

    parts = build_smolvlm()
    tok = parts.processor.tokenizer
    ids = tok.convert_tokens_to_ids
    text = {**_DECODER, **SHAPES[model], "bos_token_id": ids("<|im_start|>"),
            "eos_token_id": ids("<end_of_utterance>"), "pad_token_id": ids("<|im_end|>")}
    config = type(parts.config)(text_config=text, vision_config=_VISION, image_token_id=ids("<image>"),
                                scale_factor=SCALE, tie_word_embeddings=True)
    config.dtype = "float32"
    ip = parts.processor.image_processor
    # The released processor's settings: images scaled to a 2048 px longest edge and cut into 512 px tiles. The
    # engine keeps a smaller image's own size on CPU, so the 512 px image below is one tile, as users get it.
    ip.size = {"longest_edge": 2048}
    ip.max_image_size = {"longest_edge": 512}
    ip.do_image_splitting = True
    parts.processor.image_seq_len = (512 // 16) ** 2 // SCALE**2
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        built = parts.model_class(config).eval()
    built.generation_config = GenerationConfig(**parts.generation)
    built.save_pretrained(folder)
    parts.processor.save_pretrained(folder)


class FirstToken:
    """A streamer noting when the first new token appears (its first call is the prompt)."""

    def __init__(self) -> None:
        self.calls, self.at = 0, None

    def put(self, value) -> None:
        self.calls += 1
        if self.calls == 2:
            self.at = time.perf_counter()

    def end(self) -> None:
        pass


def rates(n: int, ttft: float, total: float) -> dict[str, float]:
    return {"tokens": n, "ttft_s": round(ttft, 3),
            "decode_tokens_per_s": round((n - 1) / (total - ttft), 2) if n > 1 and total > ttft else 0.0}


def run_oculo(engine: TransformersEngine, request: Request) -> dict[str, float]:
    reply = engine.generate([request])[0]
    s = reply.stats
    return rates(s.generated_tokens, s.ttft_s or s.total_s, s.total_s)


def run_plain(engine: TransformersEngine, request: Request) -> dict[str, float]:
    import torch

    loaded = engine._load()
    kw = {"max_new_tokens": request.options.max_tokens, "do_sample": False,
          "pad_token_id": loaded.processor.tokenizer.pad_token_id}
    streamer = FirstToken()
    t0 = time.perf_counter()  # both paths' clocks include preparing the inputs (template, image processor)
    inputs = engine._inputs(loaded, [request])  # the same tensors oculo feeds the model
    with torch.inference_mode():
        out = loaded.model.generate(**inputs, streamer=streamer, **kw)
    total = time.perf_counter() - t0
    n = out.shape[1] - inputs["input_ids"].shape[1]
    return rates(n, (streamer.at or t0 + total) - t0, total)


def measure(model: str, dtypes: list[str], request: Request) -> dict:
    import torch

    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="oculo-bench-cpu-") as tmp:
        t0 = time.perf_counter()
        build(Path(tmp), model)
        out["build_s"] = round(time.perf_counter() - t0, 1)
        for dtype in dtypes:
            engine = TransformersEngine(tmp, device="cpu", dtype=None if dtype == "int8" else dtype, batch_size=1)
            loaded = engine._load()
            params = sum(p.numel() for p in loaded.model.parameters())
            tiles = int(engine._inputs(loaded, [request])["pixel_values"].shape[1])
            run_oculo(engine, request)  # warm-up: first-call allocations, kernels' one-time setup
            run_plain(engine, request)
            ours, plain = run_oculo(engine, request), run_plain(engine, request)
            base = plain["decode_tokens_per_s"]
            overhead = 1 - ours["decode_tokens_per_s"] / base if base else None
            out[dtype] = {"load_s": round(engine._loaded.load_s, 1), "float_params": params, "image_tiles": tiles,
                          "oculo": ours, "plain_generate": plain,
                          "oculo_overhead": None if overhead is None else round(overhead, 3)}
            print(f"{model.split('/')[-1]:>22} {dtype:>8}: oculo {ours['decode_tokens_per_s']:6.1f} tok/s, "
                  f"ttft {ours['ttft_s']:.2f} s | plain generate {plain['decode_tokens_per_s']:6.1f} tok/s, "
                  f"ttft {plain['ttft_s']:.2f} s | {tiles} tile(s), {torch.get_num_threads()} threads",
                  file=sys.stderr, flush=True)
            engine.close()
    if "float32" in out and "int8" in out:
        out["int8_speedup"] = round(out["int8"]["oculo"]["decode_tokens_per_s"]
                                    / max(out["float32"]["oculo"]["decode_tokens_per_s"], 1e-9), 2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--dtypes", default="int8,float32")
    ap.add_argument("--models", default=",".join(SHAPES),
                    help=f"comma-separated, from: {', '.join(SHAPES)} (default: both; the CPU default is "
                         f"{CPU_DEFAULT_MODEL})")
    ap.add_argument("--image", type=int, default=512, help="the square test image's side in pixels")
    args = ap.parse_args()
    if args.tokens < 2 or args.image < 16:
        ap.error("--tokens must be at least 2 (a decode rate needs two tokens) and --image at least 16 px")
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    if not dtypes or set(dtypes) - {"int8", "float32", "bfloat16", "float16"}:
        ap.error("--dtypes takes int8, float32, bfloat16 or float16, comma-separated")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in SHAPES]
    if unknown:
        ap.error(f"unknown model {unknown[0]!r}; choose from {', '.join(SHAPES)}")
    import torch

    image = ImagePart(make_image(args.image, args.image, seed=1), f"{args.image}.png")
    request = Request.simple("Describe this image.", [image], options=Options(max_tokens=args.tokens))
    result: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
                    "weights": "random, real-size shapes", "cpu_default": CPU_DEFAULT_MODEL,
                    "image_px": args.image, "tokens": args.tokens}
    for model in models:
        result[model.split("/")[-1]] = measure(model, dtypes, request)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
