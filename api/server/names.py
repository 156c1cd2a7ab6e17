"""Path parameters that name objects, checked at the edge.

Names become file names on the share, so a request with a name no manifest can have is answered
422 with the expected form before any file is touched (never a 5xx from a NUL byte or a slash).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
RUN_NAME = r"^[a-z0-9-]+\.[0-9]{1,9}\.[a-z0-9-]+$"

Name = Annotated[
    str,
    Path(
        pattern=DNS_LABEL,
        max_length=63,
        description="a DNS label: lowercase letters, digits and '-'",
    ),
]
RunName = Annotated[
    str,
    Path(pattern=RUN_NAME, max_length=140, description="a StageRun name: PROJECT.N.STAGE"),
]
