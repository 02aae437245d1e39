"""`oculo doctor`: what this machine has, which engines answer, and each problem with its fix."""

from __future__ import annotations

import importlib.metadata as md
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

__all__ = ["Check", "Report", "diagnose"]


@dataclass
class Check:
    area: str  # machine | ollama | openai | transformers
    name: str
    ok: bool | None  # None: information, not a pass/fail
    detail: str
    fix: str | None = None


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False]

    def to_dict(self) -> dict[str, Any]:
        return {"machine": self.machine, "checks": [asdict(c) for c in self.checks],
                "problems": len(self.problems)}


def _version(pkg: str) -> str | None:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return None


def _machine(report: Report) -> None:
    from .models.hardware import detect

    m = detect()
    report.machine = m.to_dict()
    gpus = ", ".join(f"{g.name} ({g.memory_gb:.0f} GB{', driver ' + g.driver if g.driver else ''})" for g in m.gpus)
    report.checks.append(Check("machine", "hardware", None,
                               f"{m.cpu}, {m.cores} cores, {m.ram_gb:.0f} GB RAM; "
                               f"{'GPU: ' + gpus if gpus else 'no GPU found'}; {m.usable_gb:.1f} GB usable for models"))
    for note in m.notes:
        report.checks.append(Check("machine", "note", None, note))


def _ollama(report: Report, host: str | None, timeout: float) -> None:
    from .engines.ollama import ollama_host

    explicit = host or os.environ.get("OLLAMA_HOST")
    base = ollama_host(host)
    try:
        with httpx.Client(base_url=base, timeout=timeout, trust_env=False) as c:
            version = c.get("/api/version").json().get("version", "?")
            tags = [t.get("name") for t in (c.get("/api/tags").json().get("models") or [])]
            vision = [n for n in tags if "vision" in (c.post("/api/show", json={"model": n}).json()
                                                       .get("capabilities") or [])]
    except (httpx.HTTPError, ValueError) as e:
        # Without Ollama the in-process engine still works, so this is a problem only if the user pointed at one.
        report.checks.append(Check("ollama", "server", False if explicit else None,
                                   f"not reachable at {base} ({type(e).__name__})",
                                   "install Ollama and run `ollama serve`, or set OLLAMA_HOST to where it runs"))
        return
    report.checks.append(Check("ollama", "server", True, f"Ollama {version} at {base}"))
    if vision:
        report.checks.append(Check("ollama", "vision models", True, ", ".join(vision)))
    else:
        report.checks.append(Check("ollama", "vision models", False,
                                   f"none pulled ({len(tags)} other model(s))",
                                   "pull one: `oculo recommend` says which, then `oculo pull ID`"))


def _openai(report: Report, base_url: str | None, timeout: float) -> None:
    from .engines.openai import openai_base_url

    explicit = base_url or os.environ.get("OPENAI_BASE_URL")
    base = openai_base_url(base_url)
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as c:
            data = c.get(base + "/models").json().get("data") or []
        report.checks.append(Check("openai", "server", True,
                                   f"{base} serves: {', '.join(d.get('id', '?') for d in data) or 'nothing'}"))
    except (httpx.HTTPError, ValueError) as e:
        # Not having one is normal; it is a problem only when the user pointed us at one.
        report.checks.append(Check("openai", "server", False if explicit else None,
                                   f"no OpenAI-compatible server at {base} ({type(e).__name__})",
                                   "start it (llama-server, vLLM, LM Studio) or fix OPENAI_BASE_URL"))


def _transformers(report: Report) -> None:
    torch_v, tf_v, xg_v = _version("torch"), _version("transformers"), _version("xgrammar")
    if not (torch_v and tf_v):
        report.checks.append(Check("transformers", "in-process engine", False,
                                   f"torch {torch_v or 'missing'}, transformers {tf_v or 'missing'}",
                                   "install it with `pip install 'oculo[local]'`"))
        return
    import torch

    if torch.cuda.is_available():
        dev = f"CUDA {torch.version.cuda} on {torch.cuda.get_device_name(0)}"
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        dev = "Apple MPS"
    else:
        dev = "CPU only"
    report.checks.append(Check("transformers", "in-process engine", True,
                               f"torch {torch_v} ({dev}), transformers {tf_v}"))
    if torch.version.cuda and not torch.cuda.is_available() and report.machine.get("accelerator") == "cuda":
        report.checks.append(Check("transformers", "cuda", False, "an NVIDIA GPU is present but torch cannot use it",
                                   "update the NVIDIA driver, or install the torch build that matches it"))
    report.checks.append(Check("transformers", "structured output", bool(xg_v),
                               f"xgrammar {xg_v}" if xg_v else "xgrammar missing: --schema unavailable in-process",
                               None if xg_v else "pip install xgrammar"))


def diagnose(*, ollama_host: str | None = None, base_url: str | None = None, timeout: float = 2.0) -> Report:
    report = Report()
    _machine(report)
    _ollama(report, ollama_host, timeout)
    _openai(report, base_url, timeout)
    _transformers(report)
    engines = [c for c in report.checks if c.name in ("server", "in-process engine")]
    if not any(c.ok for c in engines):
        report.checks.append(Check("engines", "any engine", False, "no engine can run a model on this machine",
                                   "start Ollama (`ollama serve`) or install the in-process engine: "
                                   "`pip install 'oculo[local]'`"))
    return report
