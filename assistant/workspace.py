"""Files the web UI keeps under the data dir: uploaded documents, eval datasets and eval runs.

    <data_dir>/uploads/         documents trainers uploaded (then ingested from here)
    <data_dir>/eval-datasets/   JSONL datasets QA uploaded
    <data_dir>/eval-runs/<time>-<dataset>/   one folder per evaluation run (report.html, PNGs)

Names that come from a browser are reduced to a plain file name: directories are dropped,
`..` is refused and unusual characters become `_`, so an upload can never land outside its
folder. The URL box accepts only http(s) URLs, so it cannot be used to ingest server files.
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import urlsplit

from assistant.errors import InvalidInput

MAX_NAME_CHARS = 120


def safe_file_name(name: str) -> str:
    """A browser-supplied file name as a plain name inside one folder, or InvalidInput."""
    raw = (name or "").strip().replace("\x00", "")
    parts = PureWindowsPath(raw).parts + PurePosixPath(raw).parts
    if any(part == ".." for part in parts):
        raise InvalidInput(f"Refusing the file name {name!r}: it points outside the upload folder.")
    base = re.split(r"[\\/]", raw)[-1]
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", base).strip(" .")
    base = re.sub(r"\s+", " ", base)
    if not base or base in (".", ".."):
        raise InvalidInput(f"Refusing the file name {name!r}: nothing usable is left of it.")
    if len(base) > MAX_NAME_CHARS:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: MAX_NAME_CHARS - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else base[:MAX_NAME_CHARS]
    return base


def checked_url(text: str) -> str:
    """An http(s) URL from the URL box; anything else (a server path, file://) is refused."""
    url = (text or "").strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"Not an http(s) URL: {url[:200]!r}. Upload files with the file box instead.")
    return url


class Workspace:
    """The UI's folders under one data dir; nothing is created until it is written to."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.uploads = self.data_dir / "uploads"
        self.eval_datasets_dir = self.data_dir / "eval-datasets"
        self.eval_runs = self.data_dir / "eval-runs"

    def _save(self, folder: Path, name: str, source: Path) -> Path:
        target = folder / safe_file_name(name)
        folder.mkdir(parents=True, exist_ok=True)
        if target.resolve().parent != folder.resolve():
            raise InvalidInput(f"Refusing the file name {name!r}: it points outside {folder}.")
        shutil.copyfile(source, target)
        return target

    def save_upload(self, name: str, source: Path) -> Path:
        """Copy an uploaded file into uploads/ under its sanitized name (a same-name upload replaces it)."""
        return self._save(self.uploads, name, source)

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
