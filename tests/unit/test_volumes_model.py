"""Pure parts of volumes: bind and mount specs into mount points, the local driver's
options, and the list and prune filters."""

from __future__ import annotations

import pytest

from ketch.containers import layerpaths, mountpoints
from ketch.errors import InvalidArgument, KetchError
from ketch.volumes import ANONYMOUS_LABEL, Volume, local
from ketch.volumes import filters as volume_filters
from ketch.volumes.model import validate_name


def test_a_named_volume_bind_is_a_volume_mount_point_with_dockers_mode() -> None:
    point = mountpoints.parse_bind("data:/srv/data:ro")
    assert point["Type"] == "volume" and point["Name"] == "data"
    assert point["Destination"] == "/srv/data" and point["RW"] is False
    assert point["Mode"] == "ro" and point["CopyData"] is True
    assert mountpoints.parse_bind("data:/d")["Mode"] == "z"  # dockerd's default for volumes
    assert mountpoints.parse_bind("data:/d:nocopy")["CopyData"] is False


def test_a_host_path_bind_and_an_anonymous_volume() -> None:
    bind = mountpoints.parse_bind("/host/dir/:/c:rw,rshared")
    assert (bind["Type"], bind["Source"], bind["Propagation"], bind["RW"]) == (
        "bind", "/host/dir", "rshared", True)  # fmt: skip
    anonymous = mountpoints.parse_bind("/only/dest")
    assert anonymous["Type"] == "volume" and anonymous["Name"] == "" and anonymous["Mode"] == "z"


@pytest.mark.parametrize(
    ("spec", "message"),
    [("name:/x:rshared", "invalid mode"), ("/a:/b:nocopy", "invalid mode"),
     ("a:/", "destination can't be '/'"), ("a:b:c:d", "invalid volume specification"),
     ("/a:/b:ro,rw", "invalid mode")],
)  # fmt: skip
def test_bad_bind_specs(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        mountpoints.parse_bind(spec)


def test_mounts_entries_with_their_options() -> None:
    volume = mountpoints.parse_mount({"Type": "volume", "Source": "v", "Target": "/v",
                                      "VolumeOptions": {"NoCopy": True, "Subpath": "a/b"}})
    assert volume["CopyData"] is False and mountpoints.subpath(volume) == "a/b"
    tmpfs = mountpoints.parse_mount({"Type": "tmpfs", "Target": "/t", "ReadOnly": True})
    assert tmpfs["Type"] == "tmpfs" and tmpfs["RW"] is False
    bind = mountpoints.parse_mount({"Type": "bind", "Source": "/s", "Target": "/b",
                                    "BindOptions": {"Propagation": "rslave"}})
    assert bind["Propagation"] == "rslave"
    with pytest.raises(InvalidArgument, match="field Source must not be specified"):
        mountpoints.parse_mount({"Type": "tmpfs", "Source": "x", "Target": "/t"})
    with pytest.raises(InvalidArgument, match="field BindOptions must not be specified"):
        mountpoints.parse_mount({"Type": "volume", "Target": "/t", "BindOptions": {}})
    with pytest.raises(InvalidArgument, match="subpath"):
        mountpoints.parse_mount({"Type": "volume", "Target": "/t",
                                 "VolumeOptions": {"Subpath": "../up"}})


def test_plan_orders_precedence_and_skips_what_is_already_mounted() -> None:
    inherited = [mountpoints.inherited(mountpoints.point("volume", "/shared", name="s",
                                                         source="/v/s", rw=True), False)]
    points = mountpoints.plan(
        {"Volumes": {"/a/b": {}, "/data": {}, "/t": {}}},
        {"Binds": ["named:/data"], "Tmpfs": {"/t": ""}},
        inherited,
    )
    by_destination = {p["Destination"]: p for p in points}
    assert set(by_destination) == {"/shared", "/data", "/a/b"}
    assert by_destination["/shared"]["RW"] is False  # --volumes-from x:ro
    assert by_destination["/data"]["Name"] == "named"
    assert by_destination["/a/b"]["Name"] == "" and by_destination["/a/b"]["Mode"] == ""
    assert [p["Destination"] for p in points][-1] == "/a/b"  # the deeper one mounts later
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /x"):
        mountpoints.plan({}, {"Binds": ["a:/x"], "Mounts": [{"Type": "tmpfs", "Target": "/x"}]})


def test_volumes_from_modes() -> None:
    assert mountpoints.parse_volumes_from("web") == ("web", True)
    assert mountpoints.parse_volumes_from("web:ro") == ("web", False)
    with pytest.raises(InvalidArgument, match="invalid mode: nocopy"):
        mountpoints.parse_volumes_from("web:nocopy")


def test_inspect_view_of_a_volume_and_a_bind() -> None:
    volume = mountpoints.point("volume", "/d", name="v", source="/r/v/_data", driver="local",
                               mode="z")
    assert mountpoints.view(volume) == {
        "Type": "volume", "Name": "v", "Source": "/r/v/_data", "Destination": "/d",
        "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""}  # fmt: skip
    bind = mountpoints.parse_bind("/h:/c")
    assert "Name" not in mountpoints.view(bind) and mountpoints.view(bind)["Mode"] == ""


def test_covering_finds_the_deepest_mount_point() -> None:
    points = [mountpoints.point("volume", "/a"), mountpoints.point("bind", "/a/b")]
    assert mountpoints.covering(points, "/a/b/c")["Destination"] == "/a/b"  # type: ignore[index]
    assert mountpoints.covering(points, "/a/x")["Destination"] == "/a"  # type: ignore[index]
    assert mountpoints.covering(points, "/ab") is None


def test_local_driver_options() -> None:
    local.validate_options({"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    with pytest.raises(InvalidArgument, match='invalid option: "foo"'):
        local.validate_options({"foo": "x"})
    with pytest.raises(InvalidArgument, match='missing required option: "device"'):
        local.validate_options({"type": "tmpfs"})
    flags, propagation, data = local.parse_o("ro,nosuid,size=10m,uid=1000,rshared")
    assert flags == local.MS_RDONLY | local.MS_NOSUID
    assert propagation == local.MS_SHARED | local.MS_REC
    assert data == "size=10m,uid=1000"
    assert local.parse_o("bind")[0] == local.MS_BIND


def test_volume_names() -> None:
    validate_name("my-vol_1.x")
    with pytest.raises(KetchError, match="includes invalid characters for a local volume name"):
        validate_name("a")
    with pytest.raises(KetchError, match="includes invalid characters"):
        validate_name("bad/name")


def _volume(name: str, **labels: str) -> Volume:
    return Volume(name=name, mountpoint=f"/v/{name}/_data", created_at="t", labels=labels)


def test_list_and_prune_filters() -> None:
    anonymous = _volume("a" * 64, **{ANONYMOUS_LABEL: ""})
    named = _volume("web-data", tier="db")
    assert volume_filters.list_matches(named, {"name": ["data"]}, False, None)
    assert not volume_filters.list_matches(named, {"name": ["other"]}, False, None)
    assert volume_filters.list_matches(named, {"label": ["tier=db"]}, True, None)
    assert not volume_filters.list_matches(named, {"label": ["tier=web"]}, True, None)
    assert not volume_filters.list_matches(named, {}, True, True)  # in use: not dangling
    assert volume_filters.list_matches(named, {"driver": ["local"]}, False, True)
    assert volume_filters.prune_matches(anonymous, {}, every=False)
    assert not volume_filters.prune_matches(named, {}, every=False)
    assert volume_filters.prune_matches(named, {"label": ["tier"]}, every=True)
    assert not volume_filters.prune_matches(named, {"label!": ["tier=db"]}, every=True)


def test_diff_and_commit_leave_out_mount_points_contents_and_etc_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for path in ("etc/hosts", "etc/hostname", "etc/resolv.conf", "data/inside",
                 "root/kept", "etc2/x"):  # fmt: skip
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    hidden = layerpaths.hidden_entries(tmp_path, [mountpoints.point("volume", "/data")])
    assert hidden == {"etc/hosts", "etc/hostname", "etc/resolv.conf", "etc", "data/inside"}
