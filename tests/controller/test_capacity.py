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
    found = capacity.detect(
        cpus=48, memory=128 << 30, gpus=2, nvml=FakeNvml(["NVIDIA H100"]), simulate_gpus=True
    )
    assert found.cpu == 48 and found.memory == 128 << 30
    assert [(g.index, g.model) for g in found.gpus] == [(0, "NVIDIA H100"), (1, "simulated")]
    assert capacity.detect(gpus=0, nvml=FakeNvml(["NVIDIA H100"])).gpus == []


def test_fewer_gpus_than_found_keeps_the_first_real_ones():
    found = capacity.detect(gpus=1, nvml=FakeNvml(["NVIDIA H100", "NVIDIA A100"]))
    assert [(g.index, g.model, g.simulated) for g in found.gpus] == [(0, "NVIDIA H100", False)]


@pytest.mark.parametrize("names", [[], ["NVIDIA H100"]])
def test_more_gpus_than_nvml_finds_is_refused_with_the_fix(names):
    with pytest.raises(capacity.CapacityError) as refused:
        capacity.detect(gpus=2, nvml=FakeNvml(names))
    message = str(refused.value)
    assert f"--gpus 2 is more than the {len(names)} NVIDIA GPU(s)" in message
    assert f"--gpus {len(names)} or less" in message and "--simulate-gpus" in message


def test_simulating_needs_a_count():
    with pytest.raises(capacity.CapacityError, match="--simulate-gpus needs --gpus N"):
        capacity.detect(simulate_gpus=True, nvml=FakeNvml())


def test_overrides_above_the_machine_are_named():
    machine = capacity.Capacity(cpu=2, memory=8 << 30)
    assert capacity.oversubscribed(capacity.Capacity(cpu=2, memory=8 << 30), machine) == []
    assert capacity.oversubscribed(capacity.Capacity(cpu=1.5, memory=4 << 30), machine) == []
    assert capacity.oversubscribed(capacity.Capacity(cpu=64, memory=1 << 40), machine) == [
        "--cpus 64 is above this machine's 2 CPUs",
        "--memory 1Ti is above this machine's 8Gi",
    ]


H100 = capacity.GpuInfo(0, "NVIDIA H100", 80 << 30)
A100 = capacity.GpuInfo(1, "NVIDIA A100", 40 << 30)
FAKE = capacity.GpuInfo(2, "simulated", 0)


def test_a_stage_without_gpus_gets_no_devices_and_no_words():
    assert capacity.stage_gpus(capacity.Capacity(1, 1, [H100]), [], 0) == ([], "")


def test_real_gpus_are_passed_and_named():
    node = capacity.Capacity(1, 1, [H100, A100, FAKE])
    assert capacity.stage_gpus(node, [1, 0], 2) == ([1, 0], " with GPUs 1,0 (NVIDIA A100, NVIDIA H100)")


def test_simulated_gpus_are_said_to_be_simulated_and_not_passed():
    node = capacity.Capacity(1, 1, [H100, A100, FAKE])
    devices, words = capacity.stage_gpus(node, [0, 2], 2)
    assert devices == [0]
    assert words.startswith(" with GPUs 0 (NVIDIA H100) and simulated GPUs 2 (")
    assert "--simulate-gpus: no device is passed to the container" in words


@pytest.mark.parametrize("granted", [[], [0]])
def test_a_stage_short_of_gpus_does_not_start(granted):
    with pytest.raises(capacity.GpuShortage, match="requests 2 GPU\\(s\\) but this node granted"):
        capacity.stage_gpus(capacity.Capacity(1, 1, [H100, A100]), granted, 2)
