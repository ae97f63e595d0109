"""Swarm's routes, as a dockerd that is no part of a swarm answers them.

ketch runs no swarm: the swarm objects (services, tasks, nodes, secrets, configs)
are refused with dockerd's own 503 for a node outside one, which clients read
as "no swarm here" (docker-py's force-leave expects exactly that), and joining
or starting one is a 501 that says ketch does not do it.
"""

from __future__ import annotations

from aiohttp import web

from ketch.errors import NotImplementedYet, Unavailable

NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)


async def leave(request: web.Request) -> web.Response:
    raise Unavailable("This node is not part of a swarm")


async def not_a_manager(request: web.Request) -> web.Response:
    raise Unavailable(NOT_A_MANAGER)


async def not_supported(request: web.Request) -> web.Response:
    raise NotImplementedYet("swarm mode is not supported by ketch")


ROUTES = [
    ("POST", "/swarm/leave", leave),
    ("POST", "/swarm/init", not_supported),
    ("POST", "/swarm/join", not_supported),
    *[
        (method, path, not_a_manager)
        for path, methods in (
            ("/swarm", ("GET",)),
            ("/swarm/update", ("POST",)),
            ("/swarm/unlockkey", ("GET",)),
            ("/swarm/unlock", ("POST",)),
            ("/services", ("GET",)),
            ("/services/create", ("POST",)),
            ("/services/{id}", ("GET", "DELETE")),
            ("/services/{id}/update", ("POST",)),
            ("/services/{id}/logs", ("GET",)),
            ("/tasks", ("GET",)),
            ("/tasks/{id}", ("GET",)),
            ("/tasks/{id}/logs", ("GET",)),
            ("/nodes", ("GET",)),
            ("/nodes/{id}", ("GET", "DELETE")),
            ("/nodes/{id}/update", ("POST",)),
            ("/secrets", ("GET",)),
            ("/secrets/create", ("POST",)),
            ("/secrets/{id}", ("GET", "DELETE")),
            ("/secrets/{id}/update", ("POST",)),
            ("/configs", ("GET",)),
            ("/configs/create", ("POST",)),
            ("/configs/{id}", ("GET", "DELETE")),
            ("/configs/{id}/update", ("POST",)),
        )
        for method in methods
    ],
]
