"""`ketch login` and `ketch logout`: POST /auth, then credentials in config.json."""

from __future__ import annotations

import getpass
import sys

from ketch.cli.app import Cli, Entry, ExitStatus
from ketch.cli.flags import BOOL, STRING, Command, Flag, Parsed
from ketch.client import authconfig


def login(cli: Cli, parsed: Parsed) -> int:
    server = authconfig.server_key(parsed.args[0] if parsed.args else None)
    username = parsed.username
    password = parsed.password
    if parsed.password_stdin:
        if password:
            raise ExitStatus(1, "--password and --password-stdin are mutually exclusive")
        if not username:
            raise ExitStatus(1, "Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        cli.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
    if not username:
        cli.stdout.write("Username: ")
        cli.flush()
        username = sys.stdin.readline().strip()
        if not username:
            raise ExitStatus(1, "Error: Non-null Username Required")
    if not password:
        password = getpass.getpass("Password: ")
        if not password:
            raise ExitStatus(1, "Error: Password Required")
    credentials = authconfig.Credentials(username, password, server)
    body = {"username": username, "password": password, "serveraddress": server}
    answer = cli.client.post("/auth", body=body) or {}
    path = authconfig.store(credentials)
    cli.err(f"WARNING! Your credentials are stored unencrypted in '{path}'.")
    cli.out(answer.get("Status") or "Login Succeeded")
    return 0


def logout(cli: Cli, parsed: Parsed) -> int:
    server = authconfig.server_key(parsed.args[0] if parsed.args else None)
    if not authconfig.erase(server):
        cli.out(f"Not logged in to {server}")
        return 0
    cli.out(f"Removing login credentials for {server}")
    return 0


ENTRIES = {
    "login": Entry(
        Command(
            "login",
            "login [OPTIONS] [SERVER]",
            "Authenticate to a registry",
            [
                Flag("username", "username", "u", STRING, help="Username"),
                Flag("password", "password", "p", STRING, help="Password or Personal Access Token"),
                Flag(
                    "password_stdin",
                    "password-stdin",
                    None,
                    BOOL,
                    help="Take the password from stdin",
                ),
            ],
            max_args=1,
        ),
        login,
    ),
    "logout": Entry(
        Command("logout", "logout [SERVER]", "Log out from a registry", [], max_args=1),
        logout,
    ),
}
