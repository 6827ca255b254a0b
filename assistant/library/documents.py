"""The original of every document and the text Beacon extracted from it, kept by content hash.

A citation's span (`char_start`/`char_end`) indexes into the extracted text, so a quote can be
checked verbatim and shown in place, and the original can be downloaded, for as long as that
version of the document is in the library. Files are named by their sha256, so re-ingesting
an unchanged document writes nothing and two documents with the same bytes share one file.

A writer keeps a version's files before its chunks are stored and forgets the replaced
version's after, so a writer killed in between leaves files nothing refers to (never chunks
without files). `begin` marks that window for the whole of a library change and `settled`
ends it; the next writer that finds the mark still there `sweep`s the unreferenced files and
any half-written temp files.
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
        self.unsettled = paths.files_unsettled

    def begin(self) -> bool:
        """Mark a library change under way (with the write lock held); whether the last one
        never settled, so files it left may need a `sweep`."""
        left = self.unsettled.exists()
        if not left:
            self.unsettled.parent.mkdir(parents=True, exist_ok=True)
            self.unsettled.touch()
        return left

    def settled(self) -> None:
        """The change finished: every kept file is referenced, every forgotten one deleted."""
        self.unsettled.unlink(missing_ok=True)

    def sweep(self, originals_in_use: set[str], texts_in_use: set[str]) -> int:
        """Delete kept originals and texts whose hash is not in use, and temp files of writes
        cut short; how many files were deleted."""
        deleted = 0
        for folder, in_use in ((self.originals, originals_in_use), (self.texts, texts_in_use)):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                name = path.name
                leftover = name.startswith(".") and name.endswith(".tmp")
                orphan = SHA_RE.match(name.split(".")[0]) is not None and name.split(".")[0] not in in_use
                if path.is_file() and (leftover or orphan):
                    path.unlink(missing_ok=True)
                    deleted += 1
        return deleted

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
