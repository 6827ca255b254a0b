"""Manifests: TOML lists of canonical public documents to fetch and ingest.

    [[document]]
    title = "..."
    symbol = "PC.DEC/557"
    year = 2003
    url = "https://..."
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from assistant.domain.errors import InvalidInput


def read_manifest(path: Path) -> list[dict]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInput(f"Manifest {path} does not exist.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"Manifest {path} is not valid TOML: {exc}.") from exc
    entries = data.get("document", [])
    if not isinstance(entries, list) or not entries:
        raise InvalidInput(f"Manifest {path} lists no documents; add [[document]] tables with a `url`.")
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not str(entry.get("url", "")).startswith(("http://", "https://")):
            raise InvalidInput(f"Manifest {path}, document {i}: `url` must be an http(s) address.")
    return entries


def manifest_urls(path: Path) -> list[str]:
    return [entry["url"] for entry in read_manifest(path)]
