"""The image service: pull, look up, tag, remove, inspect, history.

On disk under its root (`<data-root>/images`):
  repositories.json    the tag store, Docker's format
  meta/<id hex>.json   each image's layers, manifest digest and size
The config, manifest and layer blobs live in the content store; unpacked
layers in the snapshot store, shared between images by ChainID.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import json
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO, Concatenate, ParamSpec, TypeVar

from ketch import errors
from ketch.images import views
from ketch.images.model import Image
from ketch.images.needs import Blobs, Layers
from ketch.images.progress import Progress
from ketch.images.pull import Puller
from ketch.images.push import push_tag
from ketch.images.records import ImageRecord, RecordStore
from ketch.images.references import TagStore
from ketch.images.usage import LayerUsage, layer_usage
from ketch.oci import reference
from ketch.oci.platform import host_platform
from ketch.oci.reference import Reference
from ketch.registry import Auth, RegistryClient, RegistryConfig
from ketch.snapshots import chain_ids
from ketch.timestamps import ZERO_TIME, rfc3339_nano

# Returns the ID of a container using the image, or None.
ContainerLookup = Callable[[str], "str | None"]
T = TypeVar("T")
P = ParamSpec("P")


def archive() -> ModuleType:
    """images/archive.py (save, load, import: tarfile and the decompressors, ~1 MiB),
    imported by the first request that reads or writes an archive."""
    from ketch.images import archive as module

    return module


def truncate_id(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


def is_id_prefix(image_id: str, text: str) -> bool:
    """Whether `text` names the image by (a prefix of) its ID, as dockerd decides it."""
    return image_id.startswith(text) or image_id.split(":", 1)[-1].startswith(text)


def is_single_reference(refs: list[Reference]) -> bool:
    """One repository tag at most, and the image's digest references in that repository
    only: then untagging it leaves nothing else naming the image (dockerd's rule)."""
    if len(refs) <= 1:
        return len(refs) == 1
    single: Reference | None = None
    canonical: set[str] = set()
    for ref in refs:
        if ref.digest is not None:
            canonical.add(ref.name)
        elif single is None:
            single = ref
        else:
            return False
    single = single or refs[0]
    return len(canonical) == 1 and single.name in canonical


def adds_layers(
    method: Callable[Concatenate[ImageService, P], Awaitable[T]],
) -> Callable[Concatenate[ImageService, P], Coroutine[Any, Any, T]]:
    """Marks an operation that unpacks layers before an image record names them,
    so layer collection waits for a quiet moment instead of taking them."""

    @functools.wraps(method)
    async def counted(self: ImageService, /, *args: P.args, **kwargs: P.kwargs) -> T:
        self._adding_layers += 1
        try:
            return await method(self, *args, **kwargs)
        finally:
            self._adding_layers -= 1

    return counted


class ImageService:
    def __init__(
        self,
        root: Path,
        content: Blobs,
        snapshots: Layers,
        registry_config: RegistryConfig | None = None,
        image_in_use: ContainerLookup | None = None,
        image_running: ContainerLookup | None = None,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.content = content
        self.snapshots = snapshots
        self.registry_config = registry_config or RegistryConfig()
        # Set by the daemon once containers exist: any container using an image,
        # and a running one (a conflict even force cannot override).
        self.image_in_use = image_in_use
        self.image_running = image_running
        self.tags = TagStore(self.root / "repositories.json")
        self.records = RecordStore(self.root / "meta")
        self._puller = Puller(content, snapshots)
        self._adding_layers = 0

    # -- pull ------------------------------------------------------------------

    @adds_layers
    async def pull(
        self,
        ref_text: str,
        progress: Progress,
        auth: Auth = None,
        platform: dict[str, Any] | None = None,
    ) -> Image:
        """Pull `ref_text` from its registry, reporting Docker's progress messages."""
        try:
            return await self._pull(ref_text, progress, auth, platform)
        except OSError as exc:
            if errors.is_storage_error(exc):  # a full disk, in dockerd's words
                raise errors.storage_error(exc) from None
            raise

    async def _pull(
        self, ref_text: str, progress: Progress, auth: Auth, platform: dict[str, Any] | None
    ) -> Image:
        ref = reference.parse(ref_text)
        async with RegistryClient(self.registry_config) as client:
            pulled = await self._puller.pull(
                client, ref, progress, auth=auth, platform=platform, known=self._is_whole
            )
        image_id = pulled.manifest.config.digest
        previous = self.tags.get(ref)
        record = self.records.get(image_id) or ImageRecord(
            id=image_id, chain_id=pulled.chain_id, diff_ids=pulled.diff_ids
        )
        layers = [layer.to_dict() for layer in pulled.manifest.layers]
        # An image already here may have come with other blobs (another compression):
        # the record keeps describing blobs that are actually stored.
        if not record.layers or all(self.content.has(layer["digest"]) for layer in layers):
            record.layers = layers
            record.manifest_digest = pulled.manifest.digest
            record.manifest_media_type = pulled.manifest.media_type
            if not self.content.has(pulled.manifest.digest):
                self.content.put_bytes(pulled.manifest.raw)
        record.size = pulled.size
        self.records.put(record)
        # The digest a tag resolved to: the index's when it came through one.
        repo_digest = pulled.manifest.index_digest or pulled.manifest.digest
        self.tags.set(ref.with_digest(repo_digest), image_id)
        if ref.digest is None:
            self.tags.set(ref, image_id)
        progress({"status": f"Digest: {repo_digest}"})
        outcome = "Image is up to date" if previous == image_id else "Downloaded newer image"
        progress({"status": f"Status: {outcome} for {ref.familiar()}"})
        return self.get(image_id)

    async def push(
        self, name: str, tag: str | None, progress: Progress, auth: Auth = None
    ) -> list[str]:
        """`docker push`: one tag, or every tag of the repository when `tag` is empty.
        Returns the manifest digests pushed."""
        repo = reference.parse_repository(name)
        if repo.digest is not None:
            raise errors.InvalidArgument("cannot push a digest reference")
        if repo.tag and tag and repo.tag != tag:
            raise errors.InvalidArgument(f"invalid reference format: {name}:{tag}")
        tag = tag or repo.tag
        if tag:
            refs = [repo.with_tag(tag)] if self.tags.get(repo.with_tag(tag)) else []
        else:
            refs = [
                ref
                for image_id in sorted(self.tags.image_ids())
                for ref in self.tags.references_to(image_id)
                if ref.name == repo.name and ref.tag is not None and ref.digest is None
            ]
        if not refs:
            raise errors.NotFound(
                f"An image does not exist locally with the tag: {repo.familiar_name}"
            )
        progress({"status": f"The push refers to repository [{repo.name}]"})
        pushed = []
        async with RegistryClient(self.registry_config) as client:
            for ref in sorted(refs, key=str):
                image_id = self.tags.get(ref)
                record = self.records.get(image_id) if image_id else None
                if record is None:
                    raise errors.no_such_image(ref.familiar())
                # Repositories of this registry the image was pulled from or pushed to.
                sources = sorted({
                    known.path for known in self.tags.references_to(record.id)
                    if known.digest and known.domain == ref.domain and known.path != ref.path
                })  # fmt: skip
                digest, _ = await push_tag(
                    client, self.content, record, ref, progress, auth, mount_from=sources
                )
                # As dockerd: the pushed digest becomes a RepoDigest of the image.
                self.tags.set(ref.with_digest(digest), record.id)
                pushed.append(digest)
        return pushed

    async def login(self, auth: dict[str, Any]) -> str:
        """`POST /auth`: check credentials with the registry; returns an identity token."""
        async with RegistryClient(self.registry_config) as client:
            answer = await client.login(auth.get("serveraddress", ""), auth)
        return answer.get("IdentityToken", "")

    async def distribution(self, name: str, auth: Auth = None) -> dict[str, Any]:
        """`GET /distribution/{name}/json`: what `name` is in its registry now, and for which
        platforms (an index's entries, or a single manifest's config), as dockerd answers."""
        from ketch.oci import mediatypes
        from ketch.oci.manifest import Index

        ref = reference.parse(name)
        async with RegistryClient(self.registry_config) as client:
            found = await client.fetch_manifest(ref, auth)
            if isinstance(found, Index):
                platforms = [
                    dict(entry.platform)
                    for entry in found.manifests
                    if entry.platform and entry.media_type in mediatypes.MANIFESTS
                ]
            else:
                await client.fetch_blob(ref, found.config, self.content, auth=auth)
                config = json.loads(self.content.read_bytes(found.config.digest))
                platforms = [{
                    key: config[key]
                    for key in ("architecture", "os", "os.version", "os.features", "variant")
                    if config.get(key)
                }]  # fmt: skip
        descriptor = {"mediaType": found.media_type, "digest": found.digest, "size": len(found.raw)}
        return {"Descriptor": descriptor, "Platforms": platforms}

    # -- images made here: commit, import, build ---------------------------------

    @adds_layers
    async def create_image(
        self,
        config: dict[str, Any],
        layer_tars: list[Path],
        parent: Image | None = None,
        tags: list[str] | None = None,
    ) -> Image:
        """A new image: `parent`'s layers plus `layer_tars` (tar, gzip or zstd), with
        `config` as its image config (`rootfs` is filled in; `architecture`, `os` and
        `created` default to this host and now). For commit, import and build."""
        diff_ids = list(parent.diff_ids) if parent else []
        layers = list(parent.layers) if parent else []
        chain = parent.chain_id if parent else None
        for tar in layer_tars:
            digest, size, media_type = await asyncio.to_thread(
                archive().store_file, self.content, tar
            )
            chain, diff_id, _ = await asyncio.to_thread(
                self.snapshots.apply_layer, chain, self.content.path(digest), media_type
            )
            diff_ids.append(diff_id)
            layers.append({"mediaType": media_type, "digest": digest, "size": size})
        full = json.loads(json.dumps(config))
        platform = host_platform()
        full.setdefault("architecture", platform["architecture"])
        full.setdefault("os", platform["os"])
        full.setdefault("created", rfc3339_nano())
        full["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        image_id = self.content.put_bytes(json.dumps(full, separators=(",", ":")).encode())
        size = sum(self.snapshots.layer_size(c) for c in chain_ids(diff_ids))
        record = ImageRecord(id=image_id, chain_id=chain, diff_ids=diff_ids, layers=layers,
                             parent=parent.id if parent else None)  # fmt: skip
        record.size = size
        self.records.put(record)
        for text in tags or []:
            self.tags.set(reference.parse(text), image_id)
        return self._image(image_id)

    async def import_rootfs(
        self,
        source: Path,
        repo: str | None = None,
        tag: str | None = None,
        container_config: dict[str, Any] | None = None,
        message: str = "",
    ) -> Image:
        """`docker import`: one layer from a root filesystem tar (any compression)."""
        created = rfc3339_nano()
        config = {
            "created": created,
            "config": dict(container_config or {}),
            "history": [{"created": created, "comment": message or "Imported from -"}],
        }
        tags = []
        if repo:
            target = reference.parse_repository(repo)
            tags.append(str(target.with_tag(tag or target.tag or reference.DEFAULT_TAG)))
        return await self.create_image(config, [source], tags=tags)

    # -- save / load -------------------------------------------------------------

    async def save(self, names: list[str], out: BinaryIO) -> None:
        """`docker save`: the named images as one archive written to `out`.

        A repository name without tag saves every tag of it, as dockerd does.
        """
        chosen: dict[str, list[Reference]] = {}
        for name in names:
            for image_id, ref in self._save_targets(name):
                refs = chosen.setdefault(image_id, [])
                if ref is not None and ref not in refs:
                    refs.append(ref)
        plan = []
        for image_id, refs in chosen.items():
            image = self._image(image_id)
            plan.append(archive().SavedImage(image.id, image.diff_ids, image.layers, refs))
        await asyncio.to_thread(archive().write_archive, out, plan, self.content)

    def _save_targets(self, name: str) -> list[tuple[str, Reference | None]]:
        try:
            bare = reference.parse(name, default_tag=False)
        except errors.InvalidArgument:
            bare = None
        if bare is not None and bare.tag is None and bare.digest is None:
            tagged: list[tuple[str, Reference | None]] = [
                (image_id, ref)
                for image_id in sorted(self.tags.image_ids())
                for ref in self.tags.references_to(image_id)
                if ref.name == bare.name and ref.tag is not None and ref.digest is None
            ]
            if tagged:
                return tagged
        image_id = self._resolve(name)
        if is_id_prefix(image_id, name) or bare is None:
            return [(image_id, None)]
        ref = reference.parse(name)
        return [(image_id, ref if ref.digest is None else None)]

    @adds_layers
    async def load(self, archive_path: Path, progress: Progress) -> list[str]:
        """`docker load` from a docker-archive or OCI layout tar; returns the image IDs.

        Progress messages are dockerd's `{"stream": "Loaded image: x:tag\n"}` lines.
        """
        found = await asyncio.to_thread(archive().read_archive, archive_path, self.content)
        loaded = []
        for item in found:
            parent: str | None = None
            size = 0
            for layer, diff_id in zip(item.layers, item.diff_ids, strict=True):
                parent, _, layer_size = await asyncio.to_thread(
                    self.snapshots.apply_layer,
                    parent,
                    self.content.path(layer["digest"]),
                    layer["mediaType"],
                    diff_id,
                )
                size += layer_size
            image_id = item.config_digest
            record = self.records.get(image_id) or ImageRecord(
                id=image_id, chain_id=parent, diff_ids=item.diff_ids
            )
            record.layers = item.layers
            record.size = size
            if item.manifest_digest:
                record.manifest_digest = item.manifest_digest
                record.manifest_media_type = item.manifest_media_type
            self.records.put(record)
            for tag in item.repo_tags:
                ref = reference.parse(tag)
                previous = self.tags.get(ref)
                if previous is not None and previous != image_id:
                    progress(
                        {
                            "stream": f"The image {ref.familiar()} already exists, renaming the"
                            f" old one with ID {previous} to empty string\n"
                        }
                    )
                self.tags.set(ref, image_id)
                progress({"stream": f"Loaded image: {ref.familiar()}\n"})
            if not item.repo_tags:
                progress({"stream": f"Loaded image ID: {image_id}\n"})
            loaded.append(image_id)
        return loaded

    def _is_whole(self, image_id: str) -> bool:
        record = self.records.get(image_id)
        return record is not None and (
            record.chain_id is None or self.snapshots.has_layer(record.chain_id)
        )

    # -- lookup ----------------------------------------------------------------

    def get(self, name_or_id: str) -> Image:
        """By reference (`hello-world`, `x:tag`, `x@sha256:...`), full ID or ID prefix."""
        return self._image(self._resolve(name_or_id))

    def list(self) -> list[Image]:
        """Every image, newest first."""
        images = [self._image(image_id) for image_id in self.records.ids()]
        return sorted(images, key=lambda image: image.created, reverse=True)

    def snapshot_for(self, image: Image) -> str | None:
        """The ChainID a container's snapshot of `image` sits on, for
        `SnapshotStore.prepare`; None for an image without layers."""
        return image.chain_id

    def _resolve(self, name: str) -> str:
        text = name.strip()
        if not text:
            raise errors.no_such_image(name)
        hex_part = text.removeprefix("sha256:")
        if len(hex_part) == 64 and all(c in "0123456789abcdef" for c in hex_part):
            image_id = f"sha256:{hex_part}"
            if self.records.get(image_id) is not None:
                return image_id
            raise errors.no_such_image(name)
        try:
            ref = reference.parse(text)
        except errors.InvalidArgument:
            ref = None
        if ref is not None:
            if ref.digest is not None:
                ref = ref.with_digest(ref.digest)  # `name:tag@digest`: the digest decides
            found = self.tags.get(ref)
            if found is not None and self.records.get(found) is not None:
                return found
        if reference.is_digest_id(text) or (
            hex_part and len(hex_part) < 64 and all(c in "0123456789abcdef" for c in hex_part)
        ):
            matches = [i for i in self.records.ids() if is_id_prefix(i, text)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise errors.InvalidArgument(f"ambiguous image ID prefix: {name}")
        raise errors.no_such_image(name)

    def _image(self, image_id: str) -> Image:
        record = self.records.get(image_id)
        if record is None:
            raise errors.no_such_image(image_id)
        config = json.loads(self.content.read_bytes(image_id))
        refs = self.tags.references_to(image_id)
        return Image(
            id=image_id,
            repo_tags=[r.familiar() for r in refs if r.digest is None],
            repo_digests=[r.familiar() for r in refs if r.digest is not None],
            config=config,
            chain_id=record.chain_id,
            size=record.size,
            created=config.get("created") or ZERO_TIME,
            diff_ids=list(record.diff_ids),
            layers=list(record.layers),
            last_tag_time=record.last_tag_time,
            parent=record.parent,
        )

    # -- tags --------------------------------------------------------------------

    def tag(self, src: str, repo: str, tag: str | None = None) -> Image:
        """`docker tag src repo:tag`."""
        image_id = self._resolve(src)
        target = reference.parse_repository(repo)
        if target.digest is not None:
            raise errors.InvalidArgument("refusing to create a tag with a digest reference")
        if tag:
            if target.tag is not None:
                raise errors.InvalidArgument(f"invalid reference format: {repo}:{tag}")
            target = reference.parse(f"{repo}:{tag}")
        elif target.tag is None:
            target = target.with_tag(reference.DEFAULT_TAG)
        self.tags.set(target, image_id)
        record = self.records.get(image_id)
        if record is not None:
            record.last_tag_time = rfc3339_nano()
            self.records.put(record)
        return self._image(image_id)

    # -- remove ------------------------------------------------------------------

    def remove(
        self, name: str, force: bool = False, prune: bool = True
    ) -> builtins.list[dict[str, str]]:
        """`docker rmi`: untag, and delete the image once nothing names it (dockerd's rules).

        Pulled images have no parent images, so `prune` has nothing more to remove.
        """
        del prune
        image_id = self._resolve(name)
        refs = self.tags.references_to(image_id)
        removed: builtins.list[dict[str, str]] = []
        if not is_id_prefix(image_id, name):
            if not force and is_single_reference(refs):
                user = self._user(image_id)
                if user is not None:
                    raise errors.Conflict(
                        f'conflict: unable to remove repository reference "{name}" (must force)'
                        f" - container {truncate_id(user)} is using its referenced image"
                        f" {truncate_id(image_id)}"
                    )
            ref = reference.parse(name)
            if self.tags.delete(ref):
                removed.append({"Untagged": ref.familiar()})
            refs = self.tags.references_to(image_id)
            if ref.digest is None and not any(
                r.digest is None and r.name == ref.name for r in refs
            ):
                # Untagging the repository's last tag takes its digest references too.
                for other in [r for r in refs if r.digest is not None and r.name == ref.name]:
                    self.tags.delete(other)
                    removed.append({"Untagged": other.familiar()})
                refs = self.tags.references_to(image_id)
            if refs:
                return removed
        elif is_single_reference(refs):
            self._check_conflicts(image_id, hard=True, soft=not force, active_reference=False)
            for ref in refs:
                self.tags.delete(ref)
                removed.append({"Untagged": ref.familiar()})
        self._check_conflicts(image_id, hard=True, soft=not force, active_reference=not force)
        for ref in self.tags.references_to(image_id):
            self.tags.delete(ref)
            removed.append({"Untagged": ref.familiar()})
        removed.append({"Deleted": image_id})
        removed.extend({"Deleted": layer} for layer in self._delete_image(image_id))
        return removed

    def prune(
        self, dangling_only: bool = True, filters: dict[str, builtins.list[str]] | None = None
    ) -> dict[str, Any]:
        """`POST /images/prune`: untagged images (or, with `dangling_only=False`, all)
        that no container uses and `filters` (label, label!, until) take; reports what
        went and the bytes of layers freed."""
        import time

        from ketch.images.filters import prune_matcher

        matches = prune_matcher(filters or {}, time.time())
        layer_sizes = {c: self.snapshots.layer_size(c) for c in self.snapshots.layers()}
        deleted: builtins.list[dict[str, str]] = []
        for image in self.list():
            if dangling_only and image.repo_tags:
                continue
            if not matches(image):
                continue
            if self._user(image.id) is not None:
                continue
            deleted.extend(self.remove(image.id, force=True))
        deleted.extend({"Deleted": chain} for chain in self.collect_layers())
        reclaimed = sum(layer_sizes.get(item.get("Deleted", ""), 0) for item in deleted)
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def layer_usage(self) -> LayerUsage:
        """`system df`'s LayersSize and each image's SharedSize, from the unpacked layers."""

        def size(chain: str) -> int:
            try:
                return self.snapshots.layer_size(chain)
            except errors.NotFound:  # removed since the images were listed
                return 0

        return layer_usage({image.id: chain_ids(image.diff_ids) for image in self.list()}, size)

    def collect_layers(self) -> builtins.list[str]:
        """Remove unpacked layers no image names and no container snapshot sits on
        (left by `rmi -f` of an image a container used, once that container is gone).
        Does nothing while a pull, load or commit is unpacking. Returns the ChainIDs."""
        if self._adding_layers:
            return []
        named = {
            chain
            for image_id in self.records.ids()
            if (record := self.records.get(image_id)) is not None
            for chain in chain_ids(record.diff_ids)
        }
        removed: builtins.list[str] = []
        progress = True
        while progress:  # a layer's parent becomes free once the layer is gone
            progress = False
            for chain in self.snapshots.layers():
                if chain in named:
                    continue
                try:
                    self.snapshots.remove_layer(chain)
                except errors.Conflict:
                    continue
                removed.append(chain)
                progress = True
        return removed

    def _user(self, image_id: str) -> str | None:
        if self.image_running is not None:
            running = self.image_running(image_id)
            if running is not None:
                return running
        return self.image_in_use(image_id) if self.image_in_use is not None else None

    def _check_conflicts(
        self, image_id: str, hard: bool, soft: bool, active_reference: bool
    ) -> None:
        def conflict(forced: str, why: str) -> errors.Conflict:
            return errors.Conflict(
                f"conflict: unable to delete {truncate_id(image_id)} ({forced}) - {why}"
            )

        running = self.image_running(image_id) if self.image_running else None
        if hard and running is not None:
            raise conflict(
                "cannot be forced",
                f"image is being used by running container {truncate_id(running)}",
            )
        if soft and active_reference and self.tags.references_to(image_id):
            raise conflict("must be forced", "image is referenced in multiple repositories")
        user = self.image_in_use(image_id) if self.image_in_use else None
        if soft and user is not None:
            raise conflict(
                "must be forced", f"image is being used by stopped container {truncate_id(user)}"
            )

    def _delete_image(self, image_id: str) -> builtins.list[str]:
        """Forget the image; free its layers and blobs that no other image uses."""
        record = self.records.get(image_id)
        if record is None:
            return []
        self.records.delete(image_id)
        others = [self.records.get(i) for i in self.records.ids()]
        others_chains = {c for o in others if o for c in chain_ids(o.diff_ids)}
        others_blobs = {
            digest
            for o in others
            if o
            for digest in [o.id, o.manifest_digest, *(layer["digest"] for layer in o.layers)]
        }
        deleted_layers: builtins.list[str] = []
        for chain_id in reversed(chain_ids(record.diff_ids)):
            if chain_id in others_chains or not self.snapshots.has_layer(chain_id):
                break  # shared from here down (ChainIDs share prefixes)
            try:
                self.snapshots.remove_layer(chain_id)
            except errors.Conflict:
                break  # a container's snapshot still sits on it
            deleted_layers.append(chain_id)
        blobs = [record.id, record.manifest_digest, *(layer["digest"] for layer in record.layers)]
        for digest in blobs:
            if digest and digest not in others_blobs and self.content.has(digest):
                self.content.delete(digest)
        return deleted_layers

    # -- views -------------------------------------------------------------------

    def inspect(self, name: str) -> dict[str, Any]:
        image = self.get(name)
        return views.inspect_view(image, self._graph_driver(image))

    def summary(self, image: Image) -> dict[str, Any]:
        """One entry of `GET /images/json`."""
        return views.summary_view(image)

    def history(self, name: str) -> builtins.list[dict[str, Any]]:
        image = self.get(name)
        sizes = [self.snapshots.layer_size(c) for c in chain_ids(image.diff_ids)]
        return views.history_view(image, sizes)

    def _graph_driver(self, image: Image) -> dict[str, Any]:
        if image.chain_id is None:
            return {"Name": "overlay2", "Data": None}
        chain = chain_ids(image.diff_ids)
        diffs = [str(self.snapshots.layer_path(c)) for c in reversed(chain)]
        data = {"UpperDir": diffs[0], "WorkDir": str(Path(diffs[0]).parent / "work")}
        if len(diffs) > 1:
            data["LowerDir"] = ":".join(diffs[1:])
        data["MergedDir"] = str(Path(diffs[0]).parent / "merged")
        return {"Name": "overlay2", "Data": data}
