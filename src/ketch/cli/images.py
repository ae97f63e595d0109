"""`ketch images`, `ketch rmi`, `ketch tag`."""

from __future__ import annotations

from typing import Any

from ketch.cli import units
from ketch.cli.app import Cli, Entry
from ketch.cli.flags import BOOL, LIST, STRING, Command, Flag, Parsed
from ketch.cli.lifecycle import for_each
from ketch.cli.listing import parse_filters, render_rows
from ketch.cli.tables import short_id
from ketch.oci import reference

DEFAULT_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DIGESTS_FORMAT = (
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
)
HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "ID": "IMAGE ID",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "VirtualSize": "SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
    "Containers": "CONTAINERS",
}
NONE = "<none>"


def _split_tag(repo_tag: str) -> tuple[str, str]:
    slash = repo_tag.rfind("/")
    colon = repo_tag.rfind(":")
    if colon > slash:
        return repo_tag[:colon], repo_tag[colon + 1 :]
    return repo_tag, NONE


def image_rows(
    image: dict[str, Any], truncate: bool, digests_shown: bool = True
) -> list[dict[str, Any]]:
    """One row per tag (docker's layout); an untagged image is one <none> row. Digests
    are shown only when asked for (`--digests`, or `{{.Digest}}` in the format)."""
    digests: dict[str, str] = {}
    for repo_digest in image.get("RepoDigests") or []:
        repo, _, digest = repo_digest.partition("@")
        digests.setdefault(repo, digest)
    tags = [tag for tag in image.get("RepoTags") or [] if tag != "<none>:<none>"]
    pairs = [_split_tag(tag) for tag in tags]
    if not pairs:
        pairs = [(repo, NONE) for repo in digests] or [(NONE, NONE)]
    image_id = image.get("Id", "")
    created = image.get("Created", 0)
    shared = image.get("SharedSize", -1)
    rows = []
    for repo, tag in pairs:
        rows.append(
            {
                "Repository": repo,
                "Tag": tag,
                "ID": short_id(image_id) if truncate else image_id,
                "Digest": digests.get(repo, NONE) if digests_shown else NONE,
                "CreatedSince": units.ago(created),
                "CreatedAt": _created_at(created),
                "Size": units.human_size(image.get("Size", 0)),
                "Containers": _count_or_na(image.get("Containers", -1)),
                "SharedSize": _size_or_na(shared),
                "UniqueSize": _size_or_na(-1 if shared == -1 else image.get("Size", 0) - shared),
                # docker's VirtualSize is Size since API 1.44, with one digit more
                "VirtualSize": units.human_size(image.get("Size", 0), 4),
            }
        )
    return rows


def _count_or_na(count: int) -> str:
    return "N/A" if count == -1 else str(count)


def _size_or_na(size: int) -> str:
    return "N/A" if size == -1 else units.human_size(size, 4)


def _created_at(created: int) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created))


def images(cli: Cli, parsed: Parsed) -> int:
    filters = parse_filters(parsed.filter)
    if parsed.args:
        filters.setdefault("reference", []).append(parsed.args[0])
    params: dict[str, Any] = {"all": parsed.all or None, "filters": filters or None}
    found = cli.client.get("/images/json", params) or []
    truncate = not parsed.no_trunc
    if parsed.quiet:
        seen: set[str] = set()
        for image in found:
            shown = short_id(image["Id"]) if truncate else image["Id"]
            if shown not in seen:
                seen.add(shown)
                cli.out(shown)
        return 0
    template = parsed.format or (DIGESTS_FORMAT if parsed.digests else DEFAULT_FORMAT)
    if template == "table":
        template = DIGESTS_FORMAT if parsed.digests else DEFAULT_FORMAT
    # docker's needDigest
    digests_shown = bool(parsed.digests) or "{{.Digest}}" in template
    rows = [row for image in found for row in image_rows(image, truncate, digests_shown)]
    cli.stdout.write(render_rows(template, rows, HEADERS))
    return 0


def rmi(cli: Cli, parsed: Parsed) -> int:
    params = {"force": parsed.force, "noprune": parsed.no_prune}

    def remove(name: str) -> None:
        for item in cli.client.delete(f"/images/{name}", params) or []:
            if "Untagged" in item:
                cli.out(f"Untagged: {item['Untagged']}")
            if "Deleted" in item:
                cli.out(f"Deleted: {item['Deleted']}")

    failed = for_each(cli, parsed.args, remove, echo=False)
    return 1 if failed else 0


def tag(cli: Cli, parsed: Parsed) -> int:
    source, target = parsed.args
    ref = reference.parse(target)
    params = {"repo": ref.familiar_name, "tag": ref.tag or "latest"}
    cli.client.request("POST", f"/images/{source}/tag", params=params).read()
    return 0


ENTRIES = {
    "images": Entry(
        Command(
            "images",
            "images [OPTIONS] [REPOSITORY[:TAG]]",
            "List images",
            [
                Flag("all", "all", "a", BOOL, help="Show all images"),
                Flag("digests", "digests", None, BOOL, help="Show digests"),
                Flag("filter", "filter", "f", LIST, help="Filter output based on conditions"),
                Flag("format", "format", None, STRING, help="Format output using a Go template"),
                Flag("no_trunc", "no-trunc", None, BOOL, help="Don't truncate output"),
                Flag("quiet", "quiet", "q", BOOL, help="Only show image IDs"),
            ],
            max_args=1,
        ),
        images,
    ),
    "rmi": Entry(
        Command(
            "rmi",
            "rmi [OPTIONS] IMAGE [IMAGE...]",
            "Remove one or more images",
            [
                Flag("force", "force", "f", BOOL, help="Force removal of the image"),
                Flag("no_prune", "no-prune", None, BOOL, help="Do not delete untagged parents"),
            ],
            min_args=1,
        ),
        rmi,
    ),
    "tag": Entry(
        Command(
            "tag",
            "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
            "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
            [],
            min_args=2,
            max_args=2,
        ),
        tag,
    ),
}
