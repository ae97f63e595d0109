"""Registry credentials in `~/.docker/config.json`, read and written as the docker CLI does."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ketch import atomicfile

# The key docker uses for Docker Hub in `auths`.
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", DOCKER_HUB_SERVER}


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    server: str

    def registry_auth_header(self) -> str:
        """X-Registry-Auth: base64url of the AuthConfig JSON, as the Engine API wants it."""
        payload = {
            "username": self.username,
            "password": self.password,
            "serveraddress": self.server,
        }
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def config_path() -> Path:
    directory = os.environ.get("DOCKER_CONFIG")
    if directory:
        return Path(directory) / "config.json"
    return Path.home() / ".docker" / "config.json"


def server_key(registry: str | None) -> str:
    """The `auths` key for a registry domain: Docker Hub has its historic URL."""
    if not registry or registry in _HUB_ALIASES:
        return DOCKER_HUB_SERVER
    for prefix in ("https://", "http://"):
        if registry.startswith(prefix):
            registry = registry[len(prefix) :]
    return registry.rstrip("/")


def load(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    return json.loads(text) if text.strip() else {}


def get(registry: str | None, path: Path | None = None) -> Credentials | None:
    server = server_key(registry)
    entry = load(path).get("auths", {}).get(server)
    if not entry or not entry.get("auth"):
        return None
    decoded = base64.b64decode(entry["auth"]).decode()
    username, _, password = decoded.partition(":")
    return Credentials(username, password, server)


def store(credentials: Credentials, path: Path | None = None) -> Path:
    path = path or config_path()
    config = load(path)
    token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
    config.setdefault("auths", {})[credentials.server] = {"auth": token}
    _write(path, config)
    return path


def erase(registry: str | None, path: Path | None = None) -> bool:
    """Forget a registry's credentials; False when there were none."""
    path = path or config_path()
    config = load(path)
    auths = config.get("auths", {})
    if server_key(registry) not in auths:
        return False
    del auths[server_key(registry)]
    _write(path, config)
    return True


def _write(path: Path, config: dict[str, Any]) -> None:
    # Written whole to a temporary file then renamed, so a crash never leaves
    # half a credentials file; 0600 because it holds passwords.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomicfile.write_json(path, config, indent="\t", mode=0o600)
