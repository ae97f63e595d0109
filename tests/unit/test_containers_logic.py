from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from ketch.containers import merge, names, status
from ketch.containers.bundle import build_spec
from ketch.containers.users import resolve
from ketch.errors import InvalidArgument

IMAGE = {
    "Env": ["PATH=/usr/bin:/bin", "LANG=C", "KEEP=image"],
    "Entrypoint": ["/docker-entrypoint.sh"],
    "Cmd": ["redis-server"],
    "WorkingDir": "/data",
    "User": "redis",
    "Labels": {"from": "image", "both": "image"},
    "StopSignal": "SIGQUIT",
}


def test_request_cmd_replaces_image_cmd_and_keeps_entrypoint() -> None:
    config = merge.merge_config(IMAGE, {"Cmd": ["redis-cli"], "Image": "redis"})
    assert config["Entrypoint"] == ["/docker-entrypoint.sh"]
    assert merge.command_of(config) == ("/docker-entrypoint.sh", ["redis-cli"])


def test_request_entrypoint_resets_image_cmd() -> None:
    config = merge.merge_config(IMAGE, {"Entrypoint": ["/bin/sh"]})
    assert config["Cmd"] is None
    assert merge.command_of(config) == ("/bin/sh", [])


def test_empty_entrypoint_means_none() -> None:
    config = merge.merge_config(IMAGE, {"Entrypoint": [""], "Cmd": ["ls", "-l"]})
    assert merge.command_of(config) == ("ls", ["-l"])


def test_no_command_at_all_is_refused() -> None:
    config = merge.merge_config({}, {})
    with pytest.raises(InvalidArgument, match="No command specified"):
        merge.command_of(config)


def test_env_request_wins_per_key_and_path_defaults() -> None:
    config = merge.merge_config(IMAGE, {"Env": ["KEEP=request", "NEW=1", "UNSET"]})
    assert config["Env"] == ["PATH=/usr/bin:/bin", "LANG=C", "KEEP=request", "NEW=1", "UNSET"]
    assert merge.merge_env(None, ["A=1"])[0].startswith("PATH=/usr/local/sbin")


def test_a_bare_env_name_is_kept_in_the_config_and_unsets_the_name_at_run_time() -> None:
    # Docker keeps `-e NAME` (unset on the client) in Config.Env; its process has no NAME.
    config = merge.merge_config(IMAGE, {"Env": ["LANG", "Foo", "Blank="]})
    assert config["Env"] == ["PATH=/usr/bin:/bin", "LANG", "KEEP=image", "Foo", "Blank="]
    assert merge.process_env(config) == ["PATH=/usr/bin:/bin", "KEEP=image", "Blank="]
    tty = merge.merge_config(IMAGE, {"Tty": True, "Env": ["TERM"]})
    assert not [e for e in merge.process_env(tty) if e.startswith("TERM")]


def test_a_tty_gets_term_xterm_unless_its_env_names_term() -> None:
    tty = merge.merge_config(IMAGE, {"Tty": True})
    assert merge.process_env(tty) == ["TERM=xterm", "PATH=/usr/bin:/bin", "LANG=C", "KEEP=image"]
    assert "TERM=xterm" not in tty["Env"]  # the stored Config (inspect) keeps no TERM
    assert merge.process_env(merge.merge_config(IMAGE, {})) == ["PATH=/usr/bin:/bin", "LANG=C",
                                                                "KEEP=image"]  # fmt: skip
    own = merge.merge_config(IMAGE, {"Tty": True, "Env": ["TERM=vt100"]})
    assert [e for e in merge.process_env(own) if e.startswith("TERM=")] == ["TERM=vt100"]
    from_image = merge.merge_config({"Env": ["TERM=linux"]}, {"Tty": True})
    assert [e for e in merge.process_env(from_image) if e.startswith("TERM=")] == ["TERM=linux"]
    empty = merge.merge_config(IMAGE, {"Tty": True, "Env": ["TERM="]})
    assert "TERM=" in merge.process_env(empty) and "TERM=xterm" not in merge.process_env(empty)


def test_workdir_user_labels_stopsignal_come_from_the_image_unless_given() -> None:
    config = merge.merge_config(IMAGE, {"Labels": {"both": "request"}, "User": "0:0"})
    assert config["WorkingDir"] == "/data"
    assert config["User"] == "0:0"
    assert config["Labels"] == {"from": "image", "both": "request"}
    assert config["StopSignal"] == "SIGQUIT"
    assert merge.merge_config(IMAGE, {"StopSignal": "SIGINT"})["StopSignal"] == "SIGINT"


@pytest.mark.parametrize(("text", "number"), [("SIGKILL", 9), ("TERM", 15), ("2", 2), (None, 15)])
def test_signals(text: str | None, number: int) -> None:
    assert merge.parse_signal(text) == number


def test_bad_signal() -> None:
    with pytest.raises(InvalidArgument, match="Invalid signal: SIGNOPE"):
        merge.parse_signal("SIGNOPE")


def test_random_names_are_docker_like_and_valid() -> None:
    for _ in range(50):
        name = names.random_name()
        left, _, right = name.partition("_")
        assert left in names.ADJECTIVES and right in names.SURNAMES
        assert names.validate(name) == "/" + name


def test_invalid_name_uses_dockers_words() -> None:
    with pytest.raises(InvalidArgument, match=r"Invalid container name \(a b\)"):
        names.validate("a b")


def test_ids_are_64_hex() -> None:
    new = names.new_id()
    assert len(new) == 64 and int(new, 16) >= 0


def test_status_strings() -> None:
    running = {"Running": True, "StartedAt": "2026-01-01T00:00:00.000000000Z"}
    start = 1767225600.0
    assert status.status_text(running, now=start + 3) == "Up 3 seconds"
    assert status.status_text(running, now=start + 90) == "About a minute"[:0] + "Up About a minute"
    exited = {"Running": False, "ExitCode": 1, "FinishedAt": "2026-01-01T00:00:00Z"}
    assert status.status_text(exited, now=start + 2) == "Exited (1) 2 seconds ago"
    created = {"Running": False, "FinishedAt": "0001-01-01T00:00:00Z"}
    assert status.status_text(created) == "Created"


def make_layers(tmp_path: Path) -> list[Path]:
    top, base = tmp_path / "top", tmp_path / "base"
    (top / "etc").mkdir(parents=True)
    (base / "etc").mkdir(parents=True)
    (top / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nredis:x:999:998::/data:/bin/false\n"
    )
    (base / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (base / "etc" / "group").write_text("root:x:0:\nredis:x:998:\nextra:x:1234:redis\n")
    return [top, base]


def test_user_resolves_from_the_topmost_layer_that_has_the_file(tmp_path: Path) -> None:
    layers = make_layers(tmp_path)
    assert resolve("redis", layers) == (999, 998, [1234])
    assert resolve("redis:root", layers) == (999, 0, [1234])
    assert resolve("4242", layers) == (4242, 0, [])
    assert resolve("", layers) == (0, 0, [])
    with pytest.raises(InvalidArgument, match="unable to find user nobody"):
        resolve("nobody", layers)


def test_schema_check_catches_a_bad_bundle(
    runtime_spec_validator: jsonschema.Draft4Validator,
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        bad_user = {"cwd": "/", "user": {"uid": "x"}}
        runtime_spec_validator.validate({"ociVersion": "1.2.0", "process": bad_user})


def test_bundle_is_valid_runtime_spec_with_dockers_defaults(
    runtime_spec_validator: jsonschema.Draft4Validator,
) -> None:
    config = merge.merge_config(IMAGE, {"Hostname": "abc123", "Tty": True})
    path, args = merge.command_of(config)
    host_config = {
        "Memory": 64 * 1024**2,
        "NanoCpus": 500_000_000,
        "PidsLimit": 100,
        "CapAdd": ["NET_ADMIN"],
        "CapDrop": ["chown"],
        "ShmSize": 128 * 1024**2,
    }
    spec = build_spec(
        path=path, args=args, config=config, host_config=host_config, uid=999, gid=998,
        additional_gids=[1234], container_dir="/var/lib/ketch/containers/x", nofile_hard=20000,
    )  # fmt: skip
    runtime_spec_validator.validate(spec)
    assert spec["ociVersion"].startswith("1.2")
    assert spec["process"]["args"] == ["/docker-entrypoint.sh", "redis-server"]
    assert spec["process"]["terminal"] is True
    assert spec["process"]["env"][0] == "TERM=xterm"
    assert spec["process"]["user"] == {"uid": 999, "gid": 998, "additionalGids": [1234]}
    assert spec["process"]["cwd"] == "/data"
    assert spec["hostname"] == "abc123"
    assert spec["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000}]
    destinations = [m["destination"] for m in spec["mounts"]]
    for needed in (
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
    ):
        assert needed in destinations
    shm = next(m for m in spec["mounts"] if m["destination"] == "/dev/shm")
    assert "size=131072k" in shm["options"]
    namespaces = {ns["type"] for ns in spec["linux"]["namespaces"]}
    assert namespaces == {"pid", "mount", "uts", "ipc", "network", "cgroup"}
    resources = spec["linux"]["resources"]
    assert resources["memory"] == {"limit": 64 * 1024**2}
    assert resources["cpu"] == {"period": 100000, "quota": 50000}
    assert resources["pids"] == {"limit": 100}
    caps = spec["process"]["capabilities"]["bounding"]
    assert "CAP_NET_ADMIN" in caps and "CAP_CHOWN" not in caps and "CAP_KILL" in caps
    assert "/proc/kcore" in spec["linux"]["maskedPaths"]
    assert "/proc/sys" in spec["linux"]["readonlyPaths"]


def test_binds_tmpfs_and_mounts_become_runtime_spec_mounts(
    tmp_path: Path, runtime_spec_validator: jsonschema.Draft4Validator
) -> None:
    from ketch.containers.bundle import user_mounts

    host_config = {
        "Binds": [f"{tmp_path}:/data:ro", f"{tmp_path}/made:/made"],
        "Tmpfs": {"/run": "size=1m"},
        "Mounts": [{"Type": "tmpfs", "Target": "/cache", "TmpfsOptions": {"SizeBytes": 4096}}],
    }
    mounts = user_mounts(host_config)
    assert mounts[0] == {"destination": "/data", "type": "bind", "source": str(tmp_path),
                         "options": ["rbind", "rprivate", "ro"]}  # fmt: skip
    assert mounts[2]["destination"] == "/cache" and "size=4096" in mounts[2]["options"]
    assert mounts[3]["type"] == "tmpfs" and "size=1m" in mounts[3]["options"]
    config = merge.merge_config({}, {"Cmd": ["true"]})
    spec = build_spec(path="true", args=[], config=config, host_config=host_config, uid=0, gid=0,
                      additional_gids=[], container_dir="/c", nofile_hard=1024)  # fmt: skip
    runtime_spec_validator.validate(spec)


@pytest.mark.parametrize(
    ("bind", "message"),
    [("/a:rel", "must be absolute"), ("/a:/b:xx", "invalid mode: xx"),
     ("/a:ro", "invalid volume specification"), ("/a::/b", "invalid volume specification")],
)  # fmt: skip
def test_bad_binds(bind: str, message: str) -> None:
    from ketch.containers.bundle import user_mounts
    from ketch.errors import KetchError

    with pytest.raises(KetchError, match=message):
        user_mounts({"Binds": [bind]})


def test_duplicate_mount_points_are_refused(tmp_path: Path) -> None:
    from ketch.containers.bundle import user_mounts

    with pytest.raises(InvalidArgument, match="Duplicate mount point: /x"):
        user_mounts({"Binds": [f"{tmp_path}:/x"], "Tmpfs": {"/x": ""}})


def test_healthcheck_fields_not_given_come_from_the_image_and_zeros_are_left_out() -> None:
    image = {"Cmd": ["sh"], "Healthcheck": {"Test": ["CMD", "probe"], "Retries": 3}}
    asked = {"Test": ["CMD-SHELL", "/bin/true"], "Interval": 10**9, "Timeout": 0,
             "StartPeriod": None, "Retries": None}  # fmt: skip
    config = merge.merge_config(image, {"Healthcheck": asked})
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "/bin/true"], "Interval": 10**9,
                                     "Retries": 3}  # fmt: skip
    assert merge.merge_config(image, {})["Healthcheck"] == image["Healthcheck"]
    assert merge.merge_config({}, {"Healthcheck": {"Test": ["NONE"], "Interval": None}})[
        "Healthcheck"] == {"Test": ["NONE"]}  # fmt: skip
    assert "Healthcheck" not in merge.merge_config({}, {})


@pytest.mark.parametrize(
    ("host_config", "message"),
    [
        ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
        ({"NanoCpus": 10**9, "CpuQuota": 50000}, "Nano CPUs and CPU Quota cannot both be set"),
        ({"CpuPeriod": 10}, "CPU cfs period can not be less than 1ms"),
        ({"CpuQuota": 10}, "CPU cfs quota can not be less than 1ms"),
        ({"Memory": 64 * 2**20, "MemorySwap": 32 * 2**20}, "memoryswap limit should be larger"),
        ({"NanoCpus": 10**15}, "Range of CPUs is from 0.01 to"),
        ({"LogConfig": {"Type": "syslog"}}, "logging driver 'syslog' is not supported"),
        ({"Isolation": "foobar"}, "Invalid isolation: \"foobar\" - linux only supports 'default'"),
        ({"Runtime": "foobar"}, "Unknown runtime specified foobar"),
    ],
)
def test_host_config_checks_use_dockers_words(host_config: dict, message: str) -> None:
    from ketch.containers import hostconfig
    from ketch.errors import KetchError

    with pytest.raises(KetchError, match=message):
        hostconfig.validate(host_config)


def test_real_time_cpu_time_is_refused_where_the_kernel_has_none() -> None:
    from ketch.containers import bundle, hostconfig

    asked = {"CpuRealtimeRuntime": 40000, "CpuRealtimePeriod": 150000}
    hostconfig.check_realtime(asked, supported=True)
    assert bundle.resources_of(asked)["cpu"] == {"realtimeRuntime": 40000,
                                                 "realtimePeriod": 150000}  # fmt: skip
    with pytest.raises(InvalidArgument, match="does not support cgroup cpu real-time period"):
        hostconfig.check_realtime(asked, supported=False)
    with pytest.raises(InvalidArgument, match="does not support cgroup cpu real-time runtime"):
        hostconfig.check_realtime({"CpuRealtimeRuntime": 1}, supported=False)
    with pytest.raises(InvalidArgument, match="runtime cannot be higher than cpu real-time"):
        hostconfig.check_realtime({"CpuRealtimeRuntime": 9, "CpuRealtimePeriod": 8}, True)
    hostconfig.check_realtime({}, supported=False)


def test_docker_field_names_are_matched_regardless_of_case() -> None:
    from ketch.containers import schema

    sent = {"CPURealtimeRuntime": 1, "cpushares": 2, "Memory": 3, "memory": 4, "Other": 5}
    assert schema.canonical(sent, schema.HOST_CONFIG) == {
        "CpuRealtimeRuntime": 1, "CpuShares": 2, "Memory": 3, "Other": 5}  # fmt: skip


def test_good_host_config_passes() -> None:
    from ketch.containers import hostconfig, restart

    good = {"Memory": 64 * 2**20, "NanoCpus": 5 * 10**8, "PidsLimit": 10,
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
            "NetworkMode": "default", "Isolation": "default", "Runtime": "runc",
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}  # fmt: skip
    hostconfig.validate(good)
    restart.validate(good)


def test_whiteouts_and_opaque_dirs_hide_lower_layers(tmp_path: Path) -> None:
    import os

    from ketch.containers.users import read_from_layers

    top, middle, base = tmp_path / "top", tmp_path / "middle", tmp_path / "base"
    for layer in (top, middle, base):
        (layer / "etc").mkdir(parents=True)
    (base / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (base / "etc" / "group").write_text("root:x:0:\n")
    os.mknod(middle / "etc" / "passwd", 0o600 | 0o020000, os.makedev(0, 0))  # a whiteout
    assert read_from_layers([top, middle, base], "etc/passwd") == ""
    assert read_from_layers([top, middle, base], "etc/group") == "root:x:0:\n"
    os.setxattr(top / "etc", "trusted.overlay.opaque", b"y")
    assert read_from_layers([top, middle, base], "etc/group") == ""


def test_commit_layer_turns_overlay_marks_into_image_whiteouts(tmp_path: Path) -> None:
    import os
    import tarfile

    from ketch.containers.commit import write_layer

    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "opaque").mkdir()
    (upper / "opaque" / "new").write_text("n")
    os.setxattr(upper / "opaque", "trusted.overlay.opaque", b"y")
    os.mknod(upper / "etc" / "group", 0o600 | 0o020000, os.makedev(0, 0))
    (upper / "file").write_text("data")
    os.link(upper / "file", upper / "hard")
    os.symlink("/file", upper / "link")
    os.chown(upper / "file", 1234, 5678)
    out = tmp_path / "layer.tar"
    write_layer(upper, out)
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("file").read() == b"data"  # type: ignore[union-attr]
    assert "etc/.wh.group" in members and members["etc/.wh.group"].isreg()
    assert "opaque/.wh..wh..opq" in members and "opaque/new" in members
    assert members["hard"].islnk() and members["hard"].linkname == "file"
    assert members["link"].issym() and members["link"].linkname == "/file"
    assert (members["file"].uid, members["file"].gid) == (1234, 5678)
    assert not any("overlay" in key for m in members.values() for key in m.pax_headers)


def test_security_options_privileged_ulimits_and_seccomp(
    runtime_spec_validator: jsonschema.Draft4Validator,
) -> None:
    from ketch.containers.bundle import security_options

    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}  # fmt: skip
    assert security_options(["no-new-privileges"]) == {"no-new-privileges": True}
    assert security_options(["no-new-privileges:false"]) == {"no-new-privileges": False}
    assert security_options(["seccomp=unconfined", "apparmor=x"]) == {"seccomp": "unconfined"}
    with pytest.raises(InvalidArgument, match="invalid --security-opt"):
        security_options(["bogus=1"])
    config = merge.merge_config({}, {"Cmd": ["true"]})

    def spec_for(host_config: dict, default: dict | None = None) -> dict:
        return build_spec(path="true", args=[], config=config, host_config=host_config, uid=0,
                          gid=0, additional_gids=[], container_dir="/c", nofile_hard=4096,
                          seccomp_profile=default)  # fmt: skip

    confined = spec_for({"Ulimits": [{"Name": "nproc", "Soft": 10, "Hard": 20}]}, profile)
    runtime_spec_validator.validate(confined)
    assert confined["linux"]["seccomp"]["syscalls"] == [{"names": ["mkdir"],
                                                         "action": "SCMP_ACT_ERRNO"}]  # fmt: skip
    assert {"type": "RLIMIT_NPROC", "hard": 20, "soft": 10} in confined["process"]["rlimits"]
    assert "seccomp" not in spec_for({"SecurityOpt": ["seccomp=unconfined"]}, profile)["linux"]
    own = spec_for({"SecurityOpt": ["seccomp=" + '{"defaultAction": "SCMP_ACT_LOG"}']}, profile)
    assert own["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_LOG"
    privileged = spec_for({"Privileged": True}, profile)
    assert "seccomp" not in privileged["linux"]
    assert "CAP_SYS_ADMIN" in privileged["process"]["capabilities"]["effective"]
    assert privileged["linux"]["maskedPaths"] == []
    with pytest.raises(InvalidArgument, match="invalid ulimit"):
        spec_for({"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 5}]})


def test_prune_filters_label_label_not_and_until() -> None:
    from ketch.containers.filters import prune_matches
    from ketch.containers.record import Container

    def made(created: str, labels: dict[str, str]) -> Container:
        return Container(id="c" * 64, name="/c", created=created, path="/x", args=[],
                         config={"Labels": labels}, host_config={}, image_id="sha256:x",
                         directory=Path("/nonexistent"))  # fmt: skip

    now = 1767323045.0  # 2026-01-02T03:04:05Z
    old = made("2026-01-01T00:00:00.000000000Z", {"keep": "yes"})
    new = made("2026-01-02T03:04:00.000000000Z", {"env": "dev"})
    assert prune_matches(old, {"until": ["1h"]}, now)
    assert not prune_matches(new, {"until": ["1h"]}, now)
    assert not prune_matches(old, {"label!": ["keep"]}, now)
    assert not prune_matches(old, {"label!": ["keep=yes"]}, now)
    assert prune_matches(old, {"label!": ["keep=no"]}, now)
    assert prune_matches(new, {"label": ["env=dev"], "label!": ["keep"]}, now)
    assert not prune_matches(new, {"label": ["env=prod"]}, now)
    with pytest.raises(InvalidArgument, match="invalid filter 'until=later'"):
        prune_matches(old, {"until": ["later"]}, now)
