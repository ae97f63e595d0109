"""Content-addressed blob store: ingest (resumable) -> verify digest -> commit by rename."""

from ketch.content.store import ContentStore, Ingest, IngestInterrupted, IngestReader

__all__ = ["ContentStore", "Ingest", "IngestInterrupted", "IngestReader"]
