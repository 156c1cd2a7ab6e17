"""The Kubernetes-style envelope shared by every kind."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

API_VERSION = "winslow/v1"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_dns_label(name: str) -> str:
    """Names become file names, container labels and URL parts, so they are DNS-1123 labels."""
    if len(name) > 63 or not _DNS_LABEL.match(name):
        fixed = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63] or "my-name"
        raise ValueError(
            f"{name!r} is not a valid name: use at most 63 lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit (for example {fixed!r})"
        )
    return name


def _env_value(value: Any) -> Any:
    """YAML turns `PORT: 8080` into an int and `DEBUG: yes` into a bool; env values are strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


DnsLabel = Annotated[str, AfterValidator(check_dns_label)]
EnvValue = Annotated[str, BeforeValidator(_env_value)]
Env = dict[str, EnvValue]


class Model(BaseModel):
    """camelCase on the wire, snake_case in Python, and unknown fields are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=False,
    )

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Metadata(Model):
    name: DnsLabel = Field(
        description="the object's name: its file name on the share and its name in every command",
        examples=["ulm-2024-05-01"],
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="key/value pairs to select by (`winsctl get projects -l site=ulm`)",
        examples=[{"site": "ulm"}],
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="free notes for people and tools; `winslow/...` keys are the server's",
    )
    uid: str | None = Field(default=None, description="set by the server: the object's unique id")
    generation: int | None = Field(
        default=None, description="set by the server: raised by every change of the spec"
    )
    creation_timestamp: datetime | None = Field(
        default=None, description="set by the server: when it was created"
    )
