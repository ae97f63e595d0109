from __future__ import annotations

import json
from pathlib import Path

import pytest

from ketch import config, units
from ketch.daemon import load_config
from ketch.errors import InvalidArgument


def test_defaults_without_a_config_file(tmp_path: Path) -> None:
    cfg = config.merge({}, {}, tmp_path / "daemon.json")
    assert cfg.data_root == Path("/var/lib/ketch")
    assert cfg.exec_root == Path("/run/ketch")
    assert cfg.api_hosts == ["unix:///run/ketch/ketch.sock"]
    assert cfg.cgroup_parent == "ketch"
    assert (cfg.log_max_size, cfg.log_max_file) == (10 * 1024 * 1024, 3)


def test_file_values_are_applied(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(
        json.dumps(
            {
                "registry-mirrors": ["http://127.0.0.1:5000/"],
                "insecure-registries": ["127.0.0.1:5000"],
                "data-root": str(tmp_path / "data"),
                "debug": True,
                "log-opts": {"max-size": "1m", "max-file": "2"},
            }
        )
    )
    cfg = load_config(["--config-file", str(path), "--exec-root", str(tmp_path / "run")])
    assert cfg.registry_mirrors == ["http://127.0.0.1:5000"]
    assert cfg.insecure_registries == ["127.0.0.1:5000"]
    assert cfg.data_root == tmp_path / "data"
    assert cfg.exec_root == tmp_path / "run"
    assert cfg.debug is True
    assert (cfg.log_max_size, cfg.log_max_file) == (1024 * 1024, 2)
    assert cfg.api_hosts == [f"unix://{tmp_path}/run/ketch.sock"]


def test_flag_also_in_file_is_refused_as_dockerd_does(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"debug": True, "registry-mirrors": ["http://a:1"]}))
    with pytest.raises(InvalidArgument) as info:
        load_config(["--config-file", str(path), "--registry-mirror", "http://b:2", "-D"])
    message = info.value.message
    assert (
        "the following directives are specified both as a flag and in the configuration file"
        in message
    )
    assert "registry-mirrors: (from flag: http://b:2, from file: http://a:1)" in message
    assert "debug: (from flag: True, from file: True)" in message


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="no such file or directory"):
        load_config(["--config-file", str(tmp_path / "absent.json")])


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"bogus-key": 1}))
    with pytest.raises(InvalidArgument, match="don't match any configuration option: bogus-key"):
        load_config(["--config-file", str(path)])


def test_repeatable_flags_collect(tmp_path: Path) -> None:
    empty = tmp_path / "daemon.json"
    empty.write_text("{}")
    cfg = load_config(
        ["--config-file", str(empty), "-H", "unix:///tmp/a.sock", "-H", "unix:///tmp/b.sock",
         "--insecure-registry", "10.0.0.0/8", "--insecure-registry", "127.0.0.1:5000",
         "--cgroup-parent", "mine"]
    )  # fmt: skip
    assert cfg.api_hosts == ["unix:///tmp/a.sock", "unix:///tmp/b.sock"]
    assert cfg.insecure_registries == ["10.0.0.0/8", "127.0.0.1:5000"]
    assert cfg.cgroup_parent == "mine"


@pytest.mark.parametrize(
    ("text", "size"),
    [("100", 100), ("10k", 10240), ("10m", 10 * 1024**2), ("1g", 1024**3), ("2MB", 2 * 1024**2)],
)
def test_parse_size(text: str, size: int) -> None:
    assert units.parse_size(text) == size


def test_bad_mirror_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="unsupported scheme"):
        config.merge({"registry_mirrors": ["ftp://x"]}, {}, Path("daemon.json"))


def test_seccomp_profile_key_and_flag(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"seccomp-profile": "/etc/ketch/seccomp.json"}))
    assert load_config(["--config-file", str(path)]).seccomp_profile == "/etc/ketch/seccomp.json"
    with pytest.raises(InvalidArgument, match="seccomp-profile: \\(from flag: unconfined"):
        load_config(["--config-file", str(path), "--seccomp-profile", "unconfined"])


def test_network_settings_from_flags_and_file(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"bip": "10.90.0.1/24", "mtu": 1400,
                                "default-address-pools": [{"base": "10.91.0.0/16",
                                                           "size": 24}]}))  # fmt: skip
    cfg = load_config(["--config-file", str(path), "--bridge", "kt0", "--firewall-table", "kt"])
    assert (cfg.bridge, cfg.bip, cfg.mtu, cfg.firewall_table) == ("kt0", "10.90.0.1/24", 1400, "kt")
    assert cfg.address_pools == [{"base": "10.91.0.0/16", "size": 24}]
    (tmp_path / "empty.json").write_text("{}")
    flags = load_config(["--config-file", str(tmp_path / "empty.json"),
                         "--default-address-pool", "base=10.92.0.0/16,size=26"])  # fmt: skip
    assert flags.address_pools == [{"base": "10.92.0.0/16", "size": 26}]
    assert flags.bridge == "ketch0" and flags.firewall_table == "ketch"


@pytest.mark.parametrize(
    "argv",
    [["--bip", "10.90.0.300/24"], ["--mtu", "70000"], ["--bridge", "x" * 16],
     ["--default-address-pool", "base=10.0.0.0/16"],
     ["--default-address-pool", "base=10.0.0.0/16,size=8"]],
)  # fmt: skip
def test_bad_network_settings_are_refused(tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "empty.json").write_text("{}")
    with pytest.raises(InvalidArgument, match="invalid value for"):
        load_config(["--config-file", str(tmp_path / "empty.json"), *argv])
