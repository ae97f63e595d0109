import pytest

from ketch import errors
from ketch.oci import reference

D = "sha256:" + "a" * 64
FORMAT = "invalid reference format"
HEX64 = "cannot specify 64-byte hexadecimal strings"
TOO_LONG = "repository name must not be more than 255 characters"


@pytest.mark.parametrize(
    ("text", "domain", "path", "tag", "digest", "familiar", "full"),
    [
        ("hello-world", "docker.io", "library/hello-world", "latest", None,
         "hello-world:latest", "docker.io/library/hello-world:latest"),
        ("redis:7", "docker.io", "library/redis", "7", None,
         "redis:7", "docker.io/library/redis:7"),
        ("user/app", "docker.io", "user/app", "latest", None,
         "user/app:latest", "docker.io/user/app:latest"),
        ("docker.io/library/busybox:1.36", "docker.io", "library/busybox", "1.36", None,
         "busybox:1.36", "docker.io/library/busybox:1.36"),
        ("index.docker.io/busybox", "docker.io", "library/busybox", "latest", None,
         "busybox:latest", "docker.io/library/busybox:latest"),
        ("docker.io/a/b/c", "docker.io", "a/b/c", "latest", None,
         "a/b/c:latest", "docker.io/a/b/c:latest"),
        ("localhost/x", "localhost", "x", "latest", None,
         "localhost/x:latest", "localhost/x:latest"),
        ("localhost:5000/x", "localhost:5000", "x", "latest", None,
         "localhost:5000/x:latest", "localhost:5000/x:latest"),
        ("127.0.0.1:5000/a/b:v1", "127.0.0.1:5000", "a/b", "v1", None,
         "127.0.0.1:5000/a/b:v1", "127.0.0.1:5000/a/b:v1"),
        # no dot, colon or "localhost": the first component is a Hub namespace
        (f"registry/x/y:tag@{D}", "docker.io", "registry/x/y", "tag", D,
         f"registry/x/y:tag@{D}", f"docker.io/registry/x/y:tag@{D}"),
        (f"registry:5000/x/y:tag@{D}", "registry:5000", "x/y", "tag", D,
         f"registry:5000/x/y:tag@{D}", f"registry:5000/x/y:tag@{D}"),
        (f"busybox@{D}", "docker.io", "library/busybox", None, D,
         f"busybox@{D}", f"docker.io/library/busybox@{D}"),
        ("Registry.Example.com/x", "Registry.Example.com", "x", "latest", None,
         "Registry.Example.com/x:latest", "Registry.Example.com/x:latest"),
        ("[::1]:5000/x:t", "[::1]:5000", "x", "t", None, "[::1]:5000/x:t", "[::1]:5000/x:t"),
        ("a__b/c-d--e.f_g", "docker.io", "a__b/c-d--e.f_g", "latest", None,
         "a__b/c-d--e.f_g:latest", "docker.io/a__b/c-d--e.f_g:latest"),
    ],
)  # fmt: skip
def test_parse_normalises_as_docker(text, domain, path, tag, digest, familiar, full):
    ref = reference.parse(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    assert ref.familiar() == familiar
    assert str(ref) == full


def test_names():
    ref = reference.parse("hello-world")
    assert ref.name == "docker.io/library/hello-world"
    assert ref.familiar_name == "hello-world"
    # library/ is only dropped for one-component official names
    assert reference.parse("docker.io/library/a/b").familiar_name == "library/a/b"
    assert reference.parse("quay.io/library/x").familiar_name == "quay.io/library/x"


def test_locator_prefers_digest():
    assert reference.parse(f"x:t@{D}").locator() == D
    assert reference.parse("x:t").locator() == "t"


def test_repository_without_default_tag():
    ref = reference.parse_repository("busybox")
    assert ref.tag is None and ref.familiar() == "busybox"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid reference format"),
        ("UPPER", "invalid reference format: repository name (library/UPPER) must be lowercase"),
        ("user/App:v1", "invalid reference format: repository name (user/App) must be lowercase"),
        ("x:", "invalid reference format"),
        ("x@sha256:abc", "invalid reference format"),
        ("-x", "invalid reference format"),
        ("x/", "invalid reference format"),
        ("a//b", "invalid reference format"),
        ("x:bad tag", "invalid reference format"),
        ("x:t\n", "invalid reference format"),
        ("x:" + "t" * 129, "invalid reference format"),
        ("x@sha256:" + "A" * 64, f"{FORMAT}: invalid checksum digest length or format"),
        ("x@sha256:" + "a" * 63, f"{FORMAT}: invalid checksum digest length or format"),
        ("x@md5:" + "a" * 32, "invalid reference format: unsupported digest algorithm"),
        ("a" * 64, f"invalid repository name ({'a' * 64}), {HEX64}"),
        ("example.com/" + "a" * 250, f"{FORMAT}: {TOO_LONG}"),
    ],
)  # fmt: skip
def test_invalid(text, message):
    with pytest.raises(errors.InvalidArgument) as exc:
        reference.parse(text)
    assert exc.value.message == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sha256:" + "a" * 64, True),
        ("a" * 64, True),
        ("abcdef012345", True),
        ("sha256:abcdef012345", True),
        ("abcdef01234", False),
        ("hello-world", False),
        ("sha256:" + "g" * 64, False),
    ],
)
def test_is_digest_id(text, expected):
    assert reference.is_digest_id(text) is expected


def test_familiar_helper():
    assert reference.familiar("docker.io/library/redis:7") == "redis:7"
    assert reference.familiar("docker.io/library/redis") == "redis"
