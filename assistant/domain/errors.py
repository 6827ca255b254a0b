"""Typed errors of the Beacon core.

Every message says what went wrong *and* how to fix it; only the CLI and the UI turn
these into exit codes and user-facing text.

    BeaconError
    ├── ConfigError        settings are inconsistent or a backend is unavailable
    ├── StoreError         the vector store cannot be opened or written
    │   ├── StoreMismatch  the store was built with another embedding model
    │   └── StoreLocked    another process is writing to the embedded store
    ├── IngestError        one document could not be loaded or indexed
    │   └── UnsupportedFormat
    ├── FetchError         a URL could not be fetched (or is not allowed)
    ├── NotFound           a document id or source is not in the library
    └── InvalidInput       a request is malformed (empty question, ...)
"""

from __future__ import annotations


class BeaconError(Exception):
    """Base class of every error Beacon raises on purpose."""


class ConfigError(BeaconError):
    """Settings are invalid or name a backend that cannot run here."""


class StoreError(BeaconError):
    """The vector store cannot be opened, read or written."""


class StoreMismatch(StoreError):
    """The store was indexed with a different embedding model or dimension."""


class StoreLocked(StoreError):
    """Another process holds the write lock of the embedded store."""


class IngestError(BeaconError):
    """A single document could not be loaded, chunked or indexed."""


class UnsupportedFormat(IngestError):
    """The file type is not one Beacon can read."""


class FetchError(IngestError):
    """A URL could not be fetched, or fetching it is not allowed."""


class NotFound(BeaconError):
    """A document id or source is not in the library."""


class InvalidInput(BeaconError):
    """A request is malformed (empty question, unknown filter, ...)."""
