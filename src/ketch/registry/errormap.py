"""Registry HTTP errors -> ketch error kinds, keeping the registry's own words.

Distribution's error bodies are `{"errors": [{"code": "MANIFEST_UNKNOWN",
"message": "manifest unknown", ...}]}`; Docker prints each as
`manifest unknown: manifest unknown` (code in lower case, then message).
"""

from __future__ import annotations

import json

from ketch import errors

_BY_STATUS: dict[int, type[errors.KetchError]] = {
    400: errors.InvalidArgument,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    405: errors.NotImplementedYet,
    409: errors.Conflict,
    416: errors.InvalidArgument,
    429: errors.Unavailable,
}


def registry_message(status: int, reason: str, body: bytes) -> str:
    """The error text Docker would show for this response."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        doc = None
    parts = []
    if isinstance(doc, dict) and isinstance(doc.get("errors"), list):
        for item in doc["errors"]:
            if not isinstance(item, dict):
                continue
            code = str(item.get("code") or "unknown").lower().replace("_", " ")
            message = item.get("message") or ""
            parts.append(f"{code}: {message}" if message else code)
    if parts:
        return ", ".join(parts)
    return f"unexpected status from registry: {status} {reason}".rstrip()


def error_for(status: int, reason: str, body: bytes, context: str = "") -> errors.KetchError:
    """The ketch error for a failed registry response; `context` says what was asked."""
    kind = _BY_STATUS.get(status, errors.Unavailable if status >= 500 else errors.Internal)
    message = registry_message(status, reason, body)
    return kind(f"{context}: {message}" if context else message)
