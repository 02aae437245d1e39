"""The in-process engine: Hugging Face transformers, no server needed.

Batches are left-padded so every row's new tokens start at the same position; under greedy decoding
a batch gives the same tokens as running each request alone (tested). On CPU the Linear layers get torch's
dynamic int8 quantization by default (`--dtype float32` keeps exact fp32): about 5x faster decoding; since
it scales activations per batch, quantized requests run one at a time so each answer stays its own.
JSON schemas are enforced with xgrammar's token masks and re-validated afterwards by the seam.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import EngineError, ModelNotFound, NotInstalled, Unsupported
from .base import DEFAULT_MAX_PIXELS, Capabilities, Chunk, Engine, Message, Reply, Request, Stats
from .torch_import import import_torch

__all__ = ["TransformersEngine", "pick_device", "pick_dtype", "quantizes", "DTYPES"]


def _torch():
    try:
        torch = import_torch()
        import transformers  # noqa: F401
    except ImportError as e:
        raise NotInstalled(
            f"the in-process engine needs torch and transformers ({e.name} is missing); "
            "install them with `pip install 'oculo[local]'`"
        ) from None
    return torch


def pick_device(device: str | None = None) -> str:
    torch = _torch()
    if device and device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


# `--dtype int8`: weights load in float32, then torch's dynamic int8 quantization replaces every Linear layer.
INT8 = ("int8", "qint8")
DTYPES = ("auto", "float32", "bfloat16", "float16", *INT8)


def pick_dtype(device: str, dtype: str | None = None):
    """The dtype weights load in; int8 (CPU only) loads float32 and is quantized after loading."""
    torch = _torch()
    if dtype in INT8:
        return torch.float32
    if dtype and dtype != "auto":
        if dtype not in DTYPES:
            raise Unsupported(f"--dtype {dtype} is not one of {', '.join(DTYPES)}")
        return getattr(torch, dtype)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32  # CPU kernels for half precision are slow or missing


def quantizes(device: str, dtype: str | None) -> bool:
    """Whether the weights get dynamic int8 quantization: by default on CPU (about 5x faster decoding on a
    500M model, bench/cpu.py), never when a dtype is named (`--dtype float32` is exact fp32)."""
    if dtype in INT8:
        if device != "cpu":
            raise Unsupported(f"--dtype {dtype} is torch's dynamic quantization, which runs on CPU only; "
                              f"on {device} use --dtype bfloat16 or float16")
        return True
    return device == "cpu" and dtype in (None, "", "auto")


def _quantize(model: Any) -> Any:
    """Every Linear layer to int8 weights with int8 matmuls (activations quantized on the fly); a torch without
    the eager quantization API keeps the float32 model."""
    import warnings

    torch = _torch()
    quantize_dynamic = getattr(getattr(torch, "ao", None) and torch.ao.quantization, "quantize_dynamic", None)
    if quantize_dynamic is None:
        return model
    with warnings.catch_warnings():  # deprecated in favour of torchao, which is not a dependency
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


@dataclass
class _Loaded:
    processor: Any
    model: Any
    load_s: float


class _Timing:
    """A streamer that only records when the first new token of a batch appears (ttft for batches)."""

    def __init__(self) -> None:
        self.calls = 0
        self.first_token_at: float | None = None

    def put(self, value: Any) -> None:
        self.calls += 1
        if self.calls == 2 and self.first_token_at is None:  # call 1 is the prompt itself
            self.first_token_at = time.perf_counter()

    def end(self) -> None:
        pass


class TransformersEngine(Engine):
    name = "transformers"

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        dtype: str | None = None,
        trust_remote_code: bool = False,
        batch_size: int = 8,
        attn_implementation: str | None = None,
        max_pixels: int | None = None,
        no_download: bool = False,
        tried: str | None = None,
    ) -> None:
        """`no_download`: a model missing from the cache fails instead of downloading (so do OCULO_NO_DOWNLOAD=1
        and HF_HUB_OFFLINE=1). `tried`: what was looked for before this engine (the `auto` path), for that error."""
        super().__init__(model, max_pixels=max_pixels)
        # Torch loads with the model, not here: a run whose items are all cached never imports it.
        for module in ("torch", "transformers"):
            if importlib.util.find_spec(module) is None:
                raise NotInstalled(f"the in-process engine needs torch and transformers ({module} is missing); "
                                   "install them with `pip install 'oculo[local]'`")
        self._device, self._dtype = device, dtype
        self.trust_remote_code = trust_remote_code
        self.batch_size = max(1, batch_size)
        self.attn_implementation = attn_implementation
        self._loaded: _Loaded | None = None
        self._load_lock = threading.Lock()
        self._load_charged = False
        self._grammar_cache: dict[str, Any] = {}
        self.no_download, self.tried = no_download, tried

    @cached_property
    def device(self) -> str:
        return pick_device(self._device)

    @cached_property
    def dtype(self) -> Any:
        return pick_dtype(self.device, self._dtype)

    @cached_property
    def quantized(self) -> bool:
        return quantizes(self.device, self._dtype)

    # ---- loading -------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory: they load on the first generate, never to answer `capabilities()`."""
        return self._loaded is not None

    def warm(self) -> None:
        self._load()

    def _load(self) -> _Loaded:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._load_now()
        return self._loaded

    def _load_now(self) -> _Loaded:
        _torch()
        import sys

        from transformers import AutoModelForImageTextToText, AutoProcessor
        from transformers.utils import logging as hf_logging

        if not sys.stderr.isatty():  # progress bars belong on a terminal, not in logs and pipes
            hf_logging.disable_progress_bar()

        t0 = time.perf_counter()
        path = self._path
        kwargs: dict[str, Any] = {"trust_remote_code": self.trust_remote_code}
        try:
            processor = AutoProcessor.from_pretrained(path, **kwargs)
            if self.attn_implementation:
                kwargs["attn_implementation"] = self.attn_implementation
            model = AutoModelForImageTextToText.from_pretrained(path, dtype=self.dtype, **kwargs)
        except (OSError, ValueError) as e:
            raise self._explain_load_error(e) from None
        model.to(self.device).eval()  # type: ignore[arg-type]  # transformers types `to` through a wrapper
        if self.quantized:
            model = _quantize(model)
        tok = _tokenizer(processor)
        tok.padding_side = "left"  # new tokens of every row then start at the same column
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        return _Loaded(processor, model, time.perf_counter() - t0)

    @cached_property
    def _path(self) -> str:
        return self._local_path()

    def _local_path(self) -> str:
        """A model folder, or the cached snapshot of a hub id, downloaded once on first use unless that is off."""
        if os.path.isdir(self.model):
            return self.model
        from .pull import download_stopper, hf_cache_dir, hf_cached

        cached = hf_cached(self.model)
        if cached:
            return cached
        stopper = download_stopper(self.no_download)
        if stopper is None:
            return self._download()
        allow = "drop --no-download" if stopper.startswith("--") else f"unset {stopper.split('=')[0]}"
        if self.tried:  # the `auto` path: say everything that was looked for, and both ways forward
            raise ModelNotFound(
                f"nothing can answer: {self.tried}, and {self.model} is not in the Hugging Face cache "
                f"({hf_cache_dir()}) while downloading is off ({stopper}); start Ollama and run `oculo pull "
                f"moondream`, or allow the download ({allow}) or run `oculo pull {self.model} --engine transformers`")
        raise ModelNotFound(
            f"model {self.model!r} is not a local folder and not in the Hugging Face cache ({hf_cache_dir()}), and "
            f"downloading is off ({stopper}); allow the download ({allow}), run `oculo pull {self.model} --engine "
            "transformers` where the hub is reachable, or pass a model folder with -m")

    def _download(self) -> str:
        """Like `ollama run`, fetch what is missing: one line saying what and how big, then huggingface_hub's bars."""
        import sys

        from huggingface_hub.constants import ENDPOINT

        from ..errors import OculoError
        from .pull import hf_pull, hf_size, human_size

        print(f"oculo: downloading {self.model} ({human_size(hf_size(self.model))}) from {ENDPOINT} into the "
              "Hugging Face cache; this happens once", file=sys.stderr, flush=True)
        try:
            return hf_pull(self.model, cache_dir=os.environ.get("HF_HUB_CACHE"))
        except OculoError as e:
            if not self.tried:
                raise
            raise type(e)(f"{self.tried}, and {e}") from None

    def _explain_load_error(self, e: Exception) -> EngineError:
        msg = str(e)
        if "trust_remote_code" in msg:
            return EngineError(
                f"model {self.model!r} ships its own code; if you trust it, pass --trust-remote-code, "
                "or run it through Ollama instead (--engine ollama)"
            )
        if isinstance(e, OSError):
            return ModelNotFound(f"model {self.model!r} is incomplete or unreadable ({msg.splitlines()[0][:200]}); "
                                 f"download it again with `hf download {self.model}`")
        first = msg.strip().splitlines()[0] if msg.strip() else type(e).__name__
        return EngineError(f"cannot load model {self.model!r} with transformers: {first}")

    # ---- capabilities --------------------------------------------------------------------------
    def _capabilities(self) -> Capabilities:
        return self._caps

    @cached_property
    def _caps(self) -> Capabilities:
        # From the model folder's config files, not the loaded processor: a job is keyed and listed (and a fully
        # cached rerun finished) without loading weights or importing torch.
        schema_ok = importlib.util.find_spec("xgrammar") is not None
        budget = _config_budget(_image_processor_config(Path(self._path)))
        return Capabilities(vision=True, schema=schema_ok, streaming=True, parallel=1, batch=self.batch_size,
                            max_pixels=min(DEFAULT_MAX_PIXELS, budget), pixel_ceiling=budget, min_side=28)

    # ---- preparing inputs ----------------------------------------------------------------------
    def _render(self, processor: Any, request: Request) -> str:
        """The prompt text for one request, in the model's own chat format.

        Chat templates disagree on the shape of a message's content: most take a list of parts, some
        read a text-only message as a plain string (Llama 3.2 Vision trims its system message as one),
        some read parts only (SmolVLM), and some refuse a system message next to images (Llama 3.2
        Vision). The forms below are tried in order and the first rendering that keeps every
        message's text, with no Python repr of a part list leaking in, wins.
        """
        if not _chat_template(processor):
            return _plain_prompt(processor, request)
        # A processor without a template of its own falls back on its tokenizer's.
        template = None if getattr(processor, "chat_template", None) else _chat_template(processor)
        first_error: Exception | None = None
        fallback: str | None = None
        for conversation in _conversations(request):
            try:
                text = processor.apply_chat_template(conversation, chat_template=template,
                                                     add_generation_prompt=True, tokenize=False)
            except Exception as e:  # a template's own refusal (role order, system with images, ...)
                first_error = first_error or e
                continue
            if _keeps_every_message(text, request):
                return text
            fallback = fallback if fallback is not None else text
        if fallback is not None:
            return fallback
        # A template's own error (role order, missing template) is the user's to fix.
        raise EngineError(f"model {self.model!r}: its chat template refused the conversation: {first_error}")

    def _inputs(self, loaded: _Loaded, requests: list[Request]):
        texts = [self._render(loaded.processor, r) for r in requests]
        images = [[p.image for p in r.images] for r in requests]
        kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
        if any(images):
            kwargs["images"] = images  # one list per prompt; batches never mix with image-less prompts
        if self.device == "cpu" and any(images):
            kwargs.update(_no_upscale(loaded.processor, [p for row in images for p in row]))
        bos = getattr(_tokenizer(loaded.processor), "bos_token", None)
        if bos and all(t.startswith(bos) for t in texts):
            kwargs["add_special_tokens"] = False  # the template wrote BOS already (Gemma 3); no second one
        try:
            inputs = loaded.processor(**kwargs)
        except Exception as e:
            # The processor checks shapes and content deterministically: the same input is refused every time.
            reason = " ".join(str(e).split())[:300] or "no reason given"
            if not any(images):  # PaliGemma's processor refuses a prompt without an image
                raise Unsupported(f"model {self.model!r}: the processor rejected a prompt without images; "
                                  f"this model may need an image with every request ({reason})") from None
            raise Unsupported(f"model {self.model!r}: the processor rejected the image ({reason}); "
                              "crop or resize the image, or try another model") from None
        # Training-only outputs (PaliGemma's processor returns `labels`) must not reach generate();
        # everything else (token_type_ids, cross_attention_mask, aspect ratios, ...) is the model's.
        for key in _TRAINING_ONLY_INPUTS:
            inputs.pop(key, None)
        return inputs.to(loaded.model.device)

    def _grammar(self, loaded: _Loaded, schema: dict[str, Any]):
        import xgrammar as xgr

        key = json.dumps(schema)  # key order kept: the model fills fields in the order the schema gives
        if key not in self._grammar_cache:
            if "_compiler" not in self._grammar_cache:
                tok = _tokenizer(loaded.processor)
                vocab = loaded.model.config.get_text_config().vocab_size
                info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=vocab, stop_token_ids=_eos_ids(loaded))
                self._grammar_cache["_compiler"] = xgr.GrammarCompiler(info)
                self._grammar_cache["_control"] = _control_token_mask(info, vocab)
            # Compact JSON: free whitespace lets a weak model pad forever inside the grammar.
            self._grammar_cache[key] = self._grammar_cache["_compiler"].compile_json_schema(
                key, any_whitespace=False
            )
        return self._grammar_cache[key]

    def _gen_kwargs(self, loaded: _Loaded, request: Request, n: int) -> dict[str, Any]:
        torch = _torch()
        o = request.options
        kw: dict[str, Any] = {
            "max_new_tokens": o.max_tokens or 512,
            "pad_token_id": _tokenizer(loaded.processor).pad_token_id,
            "eos_token_id": _eos_ids(loaded),
        }
        if o.temperature:
            kw.update(do_sample=True, temperature=o.temperature)
        else:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        for key in ("top_p", "top_k", "repetition_penalty", "min_p"):
            if key in o.extra:
                kw[key] = o.extra[key]
        if o.stop:
            kw.update(stop_strings=list(o.stop), tokenizer=_tokenizer(loaded.processor))
        if o.seed is not None:
            torch.manual_seed(int(o.seed))
        if request.schema is not None:
            from xgrammar.contrib.hf import LogitsProcessor

            grammar = self._grammar(loaded, request.schema)
            kw["logits_processor"] = [LogitsProcessor([grammar] * n), _Forbid(self._grammar_cache["_control"])]
        return kw

    def _charge_load(self, loaded: _Loaded) -> float:
        if self._load_charged:
            return 0.0
        self._load_charged = True
        return loaded.load_s

    # ---- generation ----------------------------------------------------------------------------
    def _generate(self, requests: list[Request]) -> list[Reply]:
        loaded = self._load()
        replies: list[Reply | None] = [None] * len(requests)
        # Requests share a generate() call only when their settings match: one grammar and one
        # decoding config per batch keeps every row identical to running it alone.
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(_settings_key(r), []).append(i)
        # int8 weights quantize each batch's activations with one scale for the whole batch, so a row's answer
        # would depend on its neighbours: quantized, every request runs alone and answers as it would alone.
        size = 1 if self.quantized else self.batch_size
        for idxs in groups.values():
            for start in range(0, len(idxs), size):
                chunk = idxs[start:start + size]
                for i, rep in zip(chunk, self._run_batch_or_each(loaded, [requests[i] for i in chunk],
                                                                 alone=len(requests) == 1)):
                    replies[i] = rep
        return [r for r in replies if r is not None]

    def _run_batch_or_each(self, loaded: _Loaded, batch: list[Request], alone: bool) -> list[Reply]:
        """One batch; when the processor refuses it, each request alone, so only the refused one fails.

        `alone`: the caller sent this one request, so a refusal is raised to it; a request among others (even
        one run by itself, as the quantized path does) is marked failed and its neighbours still answer."""
        try:
            return self._run_batch(loaded, batch)
        except Unsupported:
            if alone:
                raise
        replies = []
        for request in batch:
            try:
                replies.extend(self._run_batch(loaded, [request]))
            except Unsupported as e:
                replies.append(Reply("", self.model, self.name, Stats(), finish_reason="error", error=str(e)))
        return replies

    def _run_batch(self, loaded: _Loaded, batch: list[Request]) -> list[Reply]:
        torch = _torch()
        load_s = self._charge_load(loaded)
        t0 = time.perf_counter()
        inputs = self._inputs(loaded, batch)
        timing = _Timing()
        kw = self._gen_kwargs(loaded, batch[0], len(batch))
        kw["stopping_criteria"] = _cancel_criteria([[r.cancel] for r in batch])
        try:
            with torch.inference_mode():
                out = loaded.model.generate(**inputs, streamer=timing, **kw)
        except RuntimeError as e:
            raise EngineError(f"model {self.model!r} failed while generating: {str(e).splitlines()[0]}") from None
        total = time.perf_counter() - t0
        ttft = (timing.first_token_at - t0) if timing.first_token_at else None
        prompt_len = inputs["input_ids"].shape[1]
        replies = []
        for row, req in enumerate(batch):
            new = out[row, prompt_len:].tolist()
            tokens, finish = _trim(new, set(_eos_ids(loaded)), kw["pad_token_id"], kw["max_new_tokens"])
            text = _decode(loaded, tokens, req.options.stop)
            stats = Stats(
                prompt_tokens=int(inputs["attention_mask"][row].sum()),
                generated_tokens=len(tokens),
                ttft_s=ttft,
                total_s=total,
                load_s=load_s,
            )
            replies.append(Reply(text, self.model, self.name, stats, finish_reason=finish))
        return replies

    def _stream(self, request: Request) -> Iterator[Chunk]:
        torch = _torch()
        from transformers import TextIteratorStreamer

        loaded = self._load()
        load_s = self._charge_load(loaded)
        t0 = time.perf_counter()
        inputs = self._inputs(loaded, [request])
        kw = self._gen_kwargs(loaded, request, 1)
        streamer = TextIteratorStreamer(_tokenizer(loaded.processor), skip_prompt=True, skip_special_tokens=True)
        result: dict[str, Any] = {}
        closed = threading.Event()  # the caller closed this generator: generation stops at its next token
        kw["stopping_criteria"] = _cancel_criteria([[request.cancel, closed]])

        def work() -> None:
            try:
                with torch.inference_mode():
                    result["out"] = loaded.model.generate(**inputs, streamer=streamer, **kw)
            except Exception as e:  # surfaced in the caller's thread below
                result["error"] = e
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        ttft = None
        emitted = ""
        try:
            for piece in streamer:
                if not piece:
                    continue
                if ttft is None:
                    ttft = time.perf_counter() - t0
                piece = _cut_stop(emitted + piece, request.options.stop)[len(emitted):]
                if piece:
                    emitted += piece
                    yield Chunk(piece)
        except BaseException:  # closed by the caller (GeneratorExit) or failing: stop generating at the next token
            closed.set()
            raise
        thread.join()
        if "error" in result:
            raise EngineError(f"model {self.model!r} failed while generating: {result['error']}")
        prompt_len = inputs["input_ids"].shape[1]
        tokens, finish = _trim(result["out"][0, prompt_len:].tolist(), set(_eos_ids(loaded)),
                               kw["pad_token_id"], kw["max_new_tokens"])
        text = _decode(loaded, tokens, request.options.stop)
        if text.startswith(emitted) and len(text) > len(emitted):
            yield Chunk(text[len(emitted):])  # the streamer holds back an unfinished word at the end
        stats = Stats(int(inputs["attention_mask"][0].sum()), len(tokens), ttft, time.perf_counter() - t0, load_s)
        yield Chunk("", Reply(text, self.model, self.name, stats, finish_reason=finish))

    # ---- limits a server checks before any compute -----------------------------------------------------------
    def context_length(self) -> int | None:
        """The model's context in tokens (prompt plus reply), from its config."""
        config = self._load().model.config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        n = getattr(text, "max_position_embeddings", None)
        return int(n) if isinstance(n, int) and n > 0 else None

    def count_tokens(self, text: str) -> int:
        return len(_tokenizer(self._load().processor)(text, add_special_tokens=False)["input_ids"])

    def close(self) -> None:
        self._loaded = None
        self._grammar_cache.clear()


_TRAINING_ONLY_INPUTS = ("labels",)


def _chat_template(processor: Any) -> str | None:
    return getattr(processor, "chat_template", None) or getattr(_tokenizer(processor), "chat_template", None)


def _conversations(request: Request) -> Iterator[list[dict[str, Any]]]:
    """The request as chat-template input, in the forms templates expect, most common first.

    Each message list is offered with every content as a list of parts, then with text-only messages
    as plain strings; after those, for templates that refuse a system message (next to images), the
    same two forms with the system text folded into the first user turn.
    """
    messages = request.messages
    candidates = [messages]
    system = "\n\n".join(m.text for m in messages if m.role == "system" and m.text)
    rest = [m for m in messages if m.role != "system"]
    if system and rest and rest[0].role == "user":
        first = rest[0]
        text = f"{system}\n\n{first.text}" if first.text else system
        candidates.append([Message("user", text, list(first.images)), *rest[1:]])
    seen: list[list[dict[str, Any]]] = []
    for msgs in candidates:
        for parts_everywhere in (True, False):
            conversation = [_message(m, parts=parts_everywhere or bool(m.images)) for m in msgs]
            if conversation not in seen:
                seen.append(conversation)
                yield conversation


def _message(m: Message, *, parts: bool) -> dict[str, Any]:
    if not parts:
        return {"role": m.role, "content": m.text}
    content: list[dict[str, Any]] = [{"type": "image"} for _ in m.images]
    if m.text:
        content.append({"type": "text", "text": m.text})
    return {"role": m.role, "content": content}


def _keeps_every_message(text: str, request: Request) -> bool:
    for m in request.messages:
        if m.text and m.text.strip() not in text:
            return False
        if str(_message(m, parts=True)["content"]) in text:  # a template printed the part list itself
            return False
    return True


def _plain_prompt(processor: Any, request: Request) -> str:
    """A model without a chat template (PaliGemma) takes the bare prompt after its image placeholders.

    The processor lays out the rest (PaliGemma: ``<image>`` x N, then ``<bos>``, the prompt and a
    newline). The texts of all messages go on one line, as a newline ends PaliGemma's prefix.
    """
    image_token = getattr(processor, "image_token", None)
    n_images = len(request.images)
    head = image_token * n_images if image_token and n_images else ""
    return head + " ".join(" ".join(m.text.split()) for m in request.messages if m.text.strip())


def _control_token_mask(info: Any, vocab: int):
    """Tokens holding a raw control byte: never valid in compact JSON, yet xgrammar lets some into strings."""
    torch = _torch()
    mask = torch.zeros(vocab, dtype=torch.bool)
    stops = set(info.stop_token_ids)
    for i, raw in enumerate(info.decoded_vocab[:vocab]):
        if i not in stops and any(b < 0x20 for b in raw):
            mask[i] = True
    return mask


class _Forbid:
    """A logits processor that bans a fixed set of tokens (runs after the grammar's own mask)."""

    def __init__(self, mask: Any) -> None:
        self.mask = mask

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        mask = self.mask.to(scores.device)
        width = min(scores.shape[-1], mask.shape[0])
        scores[:, :width] = scores[:, :width].masked_fill(mask[:width], float("-inf"))
        return scores


def _cancel_criteria(rows: list[list[threading.Event | None]]) -> Any:
    """Stops each row whose caller left (an HTTP client that disconnected); its batch-mates carry on."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Cancelled(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            torch = _torch()
            flags = [any(e is not None and e.is_set() for e in events) for events in rows]
            return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([Cancelled()])


def _image_processor_config(folder: Path) -> dict[str, Any]:
    """The image processor's settings as saved beside the weights: preprocessor_config.json, or the
    "image_processor" entry of processor_config.json (newer transformers); {} when neither is readable."""
    for name, key in (("preprocessor_config.json", None), ("processor_config.json", "image_processor")):
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            found = data.get(key, {}) if key else data
            if isinstance(found, dict) and found:
                return found
    return {}


# Image processors whose size's "longest_edge"/"shortest_edge" count pixels (a budget), not a side's length.
_PIXEL_BUDGET_SIZES = ("Qwen2VLImageProcessor", "Qwen2_5_VLImageProcessor", "Qwen3VLImageProcessor",
                       "Glm4vImageProcessor")


def _config_budget(config: dict[str, Any]) -> int:
    """The most pixels the model's own processor would keep; sending more only wastes decoding."""
    size = config.get("size")
    size = size if isinstance(size, dict) else {}
    for v in (config.get("max_pixels"), size.get("max_pixels")):
        if isinstance(v, int) and v > 0:
            return v
    longest = _longest_edge(size)
    if longest and longest > 0:
        kind = str(config.get("image_processor_type") or "").removesuffix("Fast")
        return longest if kind in _PIXEL_BUDGET_SIZES else longest ** 2
    return DEFAULT_MAX_PIXELS


def _no_upscale(processor: Any, images: list[Any]) -> dict[str, Any]:
    """Processor settings that keep images no larger than they are, for processors that first enlarge every image
    to a fixed longest edge and then cut it into tiles (SmolVLM/Idefics3: a 512 px photo becomes 4x4 tiles plus a
    global view, 17 passes of the vision tower and 1,088 prompt tokens). Enlarging adds no detail, and on a CPU
    each tile costs about a second before the first token; the longest edge becomes the largest image's own,
    rounded up to whole tiles, within the processor's maximum."""
    ip = getattr(processor, "image_processor", None)
    longest, tile_edge = (_longest_edge(getattr(ip, k, None)) for k in ("size", "max_image_size"))
    if not (longest and tile_edge and 0 < tile_edge <= longest) or not images:
        return {}
    own = max(max(getattr(im, "size", (0, 0))) for im in images)
    edge = min(longest, max(tile_edge, -(-own // tile_edge) * tile_edge))
    return {} if edge == longest else {"size": {"longest_edge": edge}}


def _longest_edge(size: Any) -> int | None:
    """A processor size's longest edge: a plain dict in saved configs, a SizeDict once loaded (transformers 5)."""
    value = size.get("longest_edge") if isinstance(size, dict) else getattr(size, "longest_edge", None)
    return value if isinstance(value, int) else None


def _tokenizer(processor: Any) -> Any:
    return getattr(processor, "tokenizer", processor)


def _eos_ids(loaded: _Loaded) -> list[int]:
    ids = getattr(loaded.model.generation_config, "eos_token_id", None)
    if ids is None:
        ids = _tokenizer(loaded.processor).eos_token_id
    return [ids] if isinstance(ids, int) else list(ids or [])


def _settings_key(r: Request) -> str:
    o = r.options
    return json.dumps([bool(r.images), r.schema, o.max_tokens, o.temperature, o.seed, o.stop, o.extra], default=str)


def _trim(tokens: list[int], eos: set[int], pad: int | None, limit: int) -> tuple[list[int], str]:
    for n, t in enumerate(tokens):
        if t in eos:
            return tokens[:n], "stop"
        if t == pad and pad not in eos:  # rows that finished early are filled with pad
            return tokens[:n], "stop"
    return tokens, "length" if len(tokens) >= limit else "stop"


def _decode(loaded: _Loaded, tokens: list[int], stop: list[str]) -> str:
    text = _tokenizer(loaded.processor).decode(tokens, skip_special_tokens=True)
    return _cut_stop(text, stop)


def _cut_stop(text: str, stop: list[str]) -> str:
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return text if cut < 0 else text[:cut]
