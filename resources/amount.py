"""An amount of the three scheduled resources, one type wherever amounts travel: a stage's
request, a node's capacity, free and reserved resources, an election's request, a StageRun's
record, the node file and the metrics.

Memory is in bytes; manifests write it as a quantity (`16Gi`, resources.quantity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CATEGORIES = ("cpu", "memory", "gpu")
_EPSILON = 1e-9  # CPUs are fractions: 0.1 + 0.2 must fit in 0.3


@dataclass(frozen=True)
class Amount:
    cpu: float = 0.0
    memory: int = 0
    gpu: int = 0

    def get(self, category: str) -> float:
        return float(getattr(self, category))

    def fits_in(self, free: Amount) -> bool:
        return not self.short_of(free)

    def short_of(self, free: Amount) -> list[str]:
        """The categories where this amount exceeds `free`."""
        return [c for c in CATEGORIES if self.get(c) > free.get(c) + _EPSILON]

    def plus(self, other: Amount) -> Amount:
        return Amount(self.cpu + other.cpu, self.memory + other.memory, self.gpu + other.gpu)

    def minus(self, other: Amount) -> Amount:
        """What is left, never below zero in any category."""
        return Amount(
            max(0.0, self.cpu - other.cpu), max(0, self.memory - other.memory), max(0, self.gpu - other.gpu)
        )

    def least(self, other: Amount) -> Amount:
        """The smaller of the two in each category."""
        return Amount(min(self.cpu, other.cpu), min(self.memory, other.memory), min(self.gpu, other.gpu))

    def describe(self, category: str) -> str:
        value = self.get(category)
        return f"{value / (1 << 30):.1f}Gi" if category == "memory" else f"{value:g}"

    def __str__(self) -> str:
        return ", ".join(f"{c} {self.describe(c)}" for c in CATEGORIES)

    def wire(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "memory": self.memory, "gpu": self.gpu}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Amount:
        return cls(
            cpu=float(data.get("cpu", 0.0)), memory=int(data.get("memory", 0)), gpu=int(data.get("gpu", 0))
        )

    @classmethod
    def total(cls, amounts: list[Amount]) -> Amount:
        found = cls()
        for amount in amounts:
            found = found.plus(amount)
        return found


@dataclass(frozen=True)
class Weights:
    """A node's multiplier n_c per category in the election scores (design notes, section 5)."""

    cpu: float = 1.0
    memory: float = 1.0
    gpu: float = 1.0

    def get(self, category: str) -> float:
        return float(getattr(self, category))
