"""json.loads and json.dumps for the CLI's start-up path, without the json package.

The json package imports re (and with it enum, functools and collections) for
its whitespace and number patterns: several milliseconds of every `ketch ps`.
The C scanner and encoder json itself uses (`_json.make_scanner`,
`_json.make_encoder`) need none of that; they are given the settings of
json.loads' and json.dumps' defaults, so the text is the same.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"  # JSON's, as json.decoder's WHITESPACE pattern
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Settings:
    """What the C scanner reads from its context: json.JSONDecoder()'s defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_CONSTANTS.__getitem__)


_scan = _json.make_scanner(_Settings())  # type: ignore[arg-type]  # the stub wants a scanner


def loads(data: bytes | str) -> Any:
    """One JSON document, as json.loads reads it; raises json's JSONDecodeError (a
    ValueError) when it is not one."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as stop:
        _fail("Expecting value", text, stop.value)
    if text[end:].strip(_WHITESPACE):
        _fail("Extra data", text, len(text) - len(text[end:].lstrip(_WHITESPACE)))
    return value


def _fail(message: str, text: str, position: int) -> Any:
    from json import JSONDecodeError

    raise JSONDecodeError(message, text, position) from None


def dumps(value: Any, compact: bool = False) -> str:
    """json.dumps(value), or with separators=(",", ":") when compact."""
    if isinstance(value, str):
        return _json.encode_basestring_ascii(value)
    item_separator, key_separator = (",", ":") if compact else (", ", ": ")
    encode = _json.make_encoder(
        {}, _not_serializable, _json.encode_basestring_ascii, None,
        key_separator, item_separator, False, False, True,
    )  # fmt: skip
    return "".join(encode(value, 0))


def _not_serializable(value: Any) -> Any:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")
