from __future__ import annotations

from ketch.runtime.caps import CAP_NUMBERS, DOCKER_DEFAULT_CAPS, mask, names_of, normalize
from ketch.runtime.spec import default_spec


def test_dockers_default_set_is_the_known_mask() -> None:
    # CapEff of a root process in a default Docker container.
    assert mask(DOCKER_DEFAULT_CAPS) == 0x00000000A80425FB


def test_names_are_normalized_and_unknown_ones_ignored() -> None:
    assert normalize("net_admin") == "CAP_NET_ADMIN"
    assert mask(["net_admin", "CAP_NOT_A_CAP"]) == 1 << CAP_NUMBERS["CAP_NET_ADMIN"]


def test_caps_beyond_the_kernels_last_are_dropped() -> None:
    assert mask(["CAP_BPF", "CAP_CHOWN"], last_cap=38) == 1


def test_names_of_round_trips() -> None:
    assert sorted(names_of(mask(DOCKER_DEFAULT_CAPS))) == sorted(DOCKER_DEFAULT_CAPS)


def test_default_spec_uses_dockers_caps_and_masks() -> None:
    spec = default_spec(["sh"], uid=1000, gid=1000, additional_gids=[10])
    caps = spec["process"]["capabilities"]
    assert caps["bounding"] == caps["effective"] == list(DOCKER_DEFAULT_CAPS)
    assert caps["ambient"] == [] and caps["inheritable"] == []
    assert spec["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10]}
    assert "/proc/kcore" in spec["linux"]["maskedPaths"]
    assert "/proc/sys" in spec["linux"]["readonlyPaths"]
    assert [m["destination"] for m in spec["mounts"]][:3] == ["/proc", "/dev", "/dev/pts"]
