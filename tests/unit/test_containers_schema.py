"""How request bodies are read, as Go's encoding/json reads them."""

from __future__ import annotations

from ketch.containers.schema import canonical


def test_field_names_are_matched_as_go_matches_them_regardless_of_case() -> None:
    named = canonical({"detachKeys": "ctrl-p", "tty": True, "Other": 1}, ["DetachKeys", "Tty"])
    assert named == {"DetachKeys": "ctrl-p", "Tty": True, "Other": 1}
    # The exact name wins over a differently cased one, as Go's decoder prefers it.
    assert canonical({"Tty": False, "tty": True}, ["Tty"]) == {"Tty": False}
