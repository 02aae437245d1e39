"""Fetching a model: Ollama's /api/pull (streamed progress) or a Hugging Face snapshot for the in-process engine."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import EngineError, ModelNotFound, OculoError
from . import http
from .ollama import ollama_host

__all__ = ["PullEvent", "ollama_pull", "hf_pull", "hf_cached", "hf_size", "download_stopper", "human_size"]

# Ollama reports a registry it cannot reach with Go's network errors; these say "offline" to a person.
_OFFLINE_MARKERS = ("no such host", "dial tcp", "i/o timeout", "network is unreachable", "connection refused",
                    "tls handshake timeout", "server misbehaving")


@dataclass
class PullEvent:
    """One line of Ollama's pull stream: a status, and for layer downloads a digest with byte counts."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


def ollama_pull_events(tag: str, *, host: str | None = None,
                       transport: httpx.BaseTransport | None = None) -> Iterator[PullEvent]:
    base = ollama_host(host)
    # Downloads stall for minutes between layers on slow links; only connecting must be quick.
    timeout = httpx.Timeout(connect=5.0, read=None, write=60.0, pool=60.0)
    with http.make_client(base, transport, timeout=timeout) as client:
        try:
            with client.stream("POST", "/api/pull", json={"model": tag, "stream": True}) as resp:
                if resp.status_code >= 400:
                    raise _pull_error(tag, http.error_text(resp))
                for obj in http.json_lines(resp):
                    if "error" in obj:
                        raise _pull_error(tag, str(obj["error"]))
                    yield PullEvent(str(obj.get("status", "")), obj.get("digest"), obj.get("total"),
                                    obj.get("completed"))
        except httpx.TransportError as e:
            raise http.unreachable("Ollama", base, e, "start it with `ollama serve`, then pull again") from None


def _pull_error(tag: str, text: str) -> OculoError:
    low = text.lower()
    if any(m in low for m in _OFFLINE_MARKERS):
        return EngineError(f"Ollama cannot reach its registry to pull {tag!r} (offline?): {text.splitlines()[0]}")
    if "file does not exist" in low or "not found" in low:
        return ModelNotFound(f"the Ollama registry has no model {tag!r}; check the tag in the Ollama library")
    return EngineError(f"Ollama failed to pull {tag!r}: {text.splitlines()[0] if text else 'unknown error'}")


def ollama_pull(tag: str, *, host: str | None = None, on_event: Callable[[PullEvent], None] | None = None,
                transport: httpx.BaseTransport | None = None) -> None:
    """Pull `tag`, reporting each event; raises a one-line OculoError on failure."""
    last = None
    for event in ollama_pull_events(tag, host=host, transport=transport):
        last = event
        if on_event:
            on_event(event)
    if last is None or last.status != "success":
        raise EngineError(f"Ollama ended the pull of {tag!r} without success (last status: "
                          f"{last.status if last else 'none'}); run the pull again")


def hf_pull(repo_id: str, *, cache_dir: str | None = None, **kwargs: Any) -> str:
    """Download a model snapshot (weights, processor, template) into the Hugging Face cache; tqdm shows progress."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError
    except ImportError:
        raise OculoError("downloading for the in-process engine needs huggingface_hub; "
                         "install it with `pip install 'oculo[local]'`") from None
    try:
        return snapshot_download(repo_id, cache_dir=cache_dir, **kwargs)
    except GatedRepoError:
        raise ModelNotFound(f"{repo_id} is gated: accept its licence on huggingface.co, then run `hf auth login` "
                            "and pull again") from None
    except RepositoryNotFoundError:
        raise ModelNotFound(f"the Hugging Face hub has no repository {repo_id!r}; check the id") from None
    except LocalEntryNotFoundError:
        raise EngineError(f"cannot reach the Hugging Face hub to download {repo_id} (offline?); "
                          "connect and pull again, or copy a downloaded model folder here and pass it with -m"
                          ) from None
    except OSError as e:
        raise EngineError(f"downloading {repo_id} failed: {str(e).splitlines()[0]}") from None


_TRUE = {"1", "true", "yes", "on"}


def download_stopper(no_download: bool = False) -> str | None:
    """What forbids downloading a model now (a flag or an environment variable, as the user would type it), or None."""
    if no_download:
        return "--no-download"
    for var in ("OCULO_NO_DOWNLOAD", "HF_HUB_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return f"{var}=1"
    try:  # huggingface_hub reads HF_HUB_OFFLINE once, at import: honour what it decided too
        from huggingface_hub.constants import is_offline_mode

        if is_offline_mode():
            return "HF_HUB_OFFLINE=1"
    except ImportError:
        pass
    return None


def hf_cache_dir() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        return os.environ.get("HF_HUB_CACHE") or HF_HUB_CACHE
    except ImportError:
        return "~/.cache/huggingface/hub"


def hf_cached(repo_id: str) -> str | None:
    """The cached snapshot folder of `repo_id`, or None; never touches the network."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo_id, local_files_only=True, cache_dir=os.environ.get("HF_HUB_CACHE"))
    except Exception:  # noqa: BLE001 - not cached, half-cached, or huggingface_hub missing: all mean "not here"
        return None


def hf_size(repo_id: str, *, timeout: float = 10.0) -> int | None:
    """Bytes a snapshot of `repo_id` would download (the hub's file sizes), or None when the hub will not say."""
    try:
        from huggingface_hub import HfApi

        info = HfApi().model_info(repo_id, files_metadata=True, timeout=timeout)
    except Exception:  # noqa: BLE001 - the download says why it fails; the size only feeds the announcement
        return None
    sizes = [s.size for s in info.siblings or [] if s.size is not None]
    return sum(sizes) if sizes else None


def human_size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"
