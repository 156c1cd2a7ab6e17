"""The events of the coordination log (thesis 6.4) and their file encoding."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Command(StrEnum):
    LOCK = "LOCK"
    EXTEND = "EXTEND"
    RELEASE = "RELEASE"
    KILL = "KILL"
    ELECTION_START = "ELECTION_START"
    ELECTION_PARTICIPATE = "ELECTION_PARTICIPATE"
    ELECTION_STOP = "ELECTION_STOP"


@dataclass(frozen=True)
class Request:
    """What a stage asks for, in the three scheduled categories (memory in bytes)."""

    cpu: float = 0.0
    memory: int = 0
    gpu: int = 0

    def get(self, category: str) -> float:
        return float(getattr(self, category))


@dataclass(frozen=True)
class Ballot:
    fits: bool
    affinity: float = 0.0
    aversion: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class Event:
    issuer: str
    command: Command
    subject: str
    timestamp: float
    duration: float = 0.0
    request: Request | None = None
    ballot: Ballot | None = None
    winner: str | None = None
    message: str = ""
    seq: int = field(default=-1, compare=False)

    def encode(self) -> bytes:
        data: dict[str, Any] = {
            "issuer": self.issuer,
            "command": self.command.value,
            "subject": self.subject,
            "timestamp": self.timestamp,
            "duration": self.duration,
        }
        if self.request is not None:
            data["request"] = {
                "cpu": self.request.cpu,
                "memory": self.request.memory,
                "gpu": self.request.gpu,
            }
        if self.ballot is not None:
            b = self.ballot
            data["ballot"] = {
                "fits": b.fits,
                "affinity": b.affinity,
                "aversion": b.aversion,
                "reason": b.reason,
            }
        if self.winner is not None:
            data["winner"] = self.winner
        if self.message:
            data["message"] = self.message
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes, seq: int) -> Event:
        data: dict[str, Any] = json.loads(raw)
        request = data.pop("request", None)
        ballot = data.pop("ballot", None)
        return cls(
            issuer=str(data.pop("issuer")),
            command=Command(data.pop("command")),
            subject=str(data.pop("subject")),
            timestamp=float(data.pop("timestamp")),
            duration=float(data.pop("duration", 0.0)),
            request=Request(**request) if request else None,
            ballot=Ballot(**ballot) if ballot else None,
            winner=data.pop("winner", None),
            message=str(data.pop("message", "")),
            seq=seq,
        )
