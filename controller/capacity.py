"""What this node has to offer: CPUs and memory (psutil), NVIDIA GPUs (NVML).

No driver, no library or no device all mean zero GPUs, cleanly: most workstations that join a
cluster later have none, and CI has none. A node never offers GPUs it does not have: `--gpus N`
above what NVML finds is refused unless the operator asks for simulated ones (tests), and a stage
on simulated GPUs says so in its log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import psutil

from winslow.controller.runtime import RuntimeFailure
from winslow.resources.amount import Amount
from winslow.resources.quantity import format_memory

log = logging.getLogger(__name__)


SIMULATED = "simulated"


@dataclass(frozen=True)
class GpuInfo:
    index: int
    model: str
    memory_bytes: int

    @property
    def simulated(self) -> bool:
        return self.model == SIMULATED


@dataclass(frozen=True)
class Capacity:
    """What the node offers: the amounts it schedules, and which GPUs they are."""

    cpu: float
    memory: int
    gpus: list[GpuInfo] = field(default_factory=list)

    @property
    def amount(self) -> Amount:
        return Amount(self.cpu, self.memory, len(self.gpus))


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


class CapacityError(ValueError):
    """An override this machine cannot honour; the message names the flag and the fix."""


class GpuShortage(RuntimeFailure):
    """A stage would start with fewer GPUs than it requested."""


def detect(
    cpus: float | None = None,
    memory: int | None = None,
    gpus: int | None = None,
    nvml: Any = None,
    *,
    simulate_gpus: bool = False,
) -> Capacity:
    """Detected capacity; explicit values override (also how heterogeneous nodes are simulated).

    Fewer GPUs than found keeps the first ones; more is refused unless `simulate_gpus`, since a
    stage promised a GPU that does not exist would start and fail (or, worse, run on the CPU).
    """
    if simulate_gpus and gpus is None:
        raise CapacityError("--simulate-gpus needs --gpus N: say how many GPUs to simulate")
    found = detect_gpus(nvml) if gpus is None or gpus > 0 else []
    if gpus is not None:
        if gpus > len(found) and not simulate_gpus:
            models = ", ".join(f"{g.index}: {g.model}" for g in found) or "none"
            raise CapacityError(
                f"--gpus {gpus} is more than the {len(found)} NVIDIA GPU(s) NVML finds on this machine "
                f"({models}); give --gpus {len(found)} or less, or add --simulate-gpus for a test node "
                "whose stages get no devices"
            )
        found = found[:gpus] + [GpuInfo(i, SIMULATED, 0) for i in range(len(found), gpus)]
    return Capacity(
        cpu=float(cpus if cpus is not None else machine_cpus()),
        memory=int(memory if memory is not None else machine_memory()),
        gpus=found,
    )


def machine_cpus() -> float:
    return float(psutil.cpu_count() or 1)


def machine_memory() -> int:
    return int(psutil.virtual_memory().total)


def oversubscribed(capacity: Capacity, machine: Capacity | None = None) -> list[str]:
    """Overrides above the machine, each as the flag and the amount the machine has.

    They are allowed (a node may oversubscribe on purpose) but Docker refuses a container that
    asks for more CPUs than the machine has, so the node warns at start and names them when it does.
    """
    machine = machine or Capacity(cpu=machine_cpus(), memory=machine_memory())
    notes = []
    if capacity.cpu > machine.cpu:
        notes.append(f"--cpus {capacity.cpu:g} is above this machine's {machine.cpu:g} CPUs")
    if capacity.memory > machine.memory:
        have, want = format_memory(machine.memory), format_memory(capacity.memory)
        notes.append(f"--memory {want} is above this machine's {have}")
    return notes


def stage_gpus(capacity: Capacity, granted: list[int], requested: int) -> tuple[list[int], str]:
    """The devices to hand to Docker for a stage, and the words for its log's first line.

    A shortfall raises instead of starting the stage on fewer GPUs than it asked for; simulated
    GPUs (only with --simulate-gpus) are named as such and passed as no device.
    """
    if requested <= 0:
        return [], ""
    if len(granted) < requested:
        raise GpuShortage(
            f"the stage requests {requested} GPU(s) but this node granted {len(granted)} "
            f"({','.join(map(str, granted)) or 'none'}); it does not start without them"
        )
    by_index = {g.index: g for g in capacity.gpus}
    chosen = [by_index[i] if i in by_index else GpuInfo(i, SIMULATED, 0) for i in granted[:requested]]
    real = [g for g in chosen if not g.simulated]
    fake = [g for g in chosen if g.simulated]
    words = []
    if real:
        words.append(f"GPUs {','.join(str(g.index) for g in real)} ({', '.join(g.model for g in real)})")
    if fake:
        words.append(
            f"simulated GPUs {','.join(str(g.index) for g in fake)} "
            "(this node runs with --simulate-gpus: no device is passed to the container)"
        )
    return [g.index for g in real], " with " + " and ".join(words)
