"""Container inspect's HostConfig and networks as dockerd shows them."""

from __future__ import annotations

from ketch.containers import views
from ketch.runtime.spec import MASKED_PATHS, READONLY_PATHS


def test_zero_values_from_the_cli_show_the_defaults_the_container_has() -> None:
    # what the docker CLI sends for a plain `docker run`
    sent = {
        "LogConfig": {"Type": "", "Config": None},
        "ShmSize": 0,
        "IpcMode": "",
        "PidsLimit": 0,
        "MaskedPaths": None,
        "ReadonlyPaths": None,
        "CgroupnsMode": "",
    }
    shown = views.effective_host_config(sent)
    assert shown["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert shown["ShmSize"] == 64 * 1024 * 1024
    assert shown["IpcMode"] == "private" and shown["CgroupnsMode"] == "private"
    assert shown["PidsLimit"] is None
    assert shown["MaskedPaths"] == list(MASKED_PATHS)
    assert shown["ReadonlyPaths"] == list(READONLY_PATHS)


def test_set_values_are_kept() -> None:
    sent = {
        "LogConfig": {"Type": "none", "Config": {}},
        "ShmSize": 1 << 20,
        "IpcMode": "host",
        "PidsLimit": 50,
        "MaskedPaths": ["/x"],
        "CgroupnsMode": "host",
    }
    shown = views.effective_host_config(sent)
    assert shown["LogConfig"]["Type"] == "none" and shown["ShmSize"] == 1 << 20
    assert shown["IpcMode"] == "host" and shown["CgroupnsMode"] == "host"
    assert shown["PidsLimit"] == 50 and shown["MaskedPaths"] == ["/x"]


def test_privileged_has_no_masked_paths() -> None:
    shown = views.effective_host_config({"Privileged": True})
    assert shown["MaskedPaths"] is None and shown["ReadonlyPaths"] is None


def test_the_network_a_container_is_on() -> None:
    assert views.network_of({"NetworkMode": "host"}) == "host"
    for mode in ("", "default", "none", "bridge"):
        assert views.network_of({"NetworkMode": mode}) == "none"
    endpoint = views.endpoint("none")
    assert endpoint["NetworkID"] == views.network_id("none") != views.network_id("host")
    assert len(endpoint["NetworkID"]) == 64


def test_dns_settings_not_given_stay_null_and_given_ones_are_kept() -> None:
    shown = views.effective_host_config({})
    assert shown["Dns"] is None and shown["DnsOptions"] is None and shown["DnsSearch"] is None
    sent = {"Dns": [], "DnsOptions": ["ndots:2"], "DnsSearch": ["example.com"]}
    shown = views.effective_host_config(sent)
    assert shown["Dns"] == [] and shown["DnsOptions"] == ["ndots:2"]
    assert shown["DnsSearch"] == ["example.com"]
