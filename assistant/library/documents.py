"""The original of every document and the text Beacon extracted from it, kept by content hash.

A citation's span (`char_start`/`char_end`) indexes into the extracted text, so a quote can be
checked verbatim and shown in place, and the original can be downloaded, for as long as that
version of the document is in the library. Files are named by their sha256, so re-ingesting
an unchanged document writes nothing and two documents with the same bytes share one file;
`prune` deletes what no stored document refers to any more.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from assistant.domain.files import atomic_write
from assistant.domain.paths import Paths

SHA_RE = re.compile(r"^[0-9a-f]{64}$")
SUFFIX_RE = re.compile(r"^\.[a-z0-9]{1,8}$")


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class DocumentFiles:
    def __init__(self, paths: Paths):
        self.originals = paths.originals
        self.texts = paths.texts

    def save(self, data: bytes, sha256: str, suffix: str, text: str) -> str:
        """Keep the original bytes and the extracted text; returns the text's hash."""
        suffix = suffix.lower() if SUFFIX_RE.match(suffix.lower()) else ".bin"
        original = self.originals / f"{sha256}{suffix}"
        if not original.exists():
            self.originals.mkdir(parents=True, exist_ok=True)
            tmp = original.with_name(f".{original.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(original)
        text_sha = text_sha256(text)
        target = self.texts / f"{text_sha}.txt"
        if not target.exists():
            atomic_write(target, text, mode=0o644)
        return text_sha

    def text(self, text_sha: str) -> str | None:
        """The stored extracted text, or None when it is not (or no longer) kept."""
        if not SHA_RE.match(text_sha or ""):
            return None
        path = self.texts / f"{text_sha}.txt"
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def original(self, sha256: str) -> Path | None:
        """The kept original file of a document version, or None."""
        if not SHA_RE.match(sha256 or "") or not self.originals.is_dir():
            return None
        return next((p for p in self.originals.glob(f"{sha256}.*") if p.is_file()), None)

    def forget(self, sha256: str | None, text_sha: str | None) -> None:
        """Delete a version's original and/or text (the caller checked nothing refers to them)."""
        if sha256 and (original := self.original(sha256)) is not None:
            original.unlink(missing_ok=True)
        if text_sha and SHA_RE.match(text_sha):
            (self.texts / f"{text_sha}.txt").unlink(missing_ok=True)
