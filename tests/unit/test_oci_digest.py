import pytest

from ketch import errors
from ketch.oci import digest


def test_sha256_digest_of_empty():
    assert digest.sha256_digest(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


@pytest.mark.parametrize(
    "good", ["sha256:" + "0" * 64, "sha512:" + "f" * 128, "sha384:" + "a" * 96]
)
def test_validate_accepts(good):
    assert digest.validate(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "sha256",
        "sha256:",
        "sha256:" + "0" * 63,
        "sha256:" + "A" * 64,
        "md5:" + "0" * 32,
        "sha256:../../etc/passwd",
        None,
        "sha256:" + "0" * 64 + "\n",
    ],
)
def test_validate_refuses(bad):
    with pytest.raises(errors.InvalidArgument):
        digest.validate(bad)


def test_encoded_and_hasher():
    d = digest.sha256_digest(b"abc")
    assert digest.encoded(d) == d[7:]
    h = digest.hasher(d)
    h.update(b"abc")
    assert "sha256:" + h.hexdigest() == d
