"""What this node has to offer: CPUs and memory (psutil), NVIDIA GPUs (NVML).

No driver, no library or no device all mean zero GPUs, cleanly: most workstations that join a
cluster later have none, and CI has none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import psutil

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GpuInfo:
    index: int
    model: str
    memory_bytes: int


@dataclass(frozen=True)
class Capacity:
    cpu: float
    memory: int
    gpus: list[GpuInfo] = field(default_factory=list)


def _load_nvml() -> ModuleType | None:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


@contextmanager
def _session(nvml: Any) -> Iterator[Any]:
    """An initialised NVML, or None when there is no library, driver or device."""
    nvml = nvml if nvml is not None else _load_nvml()
    if nvml is None:
        yield None
        return
    try:
        nvml.nvmlInit()
    except Exception as exc:
        log.debug("no NVIDIA GPUs: %s", exc)
        yield None
        return
    try:
        yield nvml
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            log.debug("nvmlShutdown failed", exc_info=True)


def detect_gpus(nvml: Any = None) -> list[GpuInfo]:
    """Ask NVML for devices; any NVML error (no driver, no device) means no GPUs."""
    with _session(nvml) as session:
        if session is None:
            return []
        try:
            gpus = []
            for index in range(session.nvmlDeviceGetCount()):
                handle = session.nvmlDeviceGetHandleByIndex(index)
                name = session.nvmlDeviceGetName(handle)
                memory = session.nvmlDeviceGetMemoryInfo(handle)
                model = name.decode() if isinstance(name, bytes) else str(name)
                gpus.append(GpuInfo(index=index, model=model, memory_bytes=int(memory.total)))
            return gpus
        except Exception as exc:
            log.warning("NVML answered but listing GPUs failed: %s", exc)
            return []


def gpu_utilisation(nvml: Any = None) -> dict[int, tuple[float, int]]:
    """Per GPU index: (utilisation percent, memory used bytes); empty without NVML."""
    with _session(nvml) as session:
        if session is None:
            return {}
        try:
            result = {}
            for index in range(session.nvmlDeviceGetCount()):
                handle = session.nvmlDeviceGetHandleByIndex(index)
                rates = session.nvmlDeviceGetUtilizationRates(handle)
                memory = session.nvmlDeviceGetMemoryInfo(handle)
                result[index] = (float(rates.gpu), int(memory.used))
            return result
        except Exception:
            return {}


def detect(
    cpus: float | None = None, memory: int | None = None, gpus: int | None = None, nvml: Any = None
) -> Capacity:
    """Detected capacity; explicit values override (also how heterogeneous nodes are simulated)."""
    found = detect_gpus(nvml) if gpus is None or gpus > 0 else []
    if gpus is not None:
        found = found[:gpus] + [GpuInfo(i, "simulated", 0) for i in range(len(found), gpus)]
    return Capacity(
        cpu=float(cpus if cpus is not None else psutil.cpu_count() or 1),
        memory=int(memory if memory is not None else psutil.virtual_memory().total),
        gpus=found,
    )
