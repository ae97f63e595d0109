"""Docker's RFC 3339 times: nine fraction digits in UTC, and Go's zero time for never."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ketch.timestamps import (
    ZERO_TIME,
    parse_docker_time,
    parse_go_duration,
    parse_rfc3339,
    rfc3339_from_seconds,
    rfc3339_nano,
)


def test_time_has_nine_fraction_digits_in_utc() -> None:
    assert rfc3339_nano(1_700_000_000_000_000_123) == "2023-11-14T22:13:20.000000123Z"
    assert rfc3339_nano(0) == "1970-01-01T00:00:00.000000000Z"
    assert rfc3339_from_seconds(1_700_000_000.5) == "2023-11-14T22:13:20.500000000Z"


def test_now_is_now() -> None:
    before = time.time()
    stamp = rfc3339_nano()
    after = time.time()
    parsed = parse_rfc3339(stamp)
    assert parsed is not None and before - 1e-6 <= parsed <= after + 1e-6
    assert len(stamp) == len("2026-01-02T03:04:05.123456789Z")


def test_round_trip_keeps_the_nanoseconds_a_float_can_hold() -> None:
    for time_ns in (
        0,
        1_700_000_000_123_456_789,
        951_782_400_999_999_999,
        4_102_444_800_000_000_001,
    ):
        parsed = parse_rfc3339(rfc3339_nano(time_ns))
        assert parsed is not None and abs(parsed - time_ns / 1e9) < 1e-6


def test_parsing_agrees_with_datetime_across_the_calendar() -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC)
    while moment.year < 2400:  # leap days, century and 400-year rules
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert parse_rfc3339(stamp) == moment.timestamp(), stamp
        moment += timedelta(days=13, hours=7, minutes=11, seconds=3)


def test_zones_and_precisions() -> None:
    assert parse_rfc3339("2023-11-14T23:13:20+01:00") == 1_700_000_000
    assert parse_rfc3339("2023-11-14T17:43:20.25-04:30") == 1_700_000_000.25
    east = datetime(2024, 2, 29, 23, 59, 59, tzinfo=timezone(timedelta(hours=14)))
    assert parse_rfc3339(east.isoformat()) == east.timestamp()
    assert parse_rfc3339("2023-11-14T22:13:20.1234567891234Z") == pytest.approx(
        1_700_000_000.123456789
    )


def test_no_time_and_zero_time_are_none() -> None:
    assert parse_rfc3339(None) is None
    assert parse_rfc3339("") is None
    assert parse_rfc3339(ZERO_TIME) is None
    assert parse_rfc3339("0001-01-01T00:00:00.000000000Z") is None


@pytest.mark.parametrize(
    "text",
    ["garbage", "2023-11-14", "2023-11-14T22:13:20", "2023-13-01T00:00:00Z", "2023-11-14T22:13Z",
     "2023-11-14T22:13:20.x1Z", "2023-11-14T25:00:00Z"],
)  # fmt: skip
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600.0), ("1h30m", 5400.0), ("1.5s", 1.5), ("250ms", 0.25), ("2h0m0s", 7200.0)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "m", "10", "10x", "h1", "1h-2m"])
def test_what_is_no_go_duration(text: str) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(text)


def test_docker_times_are_durations_before_now_unix_seconds_or_rfc3339() -> None:
    now = 1_000_000.0
    assert parse_docker_time("10m", now) == now - 600
    assert parse_docker_time("1767323045.5", now) == 1767323045.5
    assert parse_docker_time("2026-01-02T03:04:05Z", now) == 1767323045.0
    with pytest.raises(ValueError):
        parse_docker_time("soon", now)
