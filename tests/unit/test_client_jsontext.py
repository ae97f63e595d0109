"""The client's JSON without the json package: the same values and text as json's."""

from __future__ import annotations

import json
import math

import pytest

from ketch.client.jsontext import dumps, loads

DOCUMENTS = [
    '{"a": [1, 2.5, null, true, false, "x\\u00e9\\n"], "b": {}}',
    " [] ",
    "\n{}\r\n",
    '"\u00e9\u2028"',
    "-0",
    "1e400",
    '{"Id": "abc", "Names": ["/x"], "Ports": [{"PrivatePort": 80, "Type": "tcp"}]}',
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_loads_reads_what_json_reads(text: str) -> None:
    assert repr(loads(text)) == repr(json.loads(text))
    assert repr(loads(text.encode())) == repr(json.loads(text.encode()))


def test_loads_reads_json_constants() -> None:
    assert math.isnan(loads("NaN"))
    assert loads("[Infinity, -Infinity]") == [math.inf, -math.inf]


@pytest.mark.parametrize("text", ["", "  ", "{}x", '{"a":}', "[1,]", "{} {}"])
def test_loads_refuses_what_json_refuses_in_its_words(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        loads(text)
    assert str(got.value) == str(expected.value)


VALUES = [
    {"a": [1, 2.5, None, True, "x\u00e9\n"], "b": {}},
    [],
    "str\u2028",
    1e300,
    {"k": float("nan")},
    {1: 2, "z": (1, 2)},
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_writes_what_json_writes(value: object) -> None:
    assert dumps(value) == json.dumps(value)
    assert dumps(value, compact=True) == json.dumps(value, separators=(",", ":"))


def test_dumps_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        dumps({"a": object()})
    looped: list[object] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps(looped)
