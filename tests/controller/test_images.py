"""controller.images: a node's image list for its file, bounded and never waiting on Docker."""

from __future__ import annotations

import threading

import pytest

from winslow.controller import images

pytestmark = pytest.mark.timeout(60)


def test_the_list_is_bounded_and_names_are_cut() -> None:
    found = [(f"sha256:{i:064x}", [f"repo{i}:{t}" for t in range(9)] + ["<none>:<none>"]) for i in range(500)]
    listed = images.bounded(found)
    assert len(listed) == images.MAX_IMAGES
    assert all(len(i.tags) == images.MAX_TAGS for i in listed)
    assert listed[0].id == "sha256:000000000000"
    assert images.bounded([("sha256:ab", ["<none>:<none>"])])[0].tags == []


def test_it_lists_again_only_after_the_refresh_time() -> None:
    now = [0.0]
    calls: list[int] = []

    def lister() -> list[tuple[str, list[str]]]:
        calls.append(1)
        return [("sha256:1", ["busybox:1.36"])]

    inventory = images.ImageInventory(lister, refresh=300.0, clock=lambda: now[0])
    assert inventory.current(wait=True) == images.bounded(lister())[:1]
    now[0] = 299.0
    inventory.current(wait=True)
    assert len(calls) == 2  # the first listing, and the one in the assertion above
    now[0] = 301.0
    inventory.current(wait=True)
    assert len(calls) == 3


def test_a_hanging_docker_never_holds_the_caller() -> None:
    release = threading.Event()

    def lister() -> list[tuple[str, list[str]]]:
        release.wait(30)
        return [("sha256:1", ["busybox:1.36"])]

    inventory = images.ImageInventory(lister)
    assert inventory.current() is None  # the listing runs on its own thread
    assert inventory.current() is None  # and is not started twice
    release.set()


def test_a_failing_docker_publishes_nothing() -> None:
    def lister() -> list[tuple[str, list[str]]]:
        raise OSError("docker is away")

    assert images.ImageInventory(lister).current(wait=True) is None
    assert images.node_images(None) is None
    assert images.node_images(object()) is None  # a runtime that cannot list (a test's fake)
