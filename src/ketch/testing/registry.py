"""Run a real registry (the distribution project's server) for a test.

It gets its own config file: filesystem storage in the test's temp dir,
deletes enabled, 127.0.0.1 on a free port, no htpasswd; optionally token auth
against a `TokenServer`. It is stopped by its PID, even when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ketch.testing.tokenserver import TokenServer

REGISTRY_BINARY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
START_TIMEOUT = 10.0


@dataclass
class RegistryServer:
    url: str  # http://127.0.0.1:<port>
    host_port: str  # 127.0.0.1:<port>, the domain part of image references
    storage_dir: Path
    pid: int
    log_path: Path
    token_server: TokenServer | None = None

    def blob_data_path(self, repository: str, digest: str) -> Path:
        """Where the registry keeps a blob's bytes (for tests that tamper with them)."""
        algorithm, hex_part = digest.split(":", 1)
        return (
            self.storage_dir
            / "docker/registry/v2/blobs"
            / algorithm
            / hex_part[:2]
            / hex_part
            / "data"
        )

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(
    storage: Path,
    port: int,
    token: TokenServer | None,
    cert: Path | None,
    htpasswd: Path | None,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": os.urandom(16).hex()},
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "ketch-test", "path": str(htpasswd)}}
    if token is not None:
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": token.service,
                "issuer": token.issuer,
                "rootcertbundle": str(cert),
            }
        }
    return config


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/v2/", timeout=1) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError as exc:
        return exc.code == 401  # up, and asking for a token
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    # Imported here: only tests of Basic auth need bcrypt.
    import bcrypt

    lines = [
        f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode()}" for u, p in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def run_registry(
    tmp_path: Path,
    auth: dict[str, str] | None = None,
    auth_kind: str = "token",
    port: int | None = None,
    storage: Path | None = None,
) -> Iterator[RegistryServer]:
    """Start a registry under `tmp_path`.

    `auth` ({user: password}) turns on authentication: `auth_kind="token"`
    (Bearer tokens from a TokenServer, as Docker Hub) or `"basic"` (htpasswd).
    `port` fixes the port (no retry on another); `storage` serves another
    registry's storage directory (a second instance, e.g. in a network namespace
    of its own, answering for the same images under the same address).
    """
    if auth_kind not in ("token", "basic"):
        raise ValueError(f"auth_kind must be 'token' or 'basic', not {auth_kind!r}")
    base = Path(tmp_path) / f"registry-{os.urandom(3).hex()}"
    (base / "storage").mkdir(parents=True)
    storage = storage or base / "storage"
    token: TokenServer | None = None
    process: subprocess.Popen[bytes] | None = None
    try:
        if auth is not None and auth_kind == "token":
            token = TokenServer(users=dict(auth)).start()
        cert = token.write_cert(base / "token-cert.pem") if token else None
        htpasswd = None
        if auth is not None and auth_kind == "basic":
            htpasswd = _write_htpasswd(base / "htpasswd", auth)
        # A free port can be taken between choosing and binding: try a few.
        fixed_port = port
        for _ in range(1 if fixed_port else 3):
            port = fixed_port or free_port()
            config_path = base / "config.yml"
            # JSON is YAML, and needs no YAML library.
            config_path.write_text(
                json.dumps(_config(storage, port, token, cert, htpasswd), indent=2)
            )
            log_path = base / "registry.log"
            with open(log_path, "ab") as log:
                process = subprocess.Popen(
                    [REGISTRY_BINARY, "serve", str(config_path)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                )  # fmt: skip
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + START_TIMEOUT
            while process.poll() is None and time.monotonic() < deadline:
                if _answers(url):
                    break
                time.sleep(0.02)
            if process.poll() is None and _answers(url):
                break
            _stop(process)
            process = None
        if process is None:
            raise RuntimeError(f"registry did not start: {log_path.read_text(errors='replace')}")
        yield RegistryServer(url, f"127.0.0.1:{port}", storage, process.pid, log_path, token)
    finally:
        if process is not None:
            _stop(process)
        if token is not None:
            token.stop()
