from dataclasses import dataclass

import pytest

from ketch import errors
from ketch.oci import platform


@dataclass
class Desc:
    name: str
    platform: dict | None


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ({"os": "linux", "architecture": "x86_64"}, {"os": "linux", "architecture": "amd64"}),
        ({"os": "Linux", "architecture": "aarch64"}, {"os": "linux", "architecture": "arm64"}),
        ({"os": "linux", "architecture": "arm64", "variant": "v8"},
         {"os": "linux", "architecture": "arm64"}),
        ({"os": "linux", "architecture": "arm"},
         {"os": "linux", "architecture": "arm", "variant": "v7"}),
        ({"os": "linux", "architecture": "armv6l"},
         {"os": "linux", "architecture": "arm", "variant": "v6"}),
        ({"os": "linux", "architecture": "i686"}, {"os": "linux", "architecture": "386"}),
        ({"os": "linux", "architecture": "amd64", "variant": "v1"},
         {"os": "linux", "architecture": "amd64"}),
    ],
)  # fmt: skip
def test_normalize(given, normal):
    assert platform.normalize(given) == normal


def test_host_platform_is_normalised():
    host = platform.host_platform()
    assert host["os"] == "linux"
    assert host == platform.normalize(host)
    assert host["architecture"] not in ("x86_64", "aarch64")


def test_parse_flag():
    assert platform.parse("linux/arm64/v8") == {"os": "linux", "architecture": "arm64"}
    assert platform.parse("linux/arm/v6") == {"os": "linux", "architecture": "arm", "variant": "v6"}
    with pytest.raises(errors.InvalidArgument):
        platform.parse("linux")
    with pytest.raises(errors.InvalidArgument):
        platform.parse("linux//v7")


AMD64 = Desc("amd64", {"os": "linux", "architecture": "amd64"})
AMD64_V3 = Desc("amd64v3", {"os": "linux", "architecture": "amd64", "variant": "v3"})
I386 = Desc("386", {"os": "linux", "architecture": "386"})
ARM64 = Desc("arm64", {"os": "linux", "architecture": "arm64", "variant": "v8"})
ARM_V5 = Desc("armv5", {"os": "linux", "architecture": "arm", "variant": "v5"})
ARM_V6 = Desc("armv6", {"os": "linux", "architecture": "arm", "variant": "v6"})
ARM_V7 = Desc("armv7", {"os": "linux", "architecture": "arm", "variant": "v7"})
WIN = Desc("win", {"os": "windows", "architecture": "amd64"})
ATTESTATION = Desc("att", {"os": "unknown", "architecture": "unknown"})
NONE = Desc("none", None)


@pytest.mark.parametrize(
    ("wanted", "candidates", "chosen"),
    [
        ("linux/amd64", [ATTESTATION, WIN, ARM64, AMD64], "amd64"),
        ("linux/amd64", [I386, AMD64], "amd64"),
        ("linux/amd64", [I386, ARM64], "386"),
        ("linux/amd64", [AMD64_V3], None),
        ("linux/amd64/v3", [AMD64, AMD64_V3], "amd64v3"),
        ("linux/amd64/v3", [I386, AMD64], "amd64"),
        ("linux/arm64", [ARM_V7, ARM64], "arm64"),
        ("linux/arm64", [ARM_V6, ARM_V7], "armv7"),
        ("linux/arm/v7", [ARM_V5, ARM_V6], "armv6"),
        ("linux/arm/v6", [ARM_V7], None),
        ("linux/arm/v7", [ARM_V7, ARM_V6], "armv7"),
        ("windows/amd64", [AMD64, WIN], "win"),
        ("linux/amd64", [NONE, ATTESTATION], None),
        ("linux/amd64", [], None),
    ],
)
def test_select_prefers_exact_then_fallbacks(wanted, candidates, chosen):
    got = platform.select(candidates, platform.parse(wanted))
    assert (got.name if got else None) == chosen


def test_select_defaults_to_host():
    host = Desc("host", platform.host_platform())
    assert platform.select([WIN, host]) is host


def test_matches():
    assert platform.matches(
        {"os": "linux", "architecture": "x86_64"}, {"os": "linux", "architecture": "amd64"}
    )
    assert not platform.matches(None, {"os": "linux", "architecture": "amd64"})
    assert not platform.matches(ARM_V6.platform, ARM_V7.platform)
