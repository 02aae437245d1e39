"""Which engine and which model: flags, then OCULO_ENGINE / OCULO_MODEL, then what this machine has."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelNotFound, OculoError
from .base import Engine
from .ocr import OCR_ENGINES, get_ocr_engine
from .torch_import import import_torch

__all__ = ["ENGINES", "OCR_ENGINES", "EngineSettings", "open_engine", "default_local_model"]

ENGINES = ("auto", "ollama", "openai", "transformers")  # vision-language models; OCR_ENGINES read text only


@dataclass
class EngineSettings:
    """Connection and loading settings; each engine reads the ones that concern it."""

    host: str | None = None  # Ollama
    base_url: str | None = None  # OpenAI-compatible
    api_key: str | None = None
    device: str | None = None  # transformers
    dtype: str | None = None
    trust_remote_code: bool = False
    batch_size: int = 8
    max_pixels: int | None = None  # image budget override
    no_download: bool = False  # in-process engine: fail instead of downloading a model missing from the cache
    extra: dict[str, Any] = field(default_factory=dict)


# The in-process default without a GPU; bench/cpu.py measures it beside SmolVLM 256M.
CPU_DEFAULT_MODEL = "HuggingFaceTB/SmolVLM-500M-Instruct"


def default_local_model() -> str:
    """A model this machine can run in-process: small on CPU, larger with a big GPU."""
    try:
        torch = import_torch()
        if torch.cuda.is_available():
            gib = torch.cuda.get_device_properties(0).total_memory / 2**30
            return "Qwen/Qwen2.5-VL-7B-Instruct" if gib >= 20 else "Qwen/Qwen2.5-VL-3B-Instruct"
    except ImportError:
        pass
    return CPU_DEFAULT_MODEL


def _name_for(engine: str, model: str, s: EngineSettings) -> str:
    """A catalog id or another engine's name for a known model becomes the name this engine knows it by."""
    if os.path.isdir(model):
        return model
    from ..models.catalog import find

    spec = find(model)
    if spec is None:
        return model
    if engine == "ollama" and (model == spec.id or "/" in model):
        if not spec.ollama:
            raise ModelNotFound(f"{spec.name} has no Ollama build; run it in-process with --engine transformers "
                                f"-m {spec.hf}")
        return spec.ollama
    if engine == "transformers" and "/" not in model:
        if not spec.hf:
            raise ModelNotFound(f"{spec.name} has no Hugging Face build; run it through Ollama (--engine ollama)")
        if spec.transformers == "remote-code" and not s.trust_remote_code:
            raise ModelNotFound(f"{spec.name} ships its own code: run it through Ollama (`oculo pull {spec.id}`, "
                                "then --engine ollama), or in-process with --trust-remote-code if you trust it")
        return spec.hf
    return model


def open_engine(engine: str | None = None, model: str | None = None,
                settings: EngineSettings | None = None) -> Engine:
    """The engine by name: a vision-language model server or in-process, or a classic OCR engine (no model)."""
    s = settings or EngineSettings()
    name = (engine or os.environ.get("OCULO_ENGINE") or "auto").strip().lower()
    if name in OCR_ENGINES:
        return get_ocr_engine(name)  # shared: its models load once per process
    model = model or os.environ.get("OCULO_MODEL") or None
    if name not in ENGINES:
        raise OculoError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
    tried = None
    if name == "auto":
        name, tried, found = _auto(model, s)
        model = model or found
    if model:
        model = _name_for(name, model, s)
    if name == "ollama":
        from .ollama import OllamaEngine, default_ollama_model

        return OllamaEngine(model or default_ollama_model(s.host), host=s.host,
                            keep_alive=s.extra.get("keep_alive"), max_pixels=s.max_pixels)
    if name == "openai":
        from .openai import OpenAIEngine, default_openai_model

        return OpenAIEngine(model or default_openai_model(s.base_url, s.api_key),
                            base_url=s.base_url, api_key=s.api_key, max_pixels=s.max_pixels)
    from .local import TransformersEngine

    return TransformersEngine(model or default_local_model(), device=s.device, dtype=s.dtype,
                              trust_remote_code=s.trust_remote_code, batch_size=s.batch_size,
                              max_pixels=s.max_pixels, no_download=s.no_download, tried=tried)


def _auto(model: str | None, s: EngineSettings) -> tuple[str, str | None, str | None]:
    """Ollama when it answers (and, with no model named, has a vision model); else in-process, with a note of
    what was tried, so a model that cannot be had either way fails in one line naming both."""
    from .ollama import default_ollama_model, ollama_host, ollama_reachable

    base = ollama_host(s.host)
    if model and os.path.isdir(model):
        return "transformers", None, None  # a model folder runs in-process, whatever else runs here
    if not ollama_reachable(s.host):
        return "transformers", f"Ollama at {base} is not reachable", None
    if model:
        return "ollama", None, None
    try:
        found = default_ollama_model(s.host)  # the best vision model pulled
    except OculoError:  # none pulled (or it stopped answering): the in-process default takes over
        return "transformers", f"Ollama at {base} has no vision model", None
    return "ollama", None, found
