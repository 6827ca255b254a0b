"""Files the web UI keeps under the data dir: uploaded documents, eval datasets and eval runs.

    <data_dir>/uploads/         documents trainers uploaded (then ingested from here)
    <data_dir>/eval-datasets/   JSONL datasets QA uploaded
    <data_dir>/eval-runs/<time>-<dataset>/   one folder per evaluation run (report.html, PNGs)

Names that come from a browser are reduced to a plain file name: directories are dropped,
`..` is refused and characters other than letters (of any script), digits, ` `, `.`, `_` and
`-` become `_`, so an upload can never land outside its folder. A name that had to change
gets a short hash of the original, so two different names never share a file (`отчет.md` and
`доклад.md` stay two documents; a same-name upload is a new version of the same document).
Only the document types Beacon reads are stored. The URL box accepts only http(s) URLs, so it
cannot be used to ingest server files.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import unicodedata
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable, NamedTuple
from urllib.parse import urlsplit

from assistant.domain.errors import InvalidInput
from assistant.domain.formats import format_for
from assistant.domain.paths import Paths
from assistant.records.journal import process_alive

MAX_NAME_BYTES = 200  # file systems allow 255 bytes; letters of other scripts take 2-4 each
NAME_HASH_CHARS = 8
HASHED_NAME_RE = re.compile(rf"-[0-9a-f]{{{NAME_HASH_CHARS}}}(\.[^.]*)?$")


def uploads_dir(data_dir: Path) -> Path:
    """Where uploaded documents are kept; a document stored here is Beacon's own copy."""
    return Paths(data_dir).uploads


def safe_file_name(name: str) -> str:
    """A browser-supplied file name as a plain name inside one folder, or InvalidInput."""
    raw = (name or "").strip().replace("\x00", "")
    parts = PureWindowsPath(raw).parts + PurePosixPath(raw).parts
    if any(part == ".." for part in parts):
        raise InvalidInput(f"Refusing the file name {name!r}: it points outside the upload folder.")
    original = unicodedata.normalize("NFC", re.split(r"[\\/]", raw)[-1])
    base = re.sub(r"[^\w. -]+", "_", original).strip(" .")
    base = re.sub(r"\s+", " ", base)
    if not base or base in (".", ".."):
        raise InvalidInput(f"Refusing the file name {name!r}: nothing usable is left of it.")
    if base == original and len(base.encode("utf-8")) <= MAX_NAME_BYTES and not HASHED_NAME_RE.search(base):
        return base
    # The name changed: add a hash of the original, so that no other name can map to this one.
    stem, dot, ext = base.rpartition(".")
    if not dot or len(ext) > 10:
        stem, dot, ext = base, "", ""
    digest = hashlib.sha256(original.encode("utf-8")).hexdigest()[:NAME_HASH_CHARS]
    room = MAX_NAME_BYTES - len(ext.encode("utf-8")) - NAME_HASH_CHARS - 2
    stem = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return f"{stem}-{digest}{dot}{ext}"


def checked_url(text: str) -> str:
    """An http(s) URL from the URL box; anything else (a server path, file://) is refused."""
    url = (text or "").strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"Not an http(s) URL: {url[:200]!r}. Upload files with the file box instead.")
    return url


class Upload(NamedTuple):
    """An uploaded document in uploads/, and the file it replaced (kept aside until settled) or,
    for a new name, an empty marker saying the file is not settled yet. Both names hold the
    uploading process's id, so that a process killed before settling is recognised."""

    path: Path
    previous: Path | None = None
    marker: Path | None = None


UNSETTLED_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<kind>previous|new)$")


class Workspace:
    """The UI's folders under one data dir; nothing is created until it is written to."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.uploads = uploads_dir(self.data_dir)
        self.eval_datasets_dir = Paths(self.data_dir).eval_datasets
        self.eval_runs = Paths(self.data_dir).eval_runs

    def _save(self, folder: Path, name: str, source: Path) -> Path:
        target = folder / safe_file_name(name)
        folder.mkdir(parents=True, exist_ok=True)
        if target.resolve().parent != folder.resolve():
            raise InvalidInput(f"Refusing the file name {name!r}: it points outside {folder}.")
        shutil.copyfile(source, target)
        return target

    def save_upload(self, name: str, source: Path) -> "Upload":
        """Copy an uploaded document into uploads/ under its safe name. A same-name upload is a
        new version: the previous file is kept aside until `settle_upload` says how it went."""
        format_for(name)  # only documents Beacon reads are stored
        target = self.uploads / safe_file_name(name)
        self.uploads.mkdir(parents=True, exist_ok=True)
        previous = marker = None
        if target.is_file():
            previous = target.with_name(f".{target.name}.{os.getpid()}.previous")
            os.replace(target, previous)
        else:
            marker = target.with_name(f".{target.name}.{os.getpid()}.new")
            marker.touch()
        return Upload(self._save(self.uploads, name, source), previous, marker)

    @staticmethod
    def settle_upload(upload: "Upload", ingested: bool) -> None:
        """Keep an upload its document was ingested from; otherwise put back what was there
        before (nothing, or the previous version), so a failed upload leaves no file behind."""
        if ingested:
            if upload.previous is not None:
                upload.previous.unlink(missing_ok=True)
        elif upload.previous is not None:
            os.replace(upload.previous, upload.path)
        else:
            upload.path.unlink(missing_ok=True)
        if upload.marker is not None:
            upload.marker.unlink(missing_ok=True)

    def save_eval_dataset(self, name: str, source: Path) -> Path:
        if not name.lower().endswith(".jsonl"):
            raise InvalidInput(f"{name!r} is not a .jsonl dataset; an eval dataset has one JSON case per line.")
        return self._save(self.eval_datasets_dir, name, source)

    def eval_datasets(self, default: Path | None = None) -> list[Path]:
        """The default dataset, the datasets beside it and the uploaded ones."""
        found: list[Path] = []
        if default is not None:
            default = Path(default)
            found.append(default)
            if default.parent.is_dir():
                found += sorted(default.parent.glob("*.jsonl"))
        if self.eval_datasets_dir.is_dir():
            found += sorted(self.eval_datasets_dir.glob("*.jsonl"))
        return list(dict.fromkeys(p for p in found if p.is_file()))

    def new_eval_run(self, dataset: Path) -> Path:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(dataset).stem)[:40]
        return self.eval_runs / f"{stamp}-{slug}"


def settle_abandoned_uploads(data_dir: Path, stored_sha256: Callable[[Path], str | None]) -> None:
    """Settle the uploads of processes killed before they settled them, by what the library
    holds (`stored_sha256` of a file's document, None if none): an upload whose version is
    stored stays; otherwise the previous version is put back, or the new file removed."""
    folder = uploads_dir(data_dir)
    if not folder.is_dir():
        return
    for aside in folder.iterdir():
        found = UNSETTLED_RE.match(aside.name)
        if not found or process_alive(int(found["pid"])):
            continue
        upload = Upload(folder / found["name"])
        if found["kind"] == "previous":
            upload = upload._replace(previous=aside)
        else:
            upload = upload._replace(marker=aside)
        stored = upload.path.is_file() and stored_sha256(upload.path) == hashlib.sha256(upload.path.read_bytes()).hexdigest()
        Workspace.settle_upload(upload, ingested=stored)
