"""`--mount`: docker's CSV grammar (`type=volume,source=data,target=/data,readonly`) into
HostConfig.Mounts entries, with the docker CLI's defaults, checks and messages."""

from __future__ import annotations

from ketch.cli import units

TYPE_CHECKING = False  # typing stays off `run`'s import path
if TYPE_CHECKING:
    from typing import Any

# Options that are flags when given without a value.
_BARE = {"readonly": "ReadOnly", "ro": "ReadOnly"}
_TRUE = ("1", "t", "T", "true", "TRUE", "True")
_FALSE = ("0", "f", "F", "false", "FALSE", "False")
_RECURSIVE = {
    "enabled": None,
    "disabled": "NonRecursive",
    "writable": "ReadOnlyNonRecursive",
    "readonly": "ReadOnlyForceRecursive",
}


class MountError(ValueError):
    """The reason a `--mount` value is refused, as docker words it."""


def _go_bool(key: str, value: str) -> bool:
    """strconv.ParseBool, failing with docker's message for the option."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise MountError(f"invalid value for {key}: {value}")


def _fields(value: str) -> list[str]:
    """One CSV record, as Go's encoding/csv reads it (quotes group commas)."""
    if not value:
        raise MountError("EOF")
    import csv

    try:
        return next(csv.reader([value], strict=True))
    except csv.Error as error:
        raise MountError(str(error)) from None


def parse_mount(value: str) -> dict[str, Any]:
    """One `--mount` value -> a mount.Mount as docker's MountOpt.Set makes it."""
    mount: dict[str, Any] = {"Type": "volume"}
    parts: dict[str, dict[str, Any]] = {}

    def options(name: str) -> dict[str, Any]:
        if name not in parts:
            parts[name] = {"Labels": {}, "DriverConfig": {}} if name == "VolumeOptions" else {}
        return parts[name]

    def set_on(mapping: dict[str, str], item: str) -> None:
        key, _, text = item.partition("=")
        mapping[key] = text

    for field in _fields(value):
        key, has_value, text = field.partition("=")
        key = key.lower()
        if not has_value:
            if key in _BARE:
                mount["ReadOnly"] = True
            elif key == "volume-nocopy":
                options("VolumeOptions")["NoCopy"] = True
            elif key == "bind-nonrecursive":
                options("BindOptions")["NonRecursive"] = True
            else:
                raise MountError(f"invalid field '{field}' must be a key=value pair")
            continue
        if key == "type":
            mount["Type"] = text.lower()
        elif key in ("source", "src"):
            if text == "." or text.startswith("./"):
                import os  # only for a relative source: os costs every `run` ~1 ms

                text = os.path.abspath(text)
            mount["Source"] = text
        elif key in ("target", "dst", "destination"):
            mount["Target"] = text
        elif key in _BARE:
            mount["ReadOnly"] = _go_bool(key, text)
        elif key == "consistency":
            mount["Consistency"] = text.lower()
        elif key == "bind-propagation":
            options("BindOptions")["Propagation"] = text.lower()
        elif key == "bind-nonrecursive":
            options("BindOptions")["NonRecursive"] = _go_bool(key, text)
        elif key == "bind-recursive":
            if text not in _RECURSIVE:
                raise MountError(
                    f'invalid value for {key}: {text} (must be "enabled", "disabled", '
                    '"writable", or "readonly")'
                )
            bind, field_name = options("BindOptions"), _RECURSIVE[text]
            if field_name:
                bind[field_name] = True
        elif key == "volume-subpath":
            options("VolumeOptions")["Subpath"] = text
        elif key == "volume-nocopy":
            options("VolumeOptions")["NoCopy"] = _go_bool(key, text)
        elif key == "volume-label":
            set_on(options("VolumeOptions")["Labels"], text)
        elif key == "volume-driver":
            options("VolumeOptions")["DriverConfig"]["Name"] = text
        elif key == "volume-opt":
            driver = options("VolumeOptions")["DriverConfig"]
            set_on(driver.setdefault("Options", {}), text)
        elif key == "image-subpath":
            options("ImageOptions")["Subpath"] = text
        elif key == "tmpfs-size":
            try:
                options("TmpfsOptions")["SizeBytes"] = units.ram_in_bytes(text)
            except ValueError:
                raise MountError(f"invalid value for {key}: {text}") from None
        elif key == "tmpfs-mode":
            try:
                options("TmpfsOptions")["Mode"] = int(text, 8)
            except ValueError:
                raise MountError(f"invalid value for {key}: {text}") from None
        else:
            raise MountError(f"unexpected key '{key}' in '{field}'")
    _check(mount, parts)
    for name in ("BindOptions", "VolumeOptions", "ImageOptions", "TmpfsOptions"):
        if name in parts:
            mount[name] = _omit_empty(parts[name])
    return _omit_empty(mount)


def _check(mount: dict[str, Any], parts: dict[str, dict[str, Any]]) -> None:
    if not mount["Type"]:
        raise MountError("type is required")
    if not mount.get("Target"):
        raise MountError("target is required")
    for name, kind in (("VolumeOptions", "volume"), ("ImageOptions", "image"),
                       ("BindOptions", "bind"), ("TmpfsOptions", "tmpfs")):  # fmt: skip
        if name in parts and mount["Type"] != kind:
            raise MountError(f"cannot mix '{kind}-*' options with mount type '{mount['Type']}'")
    bind = parts.get("BindOptions") or {}
    if bind.get("ReadOnlyNonRecursive") and not mount.get("ReadOnly"):
        raise MountError(
            "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"
        )
    if bind.get("ReadOnlyForceRecursive"):
        if not mount.get("ReadOnly"):
            raise MountError(
                "option 'bind-recursive=readonly' requires 'readonly' to be specified in "
                "conjunction"
            )
        if bind.get("Propagation") != "rprivate":
            raise MountError(
                "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be "
                "specified in conjunction"
            )


def _omit_empty(fields: dict[str, Any]) -> dict[str, Any]:
    """Go's omitempty: zero values left out, except a nested struct that was made (a
    pointer set is sent, even empty, as DriverConfig is)."""
    return {
        key: value
        for key, value in fields.items()
        if key in ("Type", "DriverConfig") or value not in ("", False, 0, None, {})
    }


def check_mount(value: str) -> str:
    """The flag's validator: a value docker refuses is refused when parsed."""
    parse_mount(value)
    return value
