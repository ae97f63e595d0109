"""OCI distribution client: auth, platforms, pull, push, mirrors."""

from ketch.registry.client import BlobStore, RegistryClient
from ketch.registry.config import Endpoint, RegistryConfig

__all__ = ["BlobStore", "Endpoint", "RegistryClient", "RegistryConfig"]
