"""Beacon: grounded, cited answers on trafficking-prevention guidance.

    from assistant import build_assistant, Settings
    beacon = build_assistant(Settings(data_dir="/tmp/beacon"))
    beacon.ingest(["knowledge/"])
    print(beacon.ask("What are the 3 Ps of the OSCE Action Plan?").answer)
"""

from assistant.domain.errors import (
    BeaconError,
    ConfigError,
    FetchError,
    IngestError,
    InvalidInput,
    NotFound,
    StoreError,
    StoreLocked,
    StoreMismatch,
    UnsupportedFormat,
)
from assistant.domain.models import Answer, Citation, IngestReport
from assistant.domain.settings import Settings


def build_assistant(settings: Settings | None = None, **parts):
    """Build the Assistant from settings (see `assistant.app`); nothing loads until used.
    `parts` (embedder=, store=, catalogue=, crosslingual=, chat_model=) replace the parts the settings would build."""
    from assistant.app import build_assistant as build

    return build(settings, **parts)


__all__ = [
    "Answer",
    "BeaconError",
    "Citation",
    "ConfigError",
    "FetchError",
    "IngestError",
    "IngestReport",
    "InvalidInput",
    "NotFound",
    "Settings",
    "StoreError",
    "StoreLocked",
    "StoreMismatch",
    "UnsupportedFormat",
    "build_assistant",
]
