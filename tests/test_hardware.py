"""oculo.models.hardware: parsers on captured tool output, and every path through detect() with a fake `run`.

The captures under tests/data/hardware/ follow the formats of nvidia-smi, rocm-smi, amdgpu's sysfs files,
/proc/meminfo and macOS sysctl; CI has none of those GPUs, so detect() is driven through injected
`run`, `system`/`arch`, `root` and `nvml` instead.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import types
from pathlib import Path

import pytest

from oculo.models.hardware import (
    GPU,
    OVERRIDE_ENV,
    Machine,
    apple_usable_gb,
    cpu_usable_gb,
    detect,
    parse_meminfo,
    parse_nvidia_smi,
    parse_rocm_smi,
    parse_sysfs_amd,
)

DATA = Path(__file__).parent / "data" / "hardware"


def cap(name: str) -> str:
    return (DATA / name).read_text()


def sysctl_outputs(name: str) -> dict:
    """`sysctl a b c` prints `key: value` lines; `sysctl -n key` prints the value alone."""
    pairs = (line.split(": ", 1) for line in cap(name).splitlines() if line.strip())
    return {f"sysctl {k}": v + "\n" for k, v in pairs}


def fake_run(outputs: dict):
    """A stand-in for subprocess.run: text, (rc, text), an exception, or a list of those (one per call).

    A command not in `outputs` is a tool that is not installed.
    """
    calls: list[list[str]] = []

    def run(args, **kw):
        calls.append(list(args))
        assert 0 < kw["timeout"] <= 10 and kw["capture_output"] and kw["text"]
        key = f"sysctl {args[-1]}" if args[0] == "sysctl" else args[0]
        if key not in outputs:
            raise FileNotFoundError(2, "No such file or directory", args[0])
        out = outputs[key]
        if isinstance(out, list):
            out = out.pop(0)
        if isinstance(out, BaseException):
            raise out
        rc, text = out if isinstance(out, tuple) else (0, out)
        return subprocess.CompletedProcess(args, rc, text, "")

    run.calls = calls
    return run


def fake_root(tmp_path: Path, sysfs: dict | None = None, meminfo: str = "proc_meminfo.txt") -> Path:
    """A fake / with proc/meminfo, proc/cpuinfo and, optionally, a /sys tree from {path under /sys: contents}."""
    (tmp_path / "proc").mkdir(parents=True)
    (tmp_path / "proc" / "meminfo").write_text(cap(meminfo))
    (tmp_path / "proc" / "cpuinfo").write_text(cap("proc_cpuinfo_head.txt"))
    for rel, text in (sysfs or {}).items():
        if not rel.startswith("_"):
            (tmp_path / "sys" / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "sys" / rel).write_text(text)
    return tmp_path


def sysfs_7900xtx() -> dict:
    return json.loads(cap("sysfs_amd_7900xtx.json"))


def linux(tmp_path, outputs, **kw) -> Machine:
    kw = {"nvml": False, "env": {}, "system": "Linux", "arch": "x86_64", **kw}  # nvml=False: pynvml may be installed
    kw["root"] = kw.get("root") or fake_root(tmp_path)
    return detect(run=fake_run(outputs), **kw)


# ---- parsers ------------------------------------------------------------------------------------------------

def test_nvidia_smi_one_gpu():
    assert parse_nvidia_smi(cap("nvidia_smi_rtx4090.txt")) == [
        GPU("nvidia", "NVIDIA GeForce RTX 4090", 23.99, 23.33, "550.54.14", "8.9")]


def test_nvidia_smi_two_gpus():
    gpus = parse_nvidia_smi(cap("nvidia_smi_two_3090.txt"))
    assert [(g.name, g.memory_gb, g.free_gb) for g in gpus] == [
        ("NVIDIA GeForce RTX 3090", 24.0, 23.67), ("NVIDIA GeForce RTX 3090", 24.0, 3.0)]


def test_nvidia_smi_na_fields():
    orin, = parse_nvidia_smi(cap("nvidia_smi_jetson_orin.txt"))
    assert (orin.name, orin.memory_gb, orin.free_gb, orin.driver, orin.compute) == (
        "Orin (nvgpu)", 0.0, None, "540.4.0", "8.7")
    a100, = parse_nvidia_smi(cap("nvidia_smi_a100_mig.txt"))
    assert (a100.memory_gb, a100.free_gb, a100.compute) == (40.0, None, "8.0")


def test_nvidia_smi_without_compute_cap_column():
    gpu, = parse_nvidia_smi(cap("nvidia_smi_old_driver_no_cc.txt"))
    assert (gpu.name, gpu.memory_gb, gpu.driver, gpu.compute) == ("Quadro P2000", 5.0, "470.223.02", None)


@pytest.mark.parametrize("text", [cap("nvidia_smi_no_driver.txt"), cap("nvidia_smi_old_driver_compute_cap.txt"),
                                  "No devices were found\n", "", "a, b, c, d, e\n"])
def test_nvidia_smi_errors_are_no_gpus(text):
    assert parse_nvidia_smi(text) == []


def test_rocm_smi_json():
    assert parse_rocm_smi(cap("rocm_smi_7900xtx.json")) == [
        GPU("amd", "Radeon RX 7900 XTX", 23.98, 22.95, None, "gfx1100")]


def test_rocm_smi_json_after_warnings_and_with_driver():
    data = json.loads(cap("rocm_smi_7900xtx.json"))
    data["system"] = {"Driver version": "6.7.0"}
    gpu, = parse_rocm_smi("WARNING: AMD GPU device(s) is/are in a low-power state. Check power control/"
                          "runtime_status\n\n" + json.dumps(data) + "\n")
    assert (gpu.name, gpu.driver) == ("Radeon RX 7900 XTX", "6.7.0")


def test_rocm_smi_text():
    gpus = parse_rocm_smi(cap("rocm_smi_two_cards.txt"))
    assert [(g.name, g.memory_gb, g.free_gb, g.compute) for g in gpus] == [
        ("Radeon RX 7900 XTX", 23.98, 22.95, "gfx1100"), ("Radeon RX 6800 XT", 15.98, 15.97, "gfx1030")]


@pytest.mark.parametrize("text", [cap("rocm_smi_no_driver.txt"), "", "{not json", '{"card0": "x"}', "[]"])
def test_rocm_smi_errors_are_no_gpus(text):
    assert parse_rocm_smi(text) == []


def test_sysfs_amd(tmp_path):
    root = fake_root(tmp_path, sysfs_7900xtx())
    assert parse_sysfs_amd(root / "sys") == [GPU("amd", "AMD GPU 0x744c", 23.98, 22.95, None, None)]
    assert parse_sysfs_amd(tmp_path / "nowhere") == []


def test_sysfs_amd_product_name_and_garbage(tmp_path):
    files = sysfs_7900xtx()
    files["class/drm/card1/device/product_name"] = "AMD Radeon RX 7900 XTX\n"
    files["class/drm/card2/device/vendor"] = "0x1002\n"
    files["class/drm/card2/device/mem_info_vram_total"] = "garbage\n"
    gpu, = parse_sysfs_amd(fake_root(tmp_path, files) / "sys")
    assert gpu.name == "AMD Radeon RX 7900 XTX"


def test_meminfo():
    assert parse_meminfo(cap("proc_meminfo.txt")) == (31.07, 20.35)
    total, avail = parse_meminfo(cap("proc_meminfo_old_kernel.txt"))  # no MemAvailable: free + buffers + cached
    assert (total, avail) == (7.69, 4.04)
    with pytest.raises(ValueError):
        parse_meminfo("garbage")


@pytest.mark.parametrize("ram, usable", [(8, 5.33), (16, 10.67), (36, 24.0), (48, 36.0), (64, 48.0), (128, 96.0)])
def test_apple_usable(ram, usable):
    assert apple_usable_gb(ram) == usable


@pytest.mark.parametrize("ram, usable", [(1, 0.0), (4, 2.0), (8, 6.0), (32, 25.6), (128, 102.4)])
def test_cpu_usable(ram, usable):
    assert cpu_usable_gb(ram) == usable


# ---- detect(): one test per path -----------------------------------------------------------------------------

def test_detect_nvidia_smi(tmp_path):
    m = linux(tmp_path, {"nvidia-smi": cap("nvidia_smi_rtx4090.txt")})
    assert (m.os, m.arch, m.accelerator, m.usable_gb, m.ram_gb) == ("linux", "x86_64", "cuda", 23.99, 31.07)
    assert m.cpu == "AMD Ryzen 9 7950X 16-Core Processor" and m.cores >= 1
    assert m.gpus[0].compute == "8.9" and m.gpus[0].driver == "550.54.14"
    json.dumps(m.to_dict())  # doctor and `models --json` print it


def test_detect_two_gpus_notes_the_sum(tmp_path):
    m = linux(tmp_path, {"nvidia-smi": cap("nvidia_smi_two_3090.txt")})
    assert m.usable_gb == 24.0 and len(m.gpus) == 2
    assert any("48.0 GB together" in n for n in m.notes)


def test_detect_nvidia_driver_broken_falls_back_to_cpu(tmp_path):
    m = linux(tmp_path, {"nvidia-smi": (9, cap("nvidia_smi_no_driver.txt"))})
    assert m.accelerator == "cpu" and m.gpus == [] and m.usable_gb == cpu_usable_gb(31.07)
    assert any("couldn't communicate with the NVIDIA driver" in n for n in m.notes)
    assert any("rocm-smi: not installed" in n for n in m.notes)


def test_detect_old_driver_retries_without_compute_cap(tmp_path):
    run_outputs = {"nvidia-smi": [(2, cap("nvidia_smi_old_driver_compute_cap.txt")),
                                  cap("nvidia_smi_old_driver_no_cc.txt")]}
    m = linux(tmp_path, run_outputs)
    assert m.accelerator == "cuda" and m.gpus[0].name == "Quadro P2000" and m.usable_gb == 5.0


def test_detect_jetson_plans_with_system_ram(tmp_path):
    m = linux(tmp_path, {"nvidia-smi": cap("nvidia_smi_jetson_orin.txt")}, arch="aarch64")
    assert (m.arch, m.accelerator, m.usable_gb) == ("arm64", "cuda", cpu_usable_gb(31.07))


class NVMLError(Exception):
    pass


def fake_nvml(fail: bool = False):
    """Just the pynvml functions hardware.py calls. No NVIDIA GPU exists on CI, so NVML cannot run for real."""
    calls = []

    def init():
        calls.append("init")
        if fail:
            raise NVMLError("Driver Not Loaded")

    mem = types.SimpleNamespace(total=25757220864, free=25047334912, used=709885952)
    return types.SimpleNamespace(
        NVMLError=NVMLError, calls=calls, nvmlInit=init, nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlDeviceGetCount=lambda: 1, nvmlDeviceGetHandleByIndex=lambda i: f"handle{i}",
        nvmlDeviceGetName=lambda h: b"NVIDIA GeForce RTX 4090",  # bytes, as pynvml < 11.5 returns
        nvmlDeviceGetMemoryInfo=lambda h: mem, nvmlSystemGetDriverVersion=lambda: "550.54.14",
        nvmlDeviceGetCudaComputeCapability=lambda h: (8, 9))


def test_detect_nvml(tmp_path):
    nvml = fake_nvml()
    run = fake_run({})
    m = detect(run=run, env={}, system="Linux", arch="x86_64", root=fake_root(tmp_path), nvml=nvml)
    assert m.gpus == [GPU("nvidia", "NVIDIA GeForce RTX 4090", 23.99, 23.33, "550.54.14", "8.9")]
    assert m.accelerator == "cuda" and nvml.calls == ["init", "shutdown"]
    assert not any(c[0] == "nvidia-smi" for c in run.calls)


def test_detect_nvml_error_falls_back_to_nvidia_smi(tmp_path):
    m = linux(tmp_path, {"nvidia-smi": cap("nvidia_smi_rtx4090.txt")}, nvml=fake_nvml(fail=True))
    assert m.accelerator == "cuda" and m.gpus[0].name == "NVIDIA GeForce RTX 4090"
    assert any("NVML: Driver Not Loaded" in n for n in m.notes)


def test_detect_amd_rocm_smi(tmp_path):
    m = linux(tmp_path, {"rocm-smi": cap("rocm_smi_7900xtx.json")})
    assert (m.accelerator, m.usable_gb, m.gpus[0].name) == ("rocm", 23.98, "Radeon RX 7900 XTX")
    assert any("nvidia-smi: not installed" in n for n in m.notes)


def test_detect_amd_sysfs(tmp_path):
    m = linux(tmp_path, {}, root=fake_root(tmp_path, sysfs_7900xtx()))
    assert (m.accelerator, m.usable_gb, len(m.gpus)) == ("rocm", 23.98, 1)
    assert any("rocm-smi is missing" in n for n in m.notes)


def test_detect_amd_sysfs_after_rocm_smi_fails(tmp_path):
    m = linux(tmp_path, {"rocm-smi": (1, cap("rocm_smi_no_driver.txt"))}, root=fake_root(tmp_path, sysfs_7900xtx()))
    assert m.accelerator == "rocm" and any("Driver not initialized" in n for n in m.notes)


def test_detect_integrated_gpu_is_planned_as_cpu(tmp_path):
    files = sysfs_7900xtx()
    files["class/drm/card1/device/mem_info_vram_total"] = "536870912\n"  # a Ryzen APU's 512 MiB carve-out
    m = linux(tmp_path, {}, root=fake_root(tmp_path, files))
    assert m.accelerator == "cpu" and len(m.gpus) == 1 and m.usable_gb == cpu_usable_gb(31.07)


@pytest.mark.parametrize("capture, ram, usable", [("sysctl_m2_16gb.txt", 16.0, 10.67),
                                                  ("sysctl_m3max_64gb.txt", 64.0, 48.0)])
def test_detect_apple(capture, ram, usable):
    run = fake_run(sysctl_outputs(capture))
    m = detect(run=run, env={}, system="Darwin", arch="arm64", nvml=False)
    assert (m.os, m.accelerator, m.ram_gb, m.usable_gb) == ("darwin", "mps", ram, usable)
    assert m.gpus[0].vendor == "apple" and m.gpus[0].name == m.cpu and m.cpu.startswith("Apple M")
    assert all(c[0] == "sysctl" for c in run.calls)


def test_detect_apple_wired_limit_and_rosetta():
    outputs = sysctl_outputs("sysctl_m2_16gb.txt")
    outputs["sysctl iogpu.wired_limit_mb"] = "13312\n"
    m = detect(run=fake_run(outputs), env={}, system="Darwin", arch="x86_64", nvml=False)
    assert (m.arch, m.accelerator, m.usable_gb) == ("arm64", "mps", 13.0)
    assert any("Rosetta" in n for n in m.notes)


def test_detect_cpu_only(tmp_path):
    m = linux(tmp_path, {})
    assert (m.accelerator, m.gpus, m.ram_gb, m.usable_gb) == ("cpu", [], 31.07, 24.86)
    assert any("nvidia-smi: not installed" in n for n in m.notes)


@pytest.mark.parametrize("value, usable", [("12", 12.0), ("7.5", 7.5), ("lots", 23.99), ("-3", 23.99),
                                          ("nan", 23.99), ("inf", 23.99)])
def test_detect_override(tmp_path, value, usable):
    m = linux(tmp_path, {"nvidia-smi": cap("nvidia_smi_rtx4090.txt")}, env={OVERRIDE_ENV: value})
    assert m.usable_gb == usable and m.accelerator == "cuda"
    assert any(OVERRIDE_ENV in n for n in m.notes)


@pytest.mark.parametrize("failure", [subprocess.TimeoutExpired(["x"], 5), PermissionError(13, "denied"),
                                     (0, "\x00\xff garbage, ,,\n{[}"), (139, "")])
def test_detect_never_raises(tmp_path, failure):
    outputs = {k: failure for k in ("nvidia-smi", "rocm-smi", "sysctl hw.memsize", "sysctl machdep.cpu.brand_string",
                                    "sysctl hw.optional.arm64", "sysctl iogpu.wired_limit_mb")}
    for system, arch in (("Linux", "x86_64"), ("Darwin", "arm64"), ("Windows", "AMD64")):
        m = detect(run=fake_run(dict(outputs)), env={}, system=system, arch=arch, root=fake_root(tmp_path / system),
                   nvml=fake_nvml(fail=True))
        assert isinstance(m, Machine) and m.usable_gb >= 0 and m.notes


def test_detect_on_this_machine():
    m = detect(env={})
    assert m.ram_gb > 0 and m.usable_gb > 0 and m.cores >= 1
    has_gpu_tools = shutil.which("nvidia-smi") or shutil.which("rocm-smi") or platform.system() == "Darwin"
    if not has_gpu_tools and not Path("/sys/class/drm").exists():
        assert m.accelerator == "cpu" and m.gpus == [] and m.usable_gb < m.ram_gb
