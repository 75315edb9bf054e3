"""Describe the machine a benchmark ran on, and measure memory per phase.

`describe_machine()` returns plain JSON-able facts (CPU model, cores the
process may use, torch threads, RAM, GPU, library versions, load average);
`PeakMemory` reads the process's peak resident memory (Linux VmHWM) and can
reset it between phases, so one process can report the peak of loading,
setup and fitting separately.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

from models.cores import usable_cores


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo, else platform)."""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def total_ram_gib() -> float | None:
    """Physical memory (or the cgroup limit when lower), GiB."""
    total = None
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            total = int(line.split()[1]) * 1024
    limit = _read("/sys/fs/cgroup/memory.max").strip()
    if limit.isdigit():
        total = min(total or int(limit), int(limit))
    return None if total is None else round(total / 2**30, 1)


def load_average() -> tuple[float, float, float] | None:
    """1, 5 and 15 minute load averages (runnable processes), or None."""
    try:
        return tuple(round(x, 2) for x in os.getloadavg())  # type: ignore[return-value]
    except OSError:
        return None


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape the numbers."""
    out = {"python": platform.python_version()}
    for name in ("torch", "numpy", "mitsuba", "drjit"):
        try:
            module = __import__(name)
            out[name] = str(getattr(module, "__version__", "?"))
        except Exception:  # not installed, or fails to import: say so
            out[name] = "not available"
    return out


def gpu_name() -> str | None:
    """The CUDA device's name, or None without one."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:
        pass
    return None


def describe_machine() -> dict:
    """JSON-able description of this machine and process, for BENCHMARKS.md."""
    import torch

    return {
        "cpu": cpu_model(),
        "cores_usable": usable_cores(),
        "cores_total": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "ram_gib": total_ram_gib(),
        "gpu": gpu_name(),
        "os": f"{platform.system()} {platform.release()}",
        "load_average": load_average(),
        "versions": versions(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def machine_line(m: dict) -> str:
    """One Markdown line: 'AMD EPYC, 2 of 2 cores, torch 2 threads, 23 GiB ...'."""
    gpu = m.get("gpu") or "no GPU"
    v = m.get("versions", {})
    return (
        f"{m['cpu']}, {m['cores_usable']} usable core(s) of {m['cores_total']}, torch {m['torch_threads']} "
        f"thread(s), {m['ram_gib']} GiB RAM, {gpu}; {m['os']}; Python {v.get('python')}, torch {v.get('torch')}, "
        f"numpy {v.get('numpy')}, Mitsuba {v.get('mitsuba')}"
    )


# ---------------------------------------------------------------- memory


def _status_kib(key: str) -> int | None:
    for line in _read("/proc/self/status").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def current_rss_mib() -> float:
    """Resident memory now, MiB."""
    kib = _status_kib("VmRSS")
    return float("nan") if kib is None else kib / 1024


def peak_rss_mib() -> float:
    """Peak resident memory since start (or the last reset), MiB: VmHWM on
    Linux, else getrusage's ru_maxrss."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if platform.system() == "Darwin":  # bytes there
            kib //= 1024
    return kib / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0,
    `echo 5 > /proc/self/clear_refs`); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dataclass
class PeakMemory:
    """Peak resident memory (and CUDA memory) of named phases of one process.

        mem = PeakMemory(device)
        with mem.phase("load"): ...
        mem.peaks  # {"load": {"rss_mib": ..., "rss_peak_mib": ..., ...}}

    `rss_peak_mib` is the process's peak RSS during the phase (it includes
    whatever was resident when the phase began); `rss_end_mib` the RSS when
    it ended; `cuda_peak_mib` torch.cuda.max_memory_allocated during the
    phase on CUDA; `wall_s` and `cpu_s` its wall and CPU time.
    """

    device: str = "cpu"
    peaks: dict[str, dict[str, float]] = field(default_factory=dict)
    resettable: bool = True

    def phase(self, name: str) -> _Phase:
        return _Phase(self, name)

    def overall_peak_mib(self) -> float:
        return max((p["rss_peak_mib"] for p in self.peaks.values()), default=float("nan"))


class _Phase:
    def __init__(self, owner: PeakMemory, name: str):
        self.owner, self.name = owner, name

    def __enter__(self) -> _Phase:
        self.owner.resettable = reset_peak_rss() and self.owner.resettable
        if self.owner.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self.rss_start = current_rss_mib()
        self.t0, self.c0 = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        entry = {
            "rss_start_mib": round(self.rss_start, 1),
            "rss_peak_mib": round(peak_rss_mib(), 1),
            "rss_end_mib": round(current_rss_mib(), 1),
            "wall_s": round(time.perf_counter() - self.t0, 2),
            "cpu_s": round(cpu_seconds() - self.c0, 2),
        }
        if self.owner.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            entry["cuda_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        self.owner.peaks[self.name] = entry
