"""Responses shaped per API version, as moby's routers shape them."""

from __future__ import annotations

from typing import Any

from ketch.api import compat
from ketch.images.model import Image
from ketch.images.views import inspect_view, summary_view

CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "container": "c" * 64,
    "container_config": {"Cmd": ["/bin/sh", "-c", "touch /x"], "Hostname": "c0ffee"},
    "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
}


def image(**extra: Any) -> Image:
    return Image(id="sha256:" + "a" * 64, repo_tags=[], repo_digests=[], config=CONFIG,
                 chain_id=None, size=42, created="2024-01-02T03:04:05Z", **extra)  # fmt: skip


def test_image_inspect_shows_container_config_below_1_45_only() -> None:
    view = inspect_view(image(parent="sha256:" + "b" * 64))
    old = compat.image_inspect(view, "1.30")
    assert old["Container"] == "c" * 64
    assert old["ContainerConfig"]["Cmd"] == ["/bin/sh", "-c", "touch /x"]
    assert old["ContainerConfig"]["Volumes"] is None  # every field, as Go's struct
    assert old["Parent"] == "sha256:" + "b" * 64
    assert old["VirtualSize"] == 42
    current = compat.image_inspect(view, "1.45")
    assert "Container" not in current and "ContainerConfig" not in current
    assert "VirtualSize" not in current
    assert compat.image_inspect(view, "1.44")["ContainerConfig"]["Hostname"] == "c0ffee"
    assert "VirtualSize" not in compat.image_inspect(view, "1.44")


def test_an_image_without_a_container_config_shows_an_empty_one_to_old_clients() -> None:
    bare = Image(id="sha256:" + "d" * 64, repo_tags=[], repo_digests=[], config={"config": {}},
                 chain_id=None, size=0, created="")  # fmt: skip
    view = inspect_view(bare)
    shown = compat.image_inspect(view, "1.38")["ContainerConfig"]
    assert shown["Cmd"] is None and shown["Tty"] is False and shown["Image"] == ""


def test_image_config_zero_values_are_left_out_from_1_50_but_for_eight() -> None:
    view = inspect_view(image())
    assert compat.image_inspect(view, "1.49")["Config"]["AttachStdin"] is False
    newest = compat.image_inspect(view, "1.50")["Config"]
    assert "AttachStdin" not in newest and "Hostname" not in newest
    assert newest["Cmd"] == ["sh"] and newest["Entrypoint"] is None and newest["User"] == ""


def test_image_list_names_none_below_1_43_and_has_virtual_size_below_1_44() -> None:
    rows = [summary_view(image())]
    old = compat.image_summaries(rows, "1.41")[0]
    assert old["RepoTags"] == ["<none>:<none>"] and old["RepoDigests"] == ["<none>@<none>"]
    assert old["VirtualSize"] == 42
    assert compat.image_summaries(rows, "1.43")[0]["RepoTags"] == []
    assert "VirtualSize" not in compat.image_summaries(rows, "1.44")[0]


def test_container_aliases_on_a_user_network_include_id_and_hostname_below_1_45() -> None:
    view = {
        "Id": "f" * 64,
        "Config": {"Hostname": "web"},
        "NetworkSettings": {"Networks": {
            "bridge": {"Aliases": None},
            "mynet": {"Aliases": ["db"], "EndpointID": "e1"},
            "notyet": {"Aliases": ["app"], "EndpointID": ""},
        }},
    }  # fmt: skip
    old = compat.container_inspect(view, "1.44")["NetworkSettings"]["Networks"]
    assert old["mynet"]["Aliases"] == ["db", "f" * 12, "web"]
    assert old["notyet"]["Aliases"] == ["app"]  # a created container's, until it joins
    assert old["bridge"]["Aliases"] is None
    assert view["NetworkSettings"]["Networks"]["mynet"]["Aliases"] == ["db"]  # not changed
    assert compat.container_inspect(view, "1.45") is view
