"""Credentials in config.json, in the layout and with the mode the docker CLI uses."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from ketch.client import authconfig


def test_store_get_erase_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "config.json"
    credentials = authconfig.Credentials("alice", "s3cr:et", "127.0.0.1:5000")
    authconfig.store(credentials, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = json.loads(path.read_text())
    token = base64.b64encode(b"alice:s3cr:et").decode()
    assert written == {"auths": {"127.0.0.1:5000": {"auth": token}}}
    assert authconfig.get("127.0.0.1:5000", path) == credentials
    assert authconfig.erase("127.0.0.1:5000", path) is True
    assert authconfig.get("127.0.0.1:5000", path) is None
    assert authconfig.erase("127.0.0.1:5000", path) is False


def test_keeps_other_settings(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"psFormat": "{{.ID}}", "auths": {"other": {"auth": "eDp5"}}}))
    authconfig.store(authconfig.Credentials("u", "p", authconfig.DOCKER_HUB_SERVER), path)
    written = json.loads(path.read_text())
    assert written["psFormat"] == "{{.ID}}"
    assert set(written["auths"]) == {"other", authconfig.DOCKER_HUB_SERVER}
    assert authconfig.get("other", path) == authconfig.Credentials("x", "y", "other")


@pytest.mark.parametrize(
    ("registry", "key"),
    [
        (None, "https://index.docker.io/v1/"),
        ("docker.io", "https://index.docker.io/v1/"),
        ("index.docker.io", "https://index.docker.io/v1/"),
        ("https://registry.example:5000/", "registry.example:5000"),
        ("localhost:5000", "localhost:5000"),
    ],
)
def test_server_keys(registry: str | None, key: str) -> None:
    assert authconfig.server_key(registry) == key


def test_registry_auth_header_is_base64url_json() -> None:
    header = authconfig.Credentials("u", "p?>", "r").registry_auth_header()
    assert "+" not in header and "/" not in header
    decoded = json.loads(base64.urlsafe_b64decode(header))
    assert decoded == {"username": "u", "password": "p?>", "serveraddress": "r"}


def test_docker_config_env_points_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert authconfig.config_path() == tmp_path / "config.json"
    assert authconfig.load() == {}
