"""OCI distribution client: auth, platforms, pull, push, mirrors."""

from ketch.registry.client import Auth, BlobStore, BlobWriter, ProgressCallback, RegistryClient
from ketch.registry.config import Endpoint, RegistryConfig

__all__ = [
    "Auth",
    "BlobStore",
    "BlobWriter",
    "Endpoint",
    "ProgressCallback",
    "RegistryClient",
    "RegistryConfig",
]
