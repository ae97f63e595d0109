from __future__ import annotations

import pytest

from ketch.api import versioning
from ketch.errors import InvalidArgument


def test_unversioned_requests_speak_the_default_version() -> None:
    assert versioning.negotiate(None) == "1.45"


@pytest.mark.parametrize("version", ["1.24", "1.41", "1.45", "1.50"])
def test_supported_versions_pass(version: str) -> None:
    assert versioning.negotiate(version) == version


def test_too_old_uses_dockers_words() -> None:
    with pytest.raises(InvalidArgument) as info:
        versioning.negotiate("1.12")
    assert info.value.message == (
        "client version 1.12 is too old. Minimum supported API version is 1.24, "
        "please upgrade your client to a newer version"
    )


def test_too_new_uses_dockers_words() -> None:
    with pytest.raises(InvalidArgument) as info:
        versioning.negotiate("1.51")
    assert info.value.message == (
        "client version 1.51 is too new. Maximum supported API version is 1.50"
    )


def test_versions_compare_numerically() -> None:
    assert versioning.at_least("1.100", "1.45")
    assert not versioning.at_least("1.9", "1.24")
