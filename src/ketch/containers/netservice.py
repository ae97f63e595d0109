"""A container's networks as the containers service keeps them: the checks at create, the
NetworkSettings views, and `docker network connect`/`disconnect`."""

from __future__ import annotations

from typing import Any

from ketch import errors
from ketch.containers import networking, views
from ketch.containers.contracts import Networks
from ketch.containers.entry import Entry
from ketch.containers.table import ContainerTable
from ketch.network.model import EndpointRequest


class ContainerNetworking:
    def __init__(self, table: ContainerTable, networks: Networks | None) -> None:
        self.table = table
        self.networks = networks

    def check(
        self,
        config: dict[str, Any],
        host_config: dict[str, Any],
        networking_config: dict[str, Any] | None,
    ) -> list[str]:
        """dockerd's checks of the networks a container asks for; returns the nameservers
        its resolv.conf gets (a user network's embedded DNS at its gateway)."""
        plan = networking.plan(config, host_config, networking_config)
        if plan.mode == "container":
            self.table.get(plan.joins)  # No such container: x
            return []
        if self.networks is None:
            if plan.ports or any(r.network != networking.DEFAULT_BRIDGE for r in plan.requests):
                raise errors.NotImplementedYet("this ketchd has no networks but host and none")
            return []
        if plan.mode != "bridge":
            return []
        found = [self.networks.get(request.network) for request in plan.requests]
        primary = found[0]
        if primary.driver == "bridge" and not primary.is_default_bridge and primary.gateway:
            return [primary.gateway]
        return []

    def settings(self, entry: Entry) -> dict[str, Any]:
        """NetworkSettings as dockerd shows them: each network the container is on, its
        endpoint's addresses while it runs, its ports."""
        container = entry.container
        mode = networking.mode_of(container.host_config)
        if mode.startswith("container:"):
            # on another container's network: no endpoint of its own, as dockerd shows it
            return views.network_settings("none", networks={})
        if self.networks is None:
            return views.network_settings(views.network_of(container.host_config))
        by_network = {e.network_id: e for e in entry.endpoints}
        if mode in ("host", "none"):
            names = [mode]
            requests: list[EndpointRequest | None] = [None]
        else:
            try:
                plan = networking.plan(container.config, container.host_config,
                                       container.networking_config, stored=True)  # fmt: skip
            except errors.KetchError:  # a record from before networks: show what it can
                plan = networking.NetworkPlan("bridge")
            names = [r.network for r in plan.requests]
            requests = list(plan.requests)
        shown: dict[str, Any] = {}
        primary: dict[str, Any] | None = None
        for name, request in zip(names, requests, strict=True):
            try:
                network = self.networks.get(name)
            except errors.KetchError:  # removed since: its name, no id
                shown[name] = networking.endpoint_settings("", None, request)
                continue
            asked = ((container.networking_config or {}).get("EndpointsConfig") or {}).get(name)
            settings = networking.endpoint_settings(
                network.id, by_network.get(network.id), request, asked
            )
            shown[network.name] = settings
            if network.is_default_bridge:
                primary = settings
        pid = container.state.get("Pid") if container.running else 0
        sandbox = ""
        if pid:
            on_bridge = self.networks is not None and networking.on_bridge(container.host_config)
            sandbox = str(container.netns_path) if on_bridge else f"/proc/{pid}/ns/net"
        return views.network_settings(
            mode, shown, networking.ports_view(container.config, entry.endpoints), primary,
            sandbox,
        )  # fmt: skip

    async def connect(
        self, entry: Entry, network_name: str, settings: dict[str, Any] | None = None
    ) -> None:
        """`docker network connect`: now if the container runs, at its next start if not."""
        container = entry.container
        if self.networks is None:
            raise errors.NotImplementedYet("this ketchd has no networks but host and none")
        network = self.networks.get(network_name)
        mode = networking.mode_of(container.host_config)
        if mode == "host" or network.driver == "host":
            raise errors.Forbidden(
                "container cannot be disconnected from host network or connected to host network"
            )
        if mode == "none" or network.driver == "null":
            raise errors.Forbidden(
                "container cannot be connected to multiple networks with one of the networks "
                "in private (none) mode"
            )
        if mode.startswith("container:"):
            raise errors.Forbidden(
                "container sharing network namespace with another container or host cannot be "
                "connected to any other network"
            )
        endpoints = dict((container.networking_config or {}).get("EndpointsConfig") or {})
        if network.id in self._joined(endpoints).values():
            raise errors.Forbidden(
                f"endpoint with name {container.name.lstrip('/')} already exists in network "
                f"{network.name}"
            )
        request = networking.endpoint_request(network.name, settings or {})
        async with entry.lock:
            if container.running and entry.shim is not None:
                endpoint = await self.networks.attach(
                    container.id, container.name.lstrip("/"), f"/proc/{entry.shim.pid}/ns/net",
                    request,
                )  # fmt: skip
                entry.endpoints.append(endpoint)
            endpoints[network.name] = dict(settings or {})
            container.networking_config = {**container.networking_config,
                                           "EndpointsConfig": endpoints}  # fmt: skip
            container.save()

    def _joined(self, endpoints: dict[str, Any]) -> dict[str, str]:
        """EndpointsConfig's keys (names or ids, as given) -> the networks' ids."""
        joined = {}
        for key in endpoints:
            try:
                joined[key] = self.networks.get(key).id if self.networks else ""
            except errors.KetchError:
                joined[key] = ""  # removed since
        return joined

    async def disconnect(self, entry: Entry, network_name: str) -> None:
        container = entry.container
        if self.networks is None:
            raise errors.NotImplementedYet("this ketchd has no networks but host and none")
        network = self.networks.get(network_name)
        endpoints = dict((container.networking_config or {}).get("EndpointsConfig") or {})
        on_it = [key for key, joined in self._joined(endpoints).items() if joined == network.id]
        if not on_it:
            raise errors.Forbidden(
                f"container {container.id} is not connected to network {network.name}"
            )
        async with entry.lock:
            if container.running:
                await self.networks.detach(container.id, network.id)
                entry.endpoints = [e for e in entry.endpoints if e.network_id != network.id]
            for name in on_it:
                endpoints.pop(name, None)
            container.networking_config = {**container.networking_config,
                                           "EndpointsConfig": endpoints}  # fmt: skip
            container.save()
