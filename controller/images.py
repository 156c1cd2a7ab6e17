"""What images a node's Docker holds, for the node file: listed off the heartbeat's thread (a
Docker that hangs must never stop the heartbeat), refreshed every few minutes, and bounded in size
(a node with thousands of images publishes the most recent MAX_IMAGES).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from winslow.resources.node import LocalImage

log = logging.getLogger(__name__)

MAX_IMAGES = 100
MAX_TAGS = 3
ID_CHARS = len("sha256:") + 12
"""Ids as `docker images` shows them: short, and enough to tell images apart."""
REFRESH_SECONDS = 300.0

Lister = Callable[[], list[tuple[str, list[str]]]]
"""(image id, its repository:tag names), newest first."""


def bounded(found: list[tuple[str, list[str]]]) -> list[LocalImage]:
    images = []
    for image_id, tags in found[:MAX_IMAGES]:
        names = [t for t in tags if t and t != "<none>:<none>"][:MAX_TAGS]
        images.append(LocalImage(id=str(image_id)[:ID_CHARS], tags=[n[:255] for n in names]))
    return images


class ImageInventory:
    """The last list of a node's images; `current` never waits on Docker."""

    def __init__(
        self, lister: Lister, refresh: float = REFRESH_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lister = lister
        self.refresh = refresh
        self.clock = clock
        self._images: list[LocalImage] | None = None
        self._listed_at: float | None = None
        self._busy = False
        self._lock = threading.Lock()

    def current(self, *, wait: bool = False) -> list[LocalImage] | None:
        """The last list (None before the first); starts a new listing in the background when the
        last one is older than `refresh`. `wait`: list on this thread (tests)."""
        with self._lock:
            due = not self._busy and (
                self._listed_at is None or self.clock() - self._listed_at >= self.refresh
            )
            if due:
                self._busy = True
        if due:
            if wait:
                self._list()
            else:
                threading.Thread(target=self._list, name="image-inventory", daemon=True).start()
        with self._lock:
            return self._images

    def _list(self) -> None:
        try:
            images: list[LocalImage] | None = bounded(self.lister())
        except Exception as exc:  # Docker away or slow: say nothing rather than something wrong
            log.info("cannot list the node's images: %s", exc)
            images = None
        with self._lock:
            self._images = images
            self._listed_at = self.clock()
            self._busy = False


_INVENTORIES: weakref.WeakKeyDictionary[Any, ImageInventory] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def node_images(runtime: Any) -> list[LocalImage] | None:
    """The images of the runtime's Docker, for the node file; None where the runtime cannot list."""
    lister = getattr(runtime, "local_images", None)
    if runtime is None or lister is None:
        return None
    with _GUARD:
        inventory = _INVENTORIES.get(runtime)
        if inventory is None:
            inventory = _INVENTORIES[runtime] = ImageInventory(lister)
    return inventory.current()
