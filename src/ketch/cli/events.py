"""`ketch events`: the daemon's event stream, one line per event, until --until or Ctrl-C."""

from __future__ import annotations

import time

from ketch.cli import units
from ketch.cli.app import Cli, Entry, ExitStatus
from ketch.cli.flags import LIST, STRING, Command, Flag, Parsed, UsageError
from ketch.cli.listing import parse_filters
from ketch.cli.template import Template, TemplateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def event_line(event: dict[str, Any]) -> str:
    """docker's prettyPrintEvent: time, type, action, actor id, (sorted attributes)."""
    parts = []
    nanos = event.get("timeNano") or 0
    if nanos:
        parts.append(rfc3339_nano(nanos) + " ")
    elif event.get("time"):
        parts.append(rfc3339_nano(int(event["time"]) * 1_000_000_000) + " ")
    actor = event.get("Actor") or {}
    parts.append(f"{event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}")
    attributes = actor.get("Attributes") or {}
    if attributes:
        parts.append(" (" + ", ".join(f"{k}={attributes[k]}" for k in sorted(attributes)) + ")")
    return "".join(parts)


def rfc3339_nano(nanos: int) -> str:
    """Go's "2006-01-02T15:04:05.000000000Z07:00" in local time."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    local = time.localtime(seconds)
    offset = local.tm_gmtoff
    if offset == 0:
        zone = "Z"
    else:
        sign = "+" if offset > 0 else "-"
        zone = f"{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{fraction:09d}{zone}"


# events.Message's fields in its Go struct's order, which `{{json .}}` follows
MESSAGE_FIELDS = ("status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano")


def as_message(event: dict[str, Any]) -> dict[str, Any]:
    """The event as docker's client decodes and re-encodes it: struct order, the deprecated
    status/id/from left out when empty, attributes sorted as a Go map's."""
    message: dict[str, Any] = {}
    for name in MESSAGE_FIELDS:
        value = event.get(name)
        if name in ("status", "id", "from") and not value:
            continue
        if name == "Actor":
            actor = value or {}
            attributes = actor.get("Attributes") or {}
            value = {
                "ID": actor.get("ID", ""),
                "Attributes": {k: attributes[k] for k in sorted(attributes)},
            }
        message[name] = value if value is not None else ("" if name != "time" else 0)
    return message


def _time_param(text: str, name: str) -> str | None:
    if not text:
        return None
    try:
        return units.api_time(text)
    except ValueError:
        raise UsageError(f'invalid value for "{name}": "{text}"') from None


def events(cli: Cli, parsed: Parsed) -> int:
    template = None
    if parsed.format:
        source = "{{json .}}" if parsed.format == "json" else parsed.format
        try:
            template = Template(source)
            template.render({})
        except TemplateError as error:
            raise ExitStatus(64, f"Error parsing format: template: :1: {error}") from None
    params = {
        "since": _time_param(parsed.since, "since"),
        "until": _time_param(parsed.until, "until"),
        "filters": parse_filters(parsed.filter) or None,
    }
    response = cli.client.request("GET", "/events", params=params)
    for event in response.json_messages():
        try:
            line = event_line(event) if template is None else template.render(as_message(event))
        except TemplateError as error:
            raise ExitStatus(1, f"template: {error}") from None
        cli.stdout.write(line + "\n")
        cli.stdout.flush()
    return 0


ENTRIES = {
    "events": Entry(
        Command(
            "events",
            "events [OPTIONS]",
            "Get real time events from the server",
            [
                Flag(
                    "filter", "filter", "f", LIST, help="Filter output based on conditions provided"
                ),
                Flag("format", "format", None, STRING, help="Format output using a Go template"),
                Flag(
                    "since", "since", None, STRING, help="Show all events created since timestamp"
                ),
                Flag("until", "until", None, STRING, help="Stream events until this timestamp"),
            ],
            max_args=0,
        ),
        events,
    )
}
