"""Manifests: TOML lists of canonical public documents to fetch and ingest.

    [[document]]
    title = "..."
    symbol = "PC.DEC/557"
    year = 2003
    url = "https://..."
    # optional, as in Markdown front matter and `beacon docs set` (assistant.domain.versions):
    status = "in_force"            # in_force, superseded or historical
    amends = ["PC.DEC/557"]        # or supersedes = [...]: doc ids or symbols
    valid_from = "2013"            # YYYY, YYYY-MM or YYYY-MM-DD
    collections = ["OSCE commitments"]

A bad value of those fields makes the whole manifest a usage error, naming the document, and
nothing is ingested.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from assistant.domain import versions
from assistant.domain.errors import InvalidInput


def read_manifest(path: Path) -> list[dict]:
    """The manifest's documents; their version fields validated and normalised
    (`assistant.domain.versions.checked`)."""
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
        stated = {k: entry[k] for k in versions.FIELDS if k in entry}
        entry.update(versions.checked(stated, f"manifest {path}, document {i}"))
    return entries


def manifest_urls(path: Path) -> list[str]:
    return [entry["url"] for entry in read_manifest(path)]


def manifest_versions(path: Path) -> dict[str, dict]:
    """url -> the version fields (status, relations, valid_from, collections) the manifest states
    for that document; documents that state none are left out."""
    stated = {}
    for entry in read_manifest(path):
        fields = {k: entry[k] for k in versions.FIELDS if k in entry}
        if fields:
            stated[entry["url"]] = fields
    return stated
