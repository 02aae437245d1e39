"""The model catalog: what each known vision model is, where to get it, and what it can take.

The data lives in catalog.toml next to this module; `load_catalog()` validates it once and caches it.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

__all__ = ["ModelSpec", "Limits", "Strength", "STRENGTHS", "CatalogError", "load_catalog", "parse_catalog", "find",
           "ollama_tag_for"]

STRENGTHS = ("photos", "documents", "ocr", "ui", "charts", "multilingual", "video", "general")
Strength = Literal["photos", "documents", "ocr", "ui", "charts", "multilingual", "video", "general"]


class CatalogError(ValueError):
    """catalog.toml does not hold a valid catalog (a packaging or editing mistake, never a user's)."""


@dataclass(frozen=True)
class Limits:
    """What one request to this model may carry, in the terms the engines' Capabilities use."""

    images_per_request: int | None  # None: no fixed limit beyond the context window
    images_per_message: int | None
    max_pixels: int | None  # pixel budget for one image
    max_resolution: tuple[int, int] | None
    min_side: int
    tokens_per_image: int  # at max_pixels
    parallel: bool  # whether Ollama serves several requests to this model at once

    def image_tokens(self, pixels: int | None = None) -> int:
        """Image tokens for one image of about `pixels` pixels (default: the model's full budget).

        Linear in area: exact for the Qwen family (one token per 28x28 patch) and a fair average for tiling
        encoders, whose tile count grows with area. Never more than the full-budget count.
        """
        if pixels is None or not self.max_pixels or pixels >= self.max_pixels:
            return self.tokens_per_image
        return max(1, math.ceil(self.tokens_per_image * pixels / self.max_pixels))


class ModelSpec(BaseModel):
    """One model at one size. Unknown fields are refused so a misspelt key cannot silently drop a fact."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    name: str = Field(min_length=1)
    family: str = Field(min_length=1)
    params_b: float = Field(gt=0)
    vision_params_b: float = Field(gt=0)
    ollama: str | None = None
    aliases: tuple[str, ...] = ()
    ollama_instead: str | None = None  # no official Ollama tag: the catalog id of the closest model with one
    hf: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
    transformers: Literal["native", "remote-code", "unsupported"]
    arch: str | None = None
    mem_q4_gb: float = Field(gt=0)
    mem_bf16_gb: float = Field(gt=0)
    layers: int = Field(gt=0)
    cross_attn_layers: int = Field(default=0, ge=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    context: int = Field(gt=0)
    images_per_request: int | None = Field(default=None, ge=1)
    images_per_message: int | None = Field(default=None, ge=1)
    # Where Ollama's build takes fewer images than the model does in-process; images_why says why.
    ollama_images_per_request: int | None = Field(default=None, ge=1)
    ollama_images_per_message: int | None = Field(default=None, ge=1)
    images_why: str = ""
    max_resolution: tuple[int, int] | None = None
    max_pixels: int | None = Field(default=None, gt=0)
    min_side: int = Field(default=1, ge=1)
    tokens_per_image: int = Field(gt=0)
    strengths: tuple[Strength, ...] = Field(min_length=1)
    ocr_rank: int = Field(ge=1)
    ref_tokens_per_s: float = Field(gt=0)
    ollama_parallel: bool = True
    notes: str = ""

    @field_validator("ollama", "aliases")
    @classmethod
    def _lowercase_tags(cls, v: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        # Ollama lowercases every name it stores, so a capital here could never match /api/tags.
        tags = (v,) if isinstance(v, str) else (v or ())
        for tag in tags:
            if tag != tag.lower() or not re.fullmatch(r"[a-z0-9][a-z0-9._\-]*(:[a-z0-9][a-z0-9._\-]*)?", tag):
                raise ValueError(f"{tag!r} is not an Ollama tag (lowercase name[:tag])")
        return v

    @field_validator("strengths")
    @classmethod
    def _unique_strengths(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"strengths repeat an entry: {list(v)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if not self.ollama and not self.hf:
            raise ValueError("needs an Ollama tag or a Hugging Face repo, or nobody can run it")
        if self.ollama_instead and self.ollama:
            raise ValueError("ollama_instead is for models without an Ollama tag; this one has one")
        has_ollama_limits = self.ollama_images_per_request or self.ollama_images_per_message
        if has_ollama_limits and not self.ollama:
            raise ValueError("ollama_images_* limits need an ollama tag")
        if has_ollama_limits and not self.images_why:
            raise ValueError("ollama_images_* limits differ from the model's own: say why in images_why")
        if self.aliases and not self.ollama:
            raise ValueError("aliases name other Ollama tags for the same build, so an ollama tag is required")
        if self.vision_params_b >= self.params_b:
            raise ValueError("vision_params_b must be a part of params_b")
        if self.transformers == "native" and not self.arch:
            raise ValueError("a model transformers supports natively needs its model_type in arch")
        if self.transformers == "native" and not self.hf:
            raise ValueError("transformers support needs a Hugging Face repo")
        if self.cross_attn_layers >= self.layers:
            raise ValueError("cross_attn_layers must be fewer than layers")
        if self.max_resolution is None and self.max_pixels is None:
            raise ValueError("give max_resolution or max_pixels so engines know the pixel budget")
        if self.max_resolution is not None and min(self.max_resolution) <= 0:
            raise ValueError("max_resolution must be positive")
        if (self.images_per_message and self.images_per_request
                and self.images_per_message > self.images_per_request):
            raise ValueError("images_per_message cannot exceed images_per_request")
        if self.mem_bf16_gb <= self.mem_q4_gb:
            raise ValueError("mem_bf16_gb must exceed mem_q4_gb")
        return self

    @property
    def text_params_b(self) -> float:
        return self.params_b - self.vision_params_b

    @property
    def pixel_budget(self) -> int:
        if self.max_pixels:
            return self.max_pixels
        assert self.max_resolution is not None  # the validator requires one of the two
        w, h = self.max_resolution
        return w * h

    @property
    def limits(self) -> Limits:
        """The strictest limits over every engine: safe whichever engine runs the model."""
        return Limits(
            images_per_request=_tighter(self.images_per_request, self.ollama_images_per_request),
            images_per_message=_tighter(self.images_per_message, self.ollama_images_per_message),
            max_pixels=self.pixel_budget,
            max_resolution=self.max_resolution,
            min_side=self.min_side,
            tokens_per_image=self.tokens_per_image,
            parallel=self.ollama_parallel,
        )

    def limits_for(self, engine: str) -> Limits:
        """The limits one engine works under: Ollama's build may take fewer images than the model in-process."""
        if engine != "ollama":
            return replace(self.limits, images_per_request=self.images_per_request,
                           images_per_message=self.images_per_message)
        return replace(self.limits,
                       images_per_request=_tighter(self.images_per_request, self.ollama_images_per_request),
                       images_per_message=_tighter(self.images_per_message, self.ollama_images_per_message))

    def names(self) -> set[str]:
        """Every normalized name `find` answers to for this model."""
        out = {self.id.lower()}
        out.update(_ollama_key(t) for t in (self.ollama, *self.aliases) if t)
        if self.hf:
            out.add(self.hf.lower())
        return out


def _tighter(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _ollama_key(tag: str) -> str:
    tag = tag.lower()
    for prefix in ("registry.ollama.ai/library/", "library/"):
        tag = tag.removeprefix(prefix)
    return tag if ":" in tag else tag + ":latest"


def parse_catalog(text: str) -> list[ModelSpec]:
    """Validate catalog TOML text; raises CatalogError naming the entry and the field at fault."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CatalogError(f"catalog.toml is not valid TOML: {e}") from None
    extra = set(data) - {"model"}
    if extra:
        raise CatalogError(f"catalog.toml has unknown top-level keys {sorted(extra)}; only [[model]] tables belong")
    specs: list[ModelSpec] = []
    for i, entry in enumerate(data.get("model") or []):
        try:
            specs.append(ModelSpec.model_validate(entry))
        except ValidationError as e:
            raise CatalogError(f"catalog entry #{i + 1} ({entry.get('id', '?')}): {e}") from None
    if not specs:
        raise CatalogError("catalog.toml holds no [[model]] entries")
    seen: set[str] = set()
    for spec in specs:
        if spec.id in seen:
            raise CatalogError(f"catalog id {spec.id!r} appears twice")
        seen.add(spec.id)
    by_id = {s.id: s for s in specs}
    for spec in specs:
        if spec.ollama_instead:
            other = by_id.get(spec.ollama_instead)
            if other is None or not other.ollama:
                raise CatalogError(f"{spec.id}: ollama_instead {spec.ollama_instead!r} is not a catalog id with an "
                                   "Ollama tag")
    owner: dict[str, str] = {}
    for spec in specs:
        for name in sorted(spec.names()):
            # A name shared by two entries would make find() depend on file order.
            if name in owner:
                raise CatalogError(f"{name!r} names both {owner[name]!r} and {spec.id!r}")
            owner[name] = spec.id
    return specs


@lru_cache(maxsize=1)
def load_catalog() -> list[ModelSpec]:
    """The catalog shipped with oculo, validated (cached: treat the list as read-only)."""
    text = resources.files(__package__).joinpath("catalog.toml").read_text(encoding="utf-8")
    return parse_catalog(text)


@lru_cache(maxsize=1)
def _index() -> dict[str, ModelSpec]:
    return {name: spec for spec in load_catalog() for name in spec.names()}


# Ollama's size-and-quantization tag variants: "7b-q4_K_M", "7b-v1.6-mistral-q4_0", "27b-it-qat", "8b-2.6-fp16".
_TAG_VARIANT = re.compile(r"^(?P<size>[^-]+)-.+$")


def ollama_tag_for(spec: ModelSpec) -> tuple[str | None, ModelSpec | None]:
    """Ollama's tag for `spec`, or (None, the closest catalog model that has one) when Ollama has no build."""
    if spec.ollama:
        return spec.ollama, spec
    other = find(spec.ollama_instead) if spec.ollama_instead else None
    return None, other


def find(name: str) -> ModelSpec | None:
    """The catalog entry for a catalog id, an Ollama tag or a Hugging Face repo id, or None.

    Ollama names match with or without ":latest" ("llava" is "llava:latest", the 7B) and with a quantization
    suffix ("qwen2.5vl:7b-q8_0"); Hugging Face ids match case-insensitively, and so do the bare repo name and a
    local folder named after the repo ("Qwen2.5-VL-3B-Instruct", "/models/Qwen2.5-VL-3B-Instruct").
    """
    raw = name.strip()
    if not raw:
        return None
    index = _index()
    key = raw.lower()
    if key in index:
        return index[key]
    if "/" not in key or key.startswith(("library/", "registry.ollama.ai/")):
        tag = _ollama_key(key)
        if tag in index:
            return index[tag]
        base, _, variant = tag.partition(":")
        m = _TAG_VARIANT.match(variant)
        if m and f"{base}:{m['size']}" in index:
            return index[f"{base}:{m['size']}"]
        if ":" in key:
            return None
    # A repo name without its org: `oculo serve` publishes models that way, and local folders keep it.
    leaf = key.rstrip("/").rsplit("/", 1)[-1]
    matches = [s for s in load_catalog() if s.hf and s.hf.lower().rsplit("/", 1)[-1] == leaf]
    return matches[0] if len(matches) == 1 else None
