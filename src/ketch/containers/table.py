"""The daemon's containers, by id and by name: lookup as Docker does it, one place to add
a container and one to drop it."""

from __future__ import annotations

from collections.abc import Iterator

from ketch import errors
from ketch.containers import names
from ketch.containers.entry import Entry, ExecRecord


class ContainerTable:
    def __init__(self) -> None:
        self._by_id: dict[str, Entry] = {}
        self._by_name: dict[str, str] = {}
        self._reserved: dict[str, str] = {}  # name -> id of a create under way

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._by_id.values()))

    def __contains__(self, entry: Entry) -> bool:
        return self._by_id.get(entry.id) is entry

    def get(self, name_or_id: str) -> Entry:
        """Docker's order: full id, then name, then unique id prefix."""
        key = name_or_id.lstrip("/") if name_or_id else name_or_id
        if not key:
            raise errors.no_such_container(name_or_id)
        if key in self._by_id:
            return self._by_id[key]
        if "/" + key in self._by_name:
            return self._by_id[self._by_name["/" + key]]
        matches = [cid for cid in self._by_id if cid.startswith(key)]
        if len(matches) == 1:
            return self._by_id[matches[0]]
        if len(matches) > 1:
            raise errors.InvalidArgument(f"multiple IDs found with provided prefix: {key}")
        raise errors.no_such_container(name_or_id)

    def new_id(self) -> str:
        container_id = names.new_id()
        while container_id in self._by_id:
            container_id = names.new_id()
        return container_id

    def check_name_free(self, stored_name: str) -> None:
        holder = self._by_name.get(stored_name) or self._reserved.get(stored_name)
        if holder is not None:
            raise errors.Conflict(
                f'Conflict. The container name "{stored_name}" is already in use by container '
                f'"{holder}". You have to remove (or rename) that container to be able to reuse '
                f"that name."
            )

    def fresh_name(self) -> str:
        for attempt in range(20):
            candidate = "/" + names.random_name(retry=attempt // 5)
            if candidate not in self._by_name and candidate not in self._reserved:
                return candidate
        return "/" + names.new_id()[:16]

    def reserve_name(self, stored_name: str, container_id: str) -> None:
        """Hold a name for a create under way (its files being written): taken for
        everyone else until the container is added or the create fails."""
        self.check_name_free(stored_name)
        self._reserved[stored_name] = container_id

    def release_name(self, stored_name: str, container_id: str) -> None:
        if self._reserved.get(stored_name) == container_id:
            del self._reserved[stored_name]

    def add(self, entry: Entry) -> None:
        self.release_name(entry.container.name, entry.id)
        self.check_name_free(entry.container.name)
        self._by_id[entry.id] = entry
        self._by_name[entry.container.name] = entry.id

    def rename(self, entry: Entry, stored_name: str) -> None:
        self.check_name_free(stored_name)
        self._by_name.pop(entry.container.name, None)
        entry.container.name = stored_name
        self._by_name[stored_name] = entry.id

    async def drop(self, entry: Entry) -> None:
        """The one place a container leaves the daemon's memory, with all kept for it."""
        if self._by_id.get(entry.id) is entry:
            del self._by_id[entry.id]
            self._by_name.pop(entry.container.name, None)
        await entry.release()

    def find_exec(self, exec_id: str) -> tuple[Entry, ExecRecord]:
        for entry in self._by_id.values():
            record = entry.execs.get(exec_id)
            if record is not None:
                return entry, record
        raise errors.no_such_exec(exec_id)
