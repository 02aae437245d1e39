"""What machine is this, and how much memory can a model use on it?

`detect()` asks NVML, nvidia-smi, rocm-smi, sysfs and sysctl in turn; each probe may be missing or print
garbage, which only means "not that vendor" and leaves a line in `Machine.notes`. The parsers are pure
functions so they can be tested on captured tool output.

All sizes are GiB (2**30 bytes), called "GB" like nvidia-smi's and Ollama's displays do. A model size
quoted in decimal GB is the larger number, so comparing it against GiB errs on the safe side.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["GPU", "OVERRIDE_ENV", "Machine", "apple_usable_gb", "cpu_usable_gb", "detect", "parse_meminfo",
           "parse_nvidia_smi", "parse_rocm_smi", "parse_sysfs_amd"]
Run = Callable[..., Any]

OVERRIDE_ENV = "OCULO_VRAM_GB"
TIMEOUT_S = 5.0  # a hung driver can stall nvidia-smi for minutes; a healthy one answers in well under a second
MIN_GPU_GB = 2.0  # below this it is an integrated GPU's carve-out, not somewhere to put a VLM
NVIDIA_QUERY = "name,memory.total,memory.free,driver_version,compute_cap"
_GIB = 1024**3


@dataclass
class GPU:
    vendor: Literal["nvidia", "amd", "apple", "intel"]
    name: str
    memory_gb: float  # 0.0 when the tool cannot say (Jetson-style unified memory)
    free_gb: float | None = None
    driver: str | None = None
    compute: str | None = None  # CUDA compute capability ("8.9") or AMD gfx target ("gfx1100")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Machine:
    os: str
    arch: str
    cpu: str
    cores: int
    ram_gb: float
    gpus: list[GPU]
    usable_gb: float
    accelerator: Literal["cuda", "rocm", "mps", "cpu"]
    notes: list[str] = field(default_factory=list)
    memory_overridden: bool = False  # OCULO_VRAM_GB set usable_gb: plan as for a GPU of that size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _gib(total: float, free: float | None) -> tuple[float, float | None]:
    return round(total / _GIB, 2), None if free is None else round(free / _GIB, 2)


def _num(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:  # "[N/A]", "[Not Supported]", "[Insufficient Permissions]"
        return None


def _known(s: str) -> str | None:
    return None if not s or s.startswith("[") else s


def parse_nvidia_smi(text: str) -> list[GPU]:
    """Lines of `nvidia-smi --query-gpu=NVIDIA_QUERY --format=csv,noheader,nounits` (memory in MiB)."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) not in (4, 5) or not parts[0]:
            continue
        total, free = _num(parts[1]), _num(parts[2])
        # A row is a GPU only if its memory column is a number or nvidia-smi's own "[...]" placeholder;
        # that rejects error prose that happens to contain commas.
        if total is None and not parts[1].startswith("["):
            continue
        gpus.append(GPU("nvidia", parts[0], round((total or 0) / 1024, 2),
                        None if free is None else round(free / 1024, 2), _known(parts[3]),
                        _known(parts[4]) if len(parts) == 5 else None))
    return gpus


def _amd_card(info: Mapping[str, Any], driver: str | None) -> GPU | None:
    info = {str(k).strip().lower(): str(v).strip() for k, v in info.items()}
    total = _num(info.get("vram total memory (b)", ""))
    if not total:
        return None
    used = _num(info.get("vram total used memory (b)", ""))
    name = info.get("card series") or info.get("card model") or "AMD GPU"
    return GPU("amd", name, *_gib(total, None if used is None else total - used), driver,
               _known(info.get("gfx version", "")))


def parse_rocm_smi(text: str) -> list[GPU]:
    """`rocm-smi --showproductname --showmeminfo vram --json`, or the same without --json."""
    start = text.find("{")  # rocm-smi may print WARNING lines before the JSON (and stderr after it)
    try:
        data = json.JSONDecoder().raw_decode(text[start:])[0] if start >= 0 else None
    except ValueError:
        data = None
    cards: dict[str, dict[str, str]] = {}
    driver = None
    if isinstance(data, dict):
        cards = {k: v for k, v in data.items() if k.lower().startswith("card") and isinstance(v, dict)}
        system = data.get("system")
        driver = system.get("Driver version") if isinstance(system, dict) else None
    else:
        for m in re.finditer(r"^GPU\[(\d+)\]\s*:\s*(.+?)\s*:\s*(.*?)\s*$", text, re.MULTILINE):
            cards.setdefault(f"card{m[1]}", {})[m[2]] = m[3]
    found = (_amd_card(v, driver) for _, v in sorted(cards.items(), key=lambda kv: _index(kv[0])))
    return [g for g in found if g]


def _index(name: str) -> int:
    m = re.search(r"\d+$", name)
    return int(m[0]) if m else 0


def parse_sysfs_amd(root: Path) -> list[GPU]:
    """amdgpu's files under ROOT (normally /sys): class/drm/cardN/device/{vendor,mem_info_vram_*,product_name}."""
    gpus = []
    cards = [c for c in (root / "class" / "drm").glob("card*") if re.fullmatch(r"card\d+", c.name)]
    for card in sorted(cards, key=lambda c: _index(c.name)):
        dev = card / "device"
        total = _num(_read(dev / "mem_info_vram_total") or "")
        if (_read(dev / "vendor") or "").lower() != "0x1002" or not total:
            continue
        used = _num(_read(dev / "mem_info_vram_used") or "")
        name = _read(dev / "product_name") or f"AMD GPU {_read(dev / 'device') or card.name}"
        gpus.append(GPU("amd", name, *_gib(total, None if used is None else total - used)))
    return gpus


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def parse_meminfo(text: str) -> tuple[float, float]:
    """(MemTotal, MemAvailable) in GiB from /proc/meminfo; raises ValueError without MemTotal."""
    kb = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+):\s+(\d+)\s*kB", text, re.MULTILINE)}
    if "MemTotal" not in kb:
        raise ValueError("no MemTotal in meminfo")
    # MemAvailable exists since Linux 3.14; before that free + page cache is the usual estimate.
    avail = kb.get("MemAvailable", kb.get("MemFree", 0) + kb.get("Buffers", 0) + kb.get("Cached", 0))
    return round(kb["MemTotal"] / 1024**2, 2), round(avail / 1024**2, 2)


def apple_usable_gb(ram_gb: float) -> float:
    """Metal's default recommendedMaxWorkingSetSize: 2/3 of RAM up to 36 GiB, 3/4 above.

    Same rule as mistral.rs (mistralrs-core/src/utils/memory_usage.rs, metal_sysctl_floor_bytes); matches the
    10.67 GiB reported on 16 GiB M-series Macs (exo-explore/exo#1672). Recent macOS can grant more on big
    machines (107.5 GiB of 128, antirez/ds4#893), so this is the conservative floor. A user-set
    `sysctl iogpu.wired_limit_mb` replaces it; detect() reads that.
    """
    return round(ram_gb * (2 / 3 if ram_gb <= 36 else 3 / 4), 2)


def cpu_usable_gb(ram_gb: float) -> float:
    """RAM minus a reserve of 20% or 2 GiB, whichever is larger.

    The OS, desktop, browser and oculo itself (Python, torch, decoded images) live in the same RAM; 20% grows
    with the machine's services and page cache, and the 2 GiB floor keeps an 8 GiB laptop from being
    planned to the last byte, where it would swap.
    """
    return round(max(0.0, ram_gb - max(0.2 * ram_gb, 2.0)), 2)


def _call(run: Run, args: list[str], notes: list[str]) -> tuple[int, str] | None:
    """(returncode, stdout + stderr) or None if the tool cannot be run at all. Never raises."""
    try:
        p = run(args, capture_output=True, text=True, timeout=TIMEOUT_S)
        return int(p.returncode or 0), f"{p.stdout or ''}{p.stderr or ''}"
    except FileNotFoundError:
        notes.append(f"{args[0]}: not installed")
    except subprocess.TimeoutExpired:
        notes.append(f"{args[0]}: no answer within {TIMEOUT_S:g}s")
    except Exception as e:  # noqa: BLE001 - PermissionError, a broken binary: all mean "cannot ask this tool"
        notes.append(f"{args[0]}: {type(e).__name__}: {e}")
    return None


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "(no output)")


def _nvml_gpus(nvml: Any) -> list[GPU]:
    def s(v: Any) -> str:  # pynvml before 11.5 returns bytes
        return v.decode() if isinstance(v, bytes) else str(v)

    nvml.nvmlInit()
    try:
        driver = s(nvml.nvmlSystemGetDriverVersion())
        gpus = []
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            mem = nvml.nvmlDeviceGetMemoryInfo(h)
            try:
                major, minor = nvml.nvmlDeviceGetCudaComputeCapability(h)
                cc: str | None = f"{major}.{minor}"
            except Exception:  # noqa: BLE001 - NVMLError_NotSupported on some boards; the rest is still good
                cc = None
            gpus.append(GPU("nvidia", s(nvml.nvmlDeviceGetName(h)), *_gib(mem.total, mem.free), driver, cc))
        return gpus
    finally:
        with contextlib.suppress(Exception):  # nothing to do about a failed shutdown
            nvml.nvmlShutdown()


def _nvidia(run: Run, nvml: Any, notes: list[str]) -> list[GPU]:
    if nvml is None:
        try:
            import pynvml  # the nvidia-ml-py package; optional

            nvml = pynvml
        except ImportError:
            nvml = False
    if nvml is not False:
        try:
            if gpus := _nvml_gpus(nvml):
                return gpus
        except Exception as e:  # noqa: BLE001 - NVMLError_LibraryNotFound, _DriverNotLoaded...: try the CLI
            notes.append(f"NVML: {e or type(e).__name__}; trying nvidia-smi")
    args = ["nvidia-smi", f"--query-gpu={NVIDIA_QUERY}", "--format=csv,noheader,nounits"]
    res = _call(run, args, notes)
    if res and "not a valid field" in res[1]:  # drivers before ~510 have no compute_cap field
        res = _call(run, [args[0], args[1].removesuffix(",compute_cap"), args[2]], notes)
    if res is None:
        return []
    if gpus := (parse_nvidia_smi(res[1]) if res[0] == 0 else []):
        return gpus
    notes.append(f"nvidia-smi: {_first_line(res[1])}")
    return []


def _amd(run: Run, sys_root: Path, notes: list[str]) -> list[GPU]:
    res = _call(run, ["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"], notes)
    if res is not None:
        if gpus := parse_rocm_smi(res[1]):
            return gpus
        notes.append(f"rocm-smi: no GPU in its output ({_first_line(res[1])})")
    gpus = parse_sysfs_amd(sys_root)
    if gpus and res is None:
        notes.append("AMD GPU found in sysfs but rocm-smi is missing: install ROCm for GPU inference")
    elif not gpus:
        notes.append(f"no AMD GPU in {sys_root / 'class' / 'drm'}")
    return gpus


def _sysctl(run: Run, key: str, notes: list[str], pattern: str = r".+") -> str | None:
    if (res := _call(run, ["sysctl", "-n", key], notes)) is None:
        return None
    value = _first_line(res[1])
    if res[0] == 0 and value.isprintable() and re.fullmatch(pattern, value):
        return value
    notes.append(f"sysctl {key}: {f'exit {res[0]}' if res[0] else 'unexpected output'} {value[:60]!r}")
    return None


def _ram_gb(system: str, run: Run, root: Path, notes: list[str]) -> float:
    if system == "Darwin":
        if v := _sysctl(run, "hw.memsize", notes, r"\d+"):
            return round(int(v) / _GIB, 2)
    else:
        try:
            return parse_meminfo((root / "proc" / "meminfo").read_text())[0]
        except (OSError, ValueError):
            pass
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / _GIB, 2)
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        notes.append("could not read the size of system memory")
        return 0.0


def _cpu_name(system: str, run: Run, root: Path, notes: list[str]) -> str:
    if system == "Darwin":
        return _sysctl(run, "machdep.cpu.brand_string", notes) or platform.processor() or "unknown"
    m = re.search(r"^model name\s*:\s*(.+)$", _read(root / "proc" / "cpuinfo") or "", re.MULTILINE)
    return m[1].strip() if m else (platform.processor() or platform.machine() or "unknown")


def _override(env: Mapping[str, str], notes: list[str]) -> float | None:
    raw = (env.get(OVERRIDE_ENV) or "").strip()
    if not raw:
        return None
    try:
        v = float(raw)
    except ValueError:
        v = 0.0
    if v > 0 and math.isfinite(v):
        return v
    notes.append(f"{OVERRIDE_ENV}={raw!r} ignored: expected a positive number of GB")
    return None


def detect(*, run: Run = subprocess.run, env: Mapping[str, str] = os.environ, system: str | None = None,
           arch: str | None = None, root: Path = Path("/"), nvml: Any = None) -> Machine:
    """Probe this machine. Never raises: whatever cannot be learned is said in `notes`.

    `system`/`arch` override platform.system()/machine(), `root` is where /proc and /sys are found, and
    `nvml` is the pynvml module (None: import it if installed; False: skip NVML) — all for tests.
    """
    notes: list[str] = []
    system = system or platform.system()
    raw_arch = (arch or platform.machine() or "unknown").lower()
    arch = {"amd64": "x86_64", "aarch64": "arm64"}.get(raw_arch, raw_arch)
    try:
        ram = _ram_gb(system, run, root, notes)
        cpu = _cpu_name(system, run, root, notes)
    except Exception as e:  # noqa: BLE001 - last line of defence: `oculo doctor` must always print
        notes.append(f"system probe failed: {type(e).__name__}: {e}")
        ram, cpu = 0.0, "unknown"
    gpus: list[GPU] = []
    accel: Literal["cuda", "rocm", "mps", "cpu"] = "cpu"
    usable = cpu_usable_gb(ram)
    try:
        # Python under Rosetta reports x86_64 on an Apple Silicon Mac; the GPU is still there.
        if system == "Darwin" and arch != "arm64" and _sysctl(run, "hw.optional.arm64", notes, "[01]") == "1":
            notes.append("Python runs under Rosetta (x86_64); install an arm64 Python to use the GPU")
            arch = "arm64"
        if system == "Darwin" and arch == "arm64":
            gpus, accel, usable = [GPU("apple", cpu, ram)], "mps", apple_usable_gb(ram)
            wired = _sysctl(run, "iogpu.wired_limit_mb", notes, r"\d+")
            if wired and int(wired) > 0:  # 0 means "macOS default"
                usable = round(int(wired) / 1024, 2)
                notes.append(f"iogpu.wired_limit_mb={wired} sets the GPU memory limit")
        elif system != "Darwin":
            if gpus := _nvidia(run, nvml, notes):
                accel = "cuda"
            elif system == "Linux" and (gpus := _amd(run, root / "sys", notes)):
                accel = "rocm"
            usable, accel = _plan(gpus, accel, usable, notes)
    except Exception as e:  # noqa: BLE001 - as above
        notes.append(f"GPU probe failed: {type(e).__name__}: {e}")
    forced = _override(env, notes)
    if forced is not None:
        notes.append(f"{OVERRIDE_ENV}={forced:g} overrides the detected {usable:.1f} GB")
        usable = forced
    return Machine(system.lower(), arch, cpu, os.cpu_count() or 1, ram, gpus, usable, accel, notes,
                   memory_overridden=forced is not None)


def _plan(gpus: list[GPU], accel: Any, cpu_usable: float, notes: list[str]) -> tuple[float, Any]:
    if not gpus:
        return cpu_usable, "cpu"
    sized = [g for g in gpus if g.memory_gb > 0]
    if not sized:  # Jetson: the GPU shares system RAM and nvidia-smi says [N/A]
        notes.append("GPU memory not reported (unified memory?): planning with system RAM")
        return cpu_usable, accel
    best = max(sized, key=lambda g: g.memory_gb)
    if best.memory_gb < MIN_GPU_GB:
        notes.append(f"{best.name} has only {best.memory_gb:g} GB: planning for the CPU")
        return cpu_usable, "cpu"
    if len(sized) > 1:
        notes.append(f"{len(sized)} GPUs, {sum(g.memory_gb for g in sized):.1f} GB together: runners that split a "
                     "model across GPUs (llama.cpp, vLLM tensor parallel) can use the sum; planning for one GPU")
    if best.free_gb is not None and best.free_gb < 0.9 * best.memory_gb:
        notes.append(f"{best.name}: only {best.free_gb:.1f} of {best.memory_gb:.1f} GB free right now")
    return best.memory_gb, accel
