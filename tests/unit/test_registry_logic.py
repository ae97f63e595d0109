import asyncio

import pytest

from ketch import errors
from ketch.registry import auth, config, errormap
from ketch.registry.config import Endpoint, RegistryConfig


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            ['Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
             'scope="repository:library/x:pull"'],
            [auth.Challenge("bearer", {"realm": "https://auth.docker.io/token",
                                       "service": "registry.docker.io",
                                       "scope": "repository:library/x:pull"})],
        ),
        (['Basic realm="Registry Realm"'], [auth.Challenge("basic", {"realm": "Registry Realm"})]),
        (['bearer realm=http://x/t, service=s'],
         [auth.Challenge("bearer", {"realm": "http://x/t", "service": "s"})]),
        (['Bearer realm="a\\"b",scope="repository:a:pull,push"'],
         [auth.Challenge("bearer", {"realm": 'a"b', "scope": "repository:a:pull,push"})]),
        ([""], []),
    ],
)  # fmt: skip
def test_parse_challenges(headers, expected):
    assert auth.parse_challenges(headers) == expected


def test_scope_and_basic():
    assert auth.scope_for("library/x", ("pull", "push")) == "repository:library/x:pull,push"
    assert auth.basic_header("a", "b") == "Basic YTpi"
    assert not auth.has_credentials(None)
    assert not auth.has_credentials({"serveraddress": "x"})
    assert auth.has_credentials({"identitytoken": "t"})


def endpoints(domain: str, cfg: RegistryConfig, mirrors: bool = True) -> list[Endpoint]:
    return asyncio.run(config.endpoints_for(domain, cfg, mirrors))


def test_docker_hub_endpoint_and_mirrors():
    cfg = RegistryConfig(mirrors=["http://127.0.0.1:5000/", "https://mirror.example"])
    assert endpoints("docker.io", cfg) == [
        Endpoint("http://127.0.0.1:5000", mirror=True, verify_tls=False),
        Endpoint("https://mirror.example", mirror=True, verify_tls=True),
        Endpoint("https://registry-1.docker.io"),
    ]
    assert endpoints("docker.io", cfg, mirrors=False) == [Endpoint("https://registry-1.docker.io")]
    # mirrors serve Docker Hub only
    assert endpoints("quay.io", cfg) == [Endpoint("https://quay.io")]


@pytest.mark.parametrize(
    ("domain", "insecure", "expected"),
    [
        ("localhost:5000", [], True),
        ("localhost", [], True),
        ("127.0.0.1:5000", [], True),
        ("127.3.2.1", [], True),
        ("[::1]:5000", [], True),
        ("10.1.2.3:5000", [], False),
        ("10.1.2.3:5000", ["10.0.0.0/8"], True),
        ("myregistry.invalid:5000", ["myregistry.invalid:5000"], True),
        ("myregistry.invalid:5000", ["myregistry.invalid"], True),
        ("myregistry.invalid:5000", ["other.invalid:5000"], False),
    ],
)
def test_insecure(domain, insecure, expected):
    cfg = RegistryConfig(insecure=insecure)
    assert asyncio.run(config.is_insecure(domain, cfg)) is expected
    found = endpoints(domain, cfg)
    if expected:
        # dockerd's order: HTTPS without verification, then plain HTTP
        assert found == [
            Endpoint(f"https://{domain}", verify_tls=False),
            Endpoint(f"http://{domain}"),
        ]
    else:
        assert found == [Endpoint(f"https://{domain}")]


@pytest.mark.parametrize("bad", ["127.0.0.1:5000", "ftp://x", "http://x/path", "http://"])
def test_bad_mirror_refused(bad):
    with pytest.raises(errors.InvalidArgument):
        RegistryConfig(mirrors=[bad])


def test_insecure_entry_with_scheme_refused():
    with pytest.raises(errors.InvalidArgument):
        RegistryConfig(insecure=["http://x:5000"])


@pytest.mark.parametrize(
    ("server", "domain"),
    [
        ("", "docker.io"),
        ("https://index.docker.io/v1/", "docker.io"),
        ("docker.io", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("localhost:5000", "localhost:5000"),
        ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
        ("quay.io", "quay.io"),
    ],
)
def test_login_domain(server, domain):
    assert config.login_domain(server) == domain


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}',
         errors.NotFound, "manifest unknown: manifest unknown"),
        (401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
         errors.Unauthorized, "unauthorized: authentication required"),
        (403, b'{"errors":[{"code":"DENIED","message":"access denied"}]}',
         errors.Forbidden, "denied: access denied"),
        (429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
         errors.Unavailable, "toomanyrequests: slow down"),
        (503, b"<html>down</html>", errors.Unavailable,
         "unexpected status from registry: 503 Service Unavailable"),
        (405, b'{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}',
         errors.NotImplementedYet, "unsupported: The operation is unsupported."),
        (400, b'{"errors":[{"code":"DIGEST_INVALID"}]}', errors.InvalidArgument,
         "digest invalid"),
    ],
)  # fmt: skip
def test_error_mapping(status, body, kind, message):
    reason = {503: "Service Unavailable"}.get(status, "")
    err = errormap.error_for(status, reason, body)
    assert type(err) is kind
    assert err.message == message
    assert errormap.error_for(status, reason, body, "ctx").message == f"ctx: {message}"
