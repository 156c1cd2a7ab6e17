"""The events of the coordination log (thesis 6.4) and their file encoding.

Besides the thesis's lock and election commands the log carries what a decision under a lock
must know and a network share cannot be trusted to show in time: every StageRun's state
(RECORD) and the versions of files written under a lock (VERSION). NOOP is what a node writes
when it forces a fresh look at a sequence number that its share client may still believe
absent (see `controller.eventlog`); PROBE asks every node to time what it sees (`winslow doctor`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from winslow.resources.amount import Amount


class Command(StrEnum):
    LOCK = "LOCK"
    EXTEND = "EXTEND"
    RELEASE = "RELEASE"
    KILL = "KILL"
    ELECTION_START = "ELECTION_START"
    ELECTION_PARTICIPATE = "ELECTION_PARTICIPATE"
    ELECTION_STOP = "ELECTION_STOP"
    RECORD = "RECORD"
    VERSION = "VERSION"
    PROBE = "PROBE"
    NOOP = "NOOP"


@dataclass(frozen=True)
class Ballot:
    fits: bool
    affinity: float = 0.0
    aversion: float = 0.0
    reason: str = ""
    labels: dict[str, str] | None = None
    """The voter's labels, given only when they do not match the election's node selector: the
    starter can then say that no live node has the labels a stage asks for, and which they have."""


@dataclass(frozen=True)
class Event:
    """One log entry. `supersedes` names the lease or election event a LOCK or ELECTION_START
    takes over, so that taking over never depends on comparing two nodes' clocks; `nonce` lets
    a publisher recognise its own event when the share's reply to its `link` was lost."""

    issuer: str
    command: Command
    subject: str
    timestamp: float
    duration: float = 0.0
    request: Amount | None = None
    selector: dict[str, str] | None = None
    """An ELECTION_START's node selector: only nodes with these labels fit."""
    ballot: Ballot | None = None
    winner: str | None = None
    message: str = ""
    supersedes: int | None = None
    payload: dict[str, Any] | None = None
    nonce: str = ""
    seq: int = field(default=-1, compare=False)

    @property
    def node(self) -> str:
        """The node behind the issuer: API requests lock as `<node>/api/<id>`."""
        return self.issuer.partition("/")[0]

    def encode(self) -> bytes:
        data: dict[str, Any] = {
            "issuer": self.issuer,
            "command": self.command.value,
            "subject": self.subject,
            "timestamp": self.timestamp,
            "duration": self.duration,
        }
        if self.request is not None:
            data["request"] = self.request.wire()
        if self.selector:
            data["selector"] = self.selector
        if self.ballot is not None:
            b = self.ballot
            data["ballot"] = {
                "fits": b.fits,
                "affinity": b.affinity,
                "aversion": b.aversion,
                "reason": b.reason,
            }
            if b.labels is not None:
                data["ballot"]["labels"] = b.labels
        if self.winner is not None:
            data["winner"] = self.winner
        if self.message:
            data["message"] = self.message
        if self.supersedes is not None:
            data["supersedes"] = self.supersedes
        if self.payload is not None:
            data["payload"] = self.payload
        if self.nonce:
            data["nonce"] = self.nonce
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes, seq: int) -> Event:
        data: dict[str, Any] = json.loads(raw)
        request = data.pop("request", None)
        ballot = data.pop("ballot", None)
        payload = data.pop("payload", None)
        supersedes = data.pop("supersedes", None)
        selector = data.pop("selector", None)
        if ballot and ballot.get("labels") is not None:
            ballot["labels"] = _strings(ballot["labels"], "a ballot's labels")
        if payload is not None and not isinstance(payload, dict):
            raise ValueError("payload must be a mapping")
        return cls(
            issuer=str(data.pop("issuer")),
            command=Command(data.pop("command")),
            subject=str(data.pop("subject")),
            timestamp=float(data.pop("timestamp")),
            duration=float(data.pop("duration", 0.0)),
            request=Amount.from_wire(request) if request else None,
            selector=_strings(selector, "a selector") if selector else None,
            ballot=Ballot(**ballot) if ballot else None,
            winner=data.pop("winner", None),
            message=str(data.pop("message", "")),
            supersedes=int(supersedes) if supersedes is not None else None,
            payload=payload,
            nonce=str(data.pop("nonce", "")),
            seq=seq,
        )


def _strings(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{what} must map names to strings")
    return {str(k): v for k, v in value.items()}
