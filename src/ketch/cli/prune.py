"""`container prune`, `image prune`, `builder prune`, `system prune`: docker's questions,
reports and totals."""

from __future__ import annotations

from ketch.cli import units
from ketch.cli.app import Cli, Entry, ExitStatus
from ketch.cli.flags import BOOL, LIST, STRING, Command, Flag, Parsed
from ketch.cli.listing import parse_filters
from ketch.cli.tables import natural_sorted

TYPE_CHECKING = False  # typing stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable

    Step = Callable[[Cli, dict[str, list[str]], bool], tuple[int, str]]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONTAINER_WARNING = (
    "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"
)
DANGLING_WARNING = (
    "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
)
ALL_IMAGES_WARNING = (
    "WARNING! This will remove all images without at least one container associated to them.\n"
    "Are you sure you want to continue?"
)
BUILDER_WARNING = (
    "WARNING! This will remove all dangling build cache. Are you sure you want to continue?"
)
ALL_BUILDER_WARNING = (
    "WARNING! This will remove all build cache. Are you sure you want to continue?"
)


def confirm(cli: Cli, message: str) -> bool:
    from ketch.cli.network import confirm as ask

    return ask(cli, message)


def prune_containers(cli: Cli, filters: dict[str, list[str]], _all: bool) -> tuple[int, str]:
    report = cli.client.post("/containers/prune", {"filters": filters or None}) or {}
    deleted = report.get("ContainersDeleted") or []
    if not deleted:
        return 0, ""
    return report.get("SpaceReclaimed") or 0, "Deleted Containers:\n" + "".join(
        f"{each}\n" for each in deleted
    )


def prune_networks(cli: Cli, filters: dict[str, list[str]], _all: bool) -> tuple[int, str]:
    report = cli.client.post("/networks/prune", {"filters": filters or None}) or {}
    deleted = report.get("NetworksDeleted") or []
    if not deleted:
        return 0, ""
    return 0, "Deleted Networks:\n" + "".join(f"{each}\n" for each in deleted)


def prune_images(cli: Cli, filters: dict[str, list[str]], all_images: bool) -> tuple[int, str]:
    filters = dict(filters, dangling=["false" if all_images else "true"])
    report = cli.client.post("/images/prune", {"filters": filters}) or {}
    deleted = report.get("ImagesDeleted") or []
    if not deleted:
        return 0, ""
    lines = [
        f"untagged: {item['Untagged']}"
        if item.get("Untagged")
        else f"deleted: {item.get('Deleted', '')}"
        for item in deleted
    ]
    return report.get("SpaceReclaimed") or 0, "Deleted Images:\n" + "".join(
        f"{line}\n" for line in lines
    )


def prune_build_cache(cli: Cli, filters: dict[str, list[str]], all_cache: bool) -> tuple[int, str]:
    params: dict[str, Any] = {"all": all_cache or None, "filters": filters or None}
    report = cli.client.post("/build/prune", params) or {}
    deleted = report.get("CachesDeleted") or []
    output = ""
    if deleted:
        output = "Deleted build cache objects:\n" + "".join(f"{each}\n" for each in deleted)
    return report.get("SpaceReclaimed") or 0, output


def _report(cli: Cli, results: list[tuple[int, str]]) -> None:
    total = 0
    for reclaimed, output in results:
        total += reclaimed
        if output:
            cli.out(output)
    cli.out(f"Total reclaimed space: {units.human_size(total, 4)}")


def container_prune(cli: Cli, parsed: Parsed) -> int:
    if not parsed.force and not confirm(cli, CONTAINER_WARNING):
        return 0
    _report(cli, [prune_containers(cli, parse_filters(parsed.filter), False)])
    return 0


def image_prune(cli: Cli, parsed: Parsed) -> int:
    warning = ALL_IMAGES_WARNING if parsed.all else DANGLING_WARNING
    if not parsed.force and not confirm(cli, warning):
        return 0
    _report(cli, [prune_images(cli, parse_filters(parsed.filter), parsed.all)])
    return 0


def builder_prune(cli: Cli, parsed: Parsed) -> int:
    warning = ALL_BUILDER_WARNING if parsed.all else BUILDER_WARNING
    if not parsed.force and not confirm(cli, warning):
        return 0
    reclaimed, output = prune_build_cache(cli, parse_filters(parsed.filter), parsed.all)
    if output:
        cli.out(output)
    cli.out(f"Total reclaimed space: {units.human_size(reclaimed, 4)}")
    return 0


def system_prune_question(parsed: Parsed, filters: dict[str, list[str]]) -> str:
    warnings = ["all stopped containers", "all networks not used by at least one container"]
    if parsed.volumes:
        warnings.append("all anonymous volumes not used by at least one container")
    warnings.append(
        "all images without at least one container associated to them"
        if parsed.all
        else "all dangling images"
    )
    warnings.append("all build cache" if parsed.all else "unused build cache")
    text = "WARNING! This will remove:" + "".join(f"\n  - {each}" for each in warnings) + "\n"
    shown = natural_sorted(
        [
            f"{name}={value}"
            for name in ("label", "label!", "until")
            for value in filters.get(name, [])
        ]
    )
    if shown:
        text += "\n  Items to be pruned will be filtered with:"
        text += "".join(f"\n  - {each}" for each in shown) + "\n"
    return text + "\nAre you sure you want to continue?"


def prune_volumes(cli: Cli, filters: dict[str, list[str]], _all: bool) -> tuple[int, str]:
    report = cli.client.post("/volumes/prune", {"filters": filters or None}) or {}
    deleted = report.get("VolumesDeleted") or []
    if not deleted:
        return 0, ""
    return report.get("SpaceReclaimed") or 0, "Deleted Volumes:\n" + "".join(
        f"{each}\n" for each in deleted
    )


def system_prune(cli: Cli, parsed: Parsed) -> int:
    filters = parse_filters(parsed.filter)
    if parsed.volumes and "until" in filters:
        raise ExitStatus(1, 'ERROR: The "until" filter is not supported with "--volumes"')
    if not parsed.force and not confirm(cli, system_prune_question(parsed, filters)):
        return 0
    steps: list[Step] = [prune_containers, prune_networks]
    if parsed.volumes:
        steps.append(prune_volumes)
    steps += [prune_images, prune_build_cache]
    results = []
    for step in steps:
        reclaimed, output = step(cli, filters, parsed.all)
        if output:
            cli.out(output)
        results.append((reclaimed, ""))
    _report(cli, results)
    return 0


_FORCE = Flag("force", "force", "f", BOOL, help="Do not prompt for confirmation")
_FILTER = Flag(
    "filter", "filter", None, LIST, help='Provide filter values (e.g. "until=<timestamp>")'
)

ENTRIES = {
    "container prune": Entry(
        Command(
            "container prune",
            "container prune [OPTIONS]",
            "Remove all stopped containers",
            [_FORCE, _FILTER],
            max_args=0,
        ),
        container_prune,
    ),
    "image prune": Entry(
        Command(
            "image prune",
            "image prune [OPTIONS]",
            "Remove unused images",
            [
                Flag(
                    "all", "all", "a", BOOL, help="Remove all unused images, not just dangling ones"
                ),
                _FORCE,
                _FILTER,
            ],
            max_args=0,
        ),
        image_prune,
    ),
    "builder prune": Entry(
        Command(
            "builder prune",
            "builder prune",
            "Remove build cache",
            [
                Flag(
                    "all",
                    "all",
                    "a",
                    BOOL,
                    help="Remove all unused build cache, not just dangling ones",
                ),
                _FORCE,
                _FILTER,
                Flag(
                    "keep_storage",
                    "keep-storage",
                    None,
                    STRING,
                    help="Amount of disk space to keep for cache",
                ),
            ],
            max_args=0,
        ),
        builder_prune,
    ),
    "system prune": Entry(
        Command(
            "system prune",
            "system prune [OPTIONS]",
            "Remove unused data",
            [
                Flag(
                    "all", "all", "a", BOOL, help="Remove all unused images not just dangling ones"
                ),
                _FORCE,
                _FILTER,
                Flag("volumes", "volumes", None, BOOL, help="Prune anonymous volumes"),
            ],
            max_args=0,
        ),
        system_prune,
    ),
}
