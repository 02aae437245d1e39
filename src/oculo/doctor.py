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
    area: str  # machine | ollama | openai | transformers | ask | ocr | video
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

    @property
    def ask(self) -> Check | None:
        """The answer to "can `oculo ask` run now?"."""
        return next((c for c in self.checks if c.area == "ask"), None)

    def to_dict(self) -> dict[str, Any]:
        ask = self.ask
        return {"machine": self.machine, "can_ask": bool(ask and ask.ok), "ask": ask.detail if ask else None,
                "checks": [asdict(c) for c in self.checks], "problems": len(self.problems)}


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
                                   f"not reachable at {base} ({_why(e)})",
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
                                   f"no OpenAI-compatible server at {base} ({_why(e)})",
                                   "start it (llama-server, vLLM, LM Studio) or fix OPENAI_BASE_URL"))


def _transformers(report: Report) -> None:
    torch_v, tf_v, xg_v = _version("torch"), _version("transformers"), _version("xgrammar")
    if not (torch_v and tf_v):
        report.checks.append(Check("transformers", "in-process engine", False,
                                   f"torch {torch_v or 'missing'}, transformers {tf_v or 'missing'}",
                                   "install it with `pip install 'oculo[local]'`"))
        return
    from .engines.torch_import import import_torch

    torch = import_torch()
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


# bench/cpu.py: int8 decoding of a SmolVLM-500M-shaped model on 2 cores. Speed scales about inversely with the
# weights' size and with cores; good for an order of magnitude, which is what "roughly how fast" asks.
_CPU_TOKENS_PER_S, _CPU_PARAMS, _CPU_CORES = 13.0, 0.5e9, 2  # measured idle: 13.2 tok/s


def _weights_params(folder: str) -> float | None:
    """Parameters in a model folder, from its safetensors' sizes and the dtype its config names."""
    import json
    from pathlib import Path

    files = list(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        dtype = str(config.get("dtype") or config.get("torch_dtype") or "float32")
    except (OSError, ValueError, AttributeError):
        dtype = "float32"
    return sum(f.stat().st_size for f in files) / (4 if "32" in dtype else 2)


def _speed(folder: str | None, gpu: bool, cores: int) -> str:
    if gpu:
        return "on the GPU"
    params = _weights_params(folder) if folder else None
    if params is None:
        return "speed unknown until the model is here"
    rate = _CPU_TOKENS_PER_S * (_CPU_PARAMS / params) * (max(1, cores) / _CPU_CORES)
    rate_text = "over 100" if rate > 100 else f"roughly {rate:.0f}"
    return f"{rate_text} tokens/s on CPU with int8 weights ({params / 1e6:,.0f}M parameters)"


def _ask(report: Report, host: str | None) -> None:
    """The question users bring: can `oculo ask` answer now, with which engine and model, and if not, the fix.

    It follows `open_engine`'s auto path (Ollama with a vision model, else the in-process default, downloaded on
    first use) without loading or downloading anything, and without contacting the hub."""
    from .engines.ollama import ollama_host
    from .engines.pull import download_stopper, hf_cache_dir, hf_cached

    model = os.environ.get("OCULO_MODEL") or None
    base = ollama_host(host)
    vision = next((c for c in report.checks if c.area == "ollama" and c.name == "vision models" and c.ok), None)
    if vision and not (model and os.path.isdir(model)):
        use = model or vision.detail.split(", ")[0]
        report.checks.append(Check("ask", "can ask run", True, f"yes: through Ollama at {base} with {use}"))
        return
    tried = "Ollama has no vision model" if any(c.area == "ollama" and c.ok for c in report.checks) \
        else f"Ollama at {base} is not reachable"
    engine = next((c for c in report.checks if c.name == "in-process engine"), None)
    if engine is None or not engine.ok:
        report.checks.append(Check("ask", "can ask run", False, f"no: {tried}, and the in-process engine is not "
                                   "installed", "start Ollama and `oculo pull moondream`, or "
                                   "`pip install 'oculo[local]'`"))
        return
    from .engines.resolve import EngineSettings, _name_for, default_local_model
    from .errors import OculoError

    try:
        repo = _name_for("transformers", model, EngineSettings()) if model else default_local_model()
    except OculoError as e:
        report.checks.append(Check("ask", "can ask run", False, f"no: {tried}, and {e}", "pass another -m"))
        return
    gpu = "CPU only" not in (engine.detail or "")
    folder = repo if os.path.isdir(repo) else hf_cached(repo)
    cores = int(report.machine.get("cores") or os.cpu_count() or 1)
    if folder:
        report.checks.append(Check("ask", "can ask run", True,
                                   f"yes: in-process with {repo}, {_speed(folder, gpu, cores)}"))
        return
    stopper = download_stopper()
    if stopper is None:
        from huggingface_hub.constants import ENDPOINT

        report.checks.append(Check("ask", "can ask run", True,
                                   f"yes, once {repo} is downloaded: the first ask fetches it from {ENDPOINT} "
                                   "(a one-time download)",
                                   f"fetch it now with `oculo pull {repo} --engine transformers`"))
        return
    report.checks.append(Check("ask", "can ask run", False,
                               f"no: {tried}, and {repo} is not in the Hugging Face cache ({hf_cache_dir()}) "
                               f"while downloading is off ({stopper})",
                               f"start Ollama and `oculo pull moondream`, or allow the download (unset "
                               f"{stopper.split('=')[0]}) or run `oculo pull {repo} --engine transformers`"))


def _extras(report: Report) -> None:
    """What reads text without a vision model, and what reads video."""
    import importlib.util
    import shutil

    have = {m: importlib.util.find_spec(m) is not None for m in ("rapidocr", "onnxruntime", "av")}
    rapid = have["rapidocr"] and have["onnxruntime"]
    report.checks.append(Check("ocr", "rapidocr", True if rapid else None,
                               f"rapidocr {_version('rapidocr')}" if rapid else "not installed",
                               None if rapid else "pip install 'oculo[ocr]'"))
    tess = shutil.which("tesseract")
    report.checks.append(Check("ocr", "tesseract", True if tess else None, tess or "not on PATH",
                               None if tess else "install it (apt install tesseract-ocr, brew install tesseract)"))
    report.checks.append(Check("video", "PyAV", True if have["av"] else None,
                               f"PyAV {_version('av')}" if have["av"] else "not installed: `oculo video` is off",
                               None if have["av"] else "pip install 'oculo[video]'"))


def diagnose(*, ollama_host: str | None = None, base_url: str | None = None, timeout: float = 2.0) -> Report:
    report = Report()
    _machine(report)
    _ollama(report, ollama_host, timeout)
    _openai(report, base_url, timeout)
    _transformers(report)
    _ask(report, ollama_host)
    _extras(report)
    return report


def _why(e: Exception) -> str:
    """A failed probe in words a user knows, not an exception's class name."""
    if isinstance(e, httpx.ConnectError):
        return "nothing answers there"
    if isinstance(e, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(e, ValueError):
        return "it answered, but not as that server would"
    return str(e).splitlines()[0] if str(e).strip() else "it did not answer as expected"
