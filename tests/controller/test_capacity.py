"""GPU detection with NVML's answers faked at the boundary (no NVIDIA GPU on these machines)."""

from types import SimpleNamespace

import pytest

from winslow.controller import capacity


class FakeNvml:
    def __init__(self, names=(), fail_init=False, fail_listing=False):
        self.names = list(names)
        self.fail_init = fail_init
        self.fail_listing = fail_listing
        self.shutdowns = 0

    def nvmlInit(self):
        if self.fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetCount(self):
        if self.fail_listing:
            raise RuntimeError("GPU is lost")
        return len(self.names)

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetName(self, handle):
        return self.names[handle].encode() if handle % 2 else self.names[handle]

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(total=(handle + 1) * 80 << 30, used=handle << 30)

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=50.0 + handle)


def test_gpus_are_listed_with_model_and_memory():
    nvml = FakeNvml(["NVIDIA H100", "NVIDIA A100"])
    gpus = capacity.detect_gpus(nvml)
    assert [(g.index, g.model, g.memory_bytes) for g in gpus] == [
        (0, "NVIDIA H100", 80 << 30),
        (1, "NVIDIA A100", 160 << 30),
    ]
    assert nvml.shutdowns == 1
    assert capacity.gpu_utilisation(nvml) == {0: (50.0, 0), 1: (51.0, 1 << 30)}


@pytest.mark.parametrize("nvml", [FakeNvml(fail_init=True), FakeNvml(["x"], fail_listing=True), FakeNvml()])
def test_no_driver_or_broken_nvml_means_no_gpus(nvml):
    assert capacity.detect_gpus(nvml) == []
    assert capacity.gpu_utilisation(nvml) == {}


def test_this_machine_degrades_to_no_gpus_cleanly():
    assert capacity.detect(gpus=None).gpus == []


def test_overrides_simulate_heterogeneous_nodes():
    found = capacity.detect(cpus=48, memory=128 << 30, gpus=2, nvml=FakeNvml(["NVIDIA H100"]))
    assert found.cpu == 48 and found.memory == 128 << 30
    assert [(g.index, g.model) for g in found.gpus] == [(0, "NVIDIA H100"), (1, "simulated")]
    assert capacity.detect(gpus=0, nvml=FakeNvml(["NVIDIA H100"])).gpus == []
