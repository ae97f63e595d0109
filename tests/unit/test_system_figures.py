"""The pure parts behind `docker info` and `docker system df` figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketch.api.system import ipv4_forwarding
from ketch.containers.events import EventBus
from ketch.images.usage import layer_usage
from ketch.snapshots.backing import UNKNOWN, backing_filesystem

SIZES = {"base": 1000, "app": 30, "other": 7}


def test_shared_layers_count_once_and_towards_every_image_that_has_them() -> None:
    usage = layer_usage(
        {"busybox": ["base"], "app": ["base", "app"], "hello": ["other"]}, SIZES.__getitem__
    )
    assert usage.layers_size == 1037
    assert usage.shared_size == {"busybox": 1000, "app": 1000, "hello": 0}


def test_nothing_is_shared_by_one_image_alone() -> None:
    usage = layer_usage({"app": ["base", "app"]}, SIZES.__getitem__)
    assert (usage.layers_size, usage.shared_size) == (1030, {"app": 0})
    assert layer_usage({}, SIZES.__getitem__).layers_size == 0


def test_listeners_are_counted_until_they_unsubscribe() -> None:
    bus = EventBus()
    assert bus.listener_count == 0
    first, second = bus.subscribe(), bus.subscribe()
    assert bus.listener_count == 2
    bus.unsubscribe(first)
    bus.unsubscribe(first)
    assert bus.listener_count == 1
    bus.unsubscribe(second)
    assert bus.listener_count == 0


@pytest.mark.parametrize(("text", "forwarding"), [("1\n", True), ("0\n", False)])
def test_ipv4_forwarding_is_read_as_the_kernel_says(
    tmp_path: Path, text: str, forwarding: bool
) -> None:
    path = tmp_path / "ip_forward"
    path.write_text(text)
    assert ipv4_forwarding(path) is forwarding
    assert ipv4_forwarding(tmp_path / "missing") is False


def test_a_filesystem_without_a_docker_name_or_a_path_without_one_is_unknown(
    tmp_path: Path,
) -> None:
    assert backing_filesystem("/proc") == UNKNOWN  # proc is no filesystem dockerd names
    assert backing_filesystem(tmp_path / "missing") == UNKNOWN
