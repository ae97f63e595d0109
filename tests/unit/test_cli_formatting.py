"""Docker's text layout: human durations and sizes, tabwriter tables, quoting, templates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ketch.cli import units
from ketch.cli.images import image_rows
from ketch.cli.listing import parse_filters, render_rows
from ketch.cli.progress import ProgressDisplay, message_line, progress_bar
from ketch.cli.ps import DEFAULT_FORMAT, HEADERS, container_row, format_ports
from ketch.cli.tables import ellipsis, render_table, short_id
from ketch.cli.template import TemplateError, go_json, render
from ketch.gostrings import quote as go_quote


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "Less than a second"),
        (1, "1 second"),
        (5, "5 seconds"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (120, "2 minutes"),
        (3599, "59 minutes"),
        (3600, "About an hour"),
        (5399, "About an hour"),
        (5400, "2 hours"),
        (47 * 3600, "47 hours"),
        (48 * 3600, "2 days"),
        (15 * 86400, "2 weeks"),
        (70 * 86400, "2 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert units.human_duration(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (999, "999B"),
        (1000, "1kB"),
        (4_261_000, "4.26MB"),
        (13_256, "13.3kB"),
        (1_500_000_000, "1.5GB"),
        (117_000_000, "117MB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert units.human_size(size) == text


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024", 1024),
        ("100k", 102400),
        ("512m", 512 << 20),
        ("1g", 1 << 30),
        ("2GB", 2 << 30),
        ("1.5m", int(1.5 * (1 << 20))),
        ("10b", 10),
    ],
)
def test_ram_in_bytes(text: str, size: int) -> None:
    assert units.ram_in_bytes(text) == size


def test_ram_in_bytes_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        units.ram_in_bytes("lots")


def test_since_and_until_values() -> None:
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert units.api_time("10m", now) == f"{int(now.timestamp()) - 600}.000000000"
    assert units.api_time("1700000000") == "1700000000"
    assert units.api_time("2024-01-01T11:00:00Z") == f"{int(now.timestamp()) - 3600}.000000000"
    assert units.parse_timestamp("0001-01-01T00:00:00Z") is None
    parsed = units.parse_timestamp("2024-01-01T12:00:00.123456789Z")
    assert parsed == datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_table_layout_matches_dockers_tabwriter() -> None:
    table = render_table(
        [["CONTAINER ID", "IMAGE", "PORTS", "NAMES"], ["0123456789ab", "busybox", "", "web"]]
    )
    assert table == (
        "CONTAINER ID   IMAGE     PORTS     NAMES\n0123456789ab   busybox             web\n"
    )


def test_quote_and_ellipsis() -> None:
    assert ellipsis("sh -c 'echo started; sleep'", 20) == "sh -c 'echo started…"
    assert ellipsis("short", 20) == "short"
    assert go_quote('say "hi"\n') == '"say \\"hi\\"\\n"'
    assert go_quote("tab\there…") == '"tab\\there…"'
    assert go_quote("\x00") == '"\\x00"'
    assert short_id("sha256:" + "ab" * 32) == "abababababab"


def container(**fields: object) -> dict:
    base = {
        "Id": "f" * 64,
        "Names": ["/web", "/other/alias"],
        "Image": "busybox",
        "Command": "sh -c 'echo started; sleep 100'",
        "Created": 1_700_000_000,
        "Status": "Up 5 seconds",
        "State": "running",
        "Ports": [],
        "Labels": {"a": "1"},
    }
    base.update(fields)
    return base


def test_ps_table_row() -> None:
    now = 1_700_000_000 + 150
    row = container_row(container(), truncate=True, now=now)
    assert row["ID"] == "f" * 12
    assert row["Command"] == '"sh -c \'echo started…"'
    assert row["RunningFor"] == "2 minutes ago"
    assert row["Names"] == "web"
    output = render_rows(DEFAULT_FORMAT, [row], HEADERS)
    assert output.splitlines() == [
        "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         "
        "PORTS     NAMES",
        'ffffffffffff   busybox   "sh -c \'echo started…"   2 minutes ago   Up 5 seconds   '
        "          web",
    ]
    full = container_row(container(Image="sha256:" + "e" * 64), truncate=False, now=now)
    assert full["ID"] == "f" * 64 and full["Command"] == "\"sh -c 'echo started; sleep 100'\""
    assert container_row(container(Image="sha256:" + "e" * 64), True)["Image"] == "e" * 12


def test_ps_formats_and_filters() -> None:
    rows = [container_row(container(), truncate=True)]
    assert render_rows("{{.ID}} {{.Names}}", rows, HEADERS) == "ffffffffffff web\n"
    assert render_rows("table {{.Names}}\t{{.State}}", rows, HEADERS) == (
        "NAMES     STATE\nweb       running\n"
    )
    assert render_rows("json", [{"Names": "web", "State": "running"}], HEADERS) == (
        '{"Names":"web","State":"running"}\n'
    )
    assert parse_filters(["status=exited", "name=a", "name=b"]) == {
        "status": ["exited"],
        "name": ["a", "b"],
    }


def test_ports_column() -> None:
    ports = [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"PrivatePort": 53, "Type": "udp"},
    ]
    # docker's order: groups first (unpublished, same-number), then other mappings
    assert format_ports(ports) == "53/udp, 0.0.0.0:8080->80/tcp"
    same_number = [
        {"IP": "0.0.0.0", "PrivatePort": port, "PublicPort": port, "Type": "tcp"}
        for port in (8081, 8080, 8083)
    ]
    assert format_ports(same_number) == "0.0.0.0:8080-8081->8080-8081/tcp, 0.0.0.0:8083->8083/tcp"
    unpublished = [{"PrivatePort": port, "Type": "tcp"} for port in (80, 81, 82)]
    assert format_ports(unpublished + [{"PrivatePort": 80, "Type": "udp"}]) == "80-82/tcp, 80/udp"
    v6 = [{"IP": "::", "PrivatePort": 80, "PublicPort": 32768, "Type": "tcp"}]
    assert format_ports(v6) == "[::]:32768->80/tcp"


def test_images_rows() -> None:
    image = {
        "Id": "sha256:" + "c" * 64,
        "RepoTags": ["busybox:latest", "me/box:v1"],
        "RepoDigests": ["busybox@sha256:" + "d" * 64],
        "Created": 0,
        "Size": 4_261_000,
    }
    rows = image_rows(image, truncate=True)
    assert [(r["Repository"], r["Tag"], r["ID"], r["Size"]) for r in rows] == [
        ("busybox", "latest", "c" * 12, "4.26MB"),
        ("me/box", "v1", "c" * 12, "4.26MB"),
    ]
    assert rows[0]["Digest"] == "sha256:" + "d" * 64 and rows[1]["Digest"] == "<none>"
    dangling = image_rows(
        {"Id": "sha256:" + "c" * 64, "RepoTags": [], "Created": 0, "Size": 1}, truncate=False
    )
    assert (dangling[0]["Repository"], dangling[0]["Tag"]) == ("<none>", "<none>")
    assert dangling[0]["ID"] == "sha256:" + "c" * 64
    port_tag = image_rows(
        {"Id": "sha256:1", "RepoTags": ["localhost:5000/x"], "Size": 0}, truncate=True
    )
    assert (port_tag[0]["Repository"], port_tag[0]["Tag"]) == ("localhost:5000/x", "<none>")


INSPECTED = {
    "Id": "abc",
    "State": {"ExitCode": 3, "Running": False, "Error": ""},
    "Config": {"Env": ["A=1", "B=<2>"], "Labels": {"b": "2", "a": "1"}, "Cmd": None},
    "HostConfig": {"Memory": 0, "AutoRemove": True},
}


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("{{.State.ExitCode}}", "3"),
        ("{{.Id}}", "abc"),
        (
            "{{json .Config}}",
            # docker's template `json` leaves <, > and & as they are (SetEscapeHTML(false))
            '{"Env":["A=1","B=<2>"],"Labels":{"b":"2","a":"1"},"Cmd":null}',
        ),
        ("{{.Config.Labels}}", "map[a:1 b:2]"),
        ("{{.Config.Env}}", "[A=1 B=<2>]"),
        ("{{.Config.Cmd}}", "<nil>"),
        ("{{.Nope}}", "<no value>"),
        ("{{.HostConfig.AutoRemove}}", "true"),
        ("{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=<2>]"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "down"),
        ('{{index .Config.Labels "a"}}', "1"),
        ('{{join .Config.Env ","}}', "A=1,B=<2>"),
        ("{{.Config.Env | len}}", "2"),
        ("{{upper .Id}}", "ABC"),
        ("a {{- .Id -}} b", "aabcb"),
        ("{{json .State.Error}}", '""'),
    ],
)
def test_go_template_subset(template: str, text: str) -> None:
    assert render(template, INSPECTED) == text


def test_template_errors() -> None:
    with pytest.raises(TemplateError, match='function "nope" not defined'):
        render("{{nope .Id}}", INSPECTED)
    with pytest.raises(TemplateError):
        render("{{if .Id}}unclosed", INSPECTED)
    assert go_json({"a": "x&y"}) == '{"a":"x\\u0026y"}'
    with pytest.raises(TemplateError):
        render("{{json.Config}}", INSPECTED)


def test_pull_progress_lines_off_a_terminal() -> None:
    assert message_line({"status": "Pulling from library/busybox", "id": "latest"}, False) == (
        "latest: Pulling from library/busybox"
    )
    downloading = {
        "status": "Downloading",
        "id": "abc",
        "progressDetail": {"current": 5, "total": 10},
    }
    assert message_line(downloading, terminal=False) is None
    assert message_line(downloading, terminal=True).startswith("abc: Downloading [=====")
    assert message_line({"status": "Digest: sha256:x"}, False) == "Digest: sha256:x"
    # moby's JSONProgress, the same bar the daemon sends: 50 ticks, then the arrow
    assert progress_bar(10, 10) == "[" + "=" * 50 + ">]      10B/10B"


class Sink:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_pull_progress_redraws_layers_on_a_terminal() -> None:
    sink = Sink()
    display = ProgressDisplay(sink, terminal=True)
    display.show({"status": "Pulling from library/x", "id": "latest"})
    display.show({"status": "Pulling fs layer", "id": "a"})
    display.show({"status": "Pulling fs layer", "id": "b"})
    display.show({"status": "Pull complete", "id": "a"})
    assert sink.text == (
        "latest: Pulling from library/x\na: Pulling fs layer\nb: Pulling fs layer\n"
        "\x1b[2A\r\x1b[2Ka: Pull complete\x1b[2B\r"
    )


def test_pull_error_message_raises() -> None:
    display = ProgressDisplay(Sink(), terminal=False)
    with pytest.raises(Exception, match="manifest unknown"):
        display.show({"error": "manifest unknown", "errorDetail": {"message": "manifest unknown"}})


def test_status_ages_round_hours_as_go_does() -> None:
    # Go's Duration.Round(time.Hour) takes 2.5 h to 3 hours; Python's round() to 2.
    from ketch.containers.status import status_text

    state = {"Running": True, "StartedAt": "2026-01-01T00:00:00Z"}
    two_and_a_half_hours = 1767225600 + 9000  # 2026-01-01T00:00:00Z + 2.5 h
    assert status_text(state, now=two_and_a_half_hours) == "Up 3 hours"
