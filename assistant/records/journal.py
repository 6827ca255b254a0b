"""Append-only JSONL journals: the audit log, the opt-in chat log and the answer feedback.

Every file of records about people goes through `Journal` (and exports through
`write_records`), so they all get the same guarantees: owner-only permissions (0600, also
for files an older version created world-readable), one fsynced line per entry, lines cut by
a crash skipped on reading, and, when a retention is set, entries older than it deleted.

The audit log is always on and never pruned: who added, updated or removed which document,
and when. The chat log holds questions and answers, which may be personal, so it exists only
when `BEACON_CHAT_LOG=true` and is kept `BEACON_CHAT_LOG_RETENTION_DAYS`; feedback (questions,
user names, comments) is kept `BEACON_FEEDBACK_RETENTION_DAYS`.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from assistant.domain.files import PRIVATE_MODE, atomic_write

PRUNE_EVERY = timedelta(hours=1)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def now_iso() -> str:
    """The timestamp format of every journal entry (UTC, seconds)."""
    return _now().isoformat(timespec="seconds")


def write_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Replace a JSONL file atomically with owner-only permissions (exports, pruned journals)."""
    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


class Journal:
    """One JSON object per line, appended with O_APPEND and flushed to disk per entry.

    `time_key` names the entry's timestamp (stamped on append when the entry has none);
    with `retention_days`, entries older than that are deleted on append (at most hourly)
    and by `prune()`.
    """

    def __init__(self, path: Path, retention_days: int | None = None, time_key: str = "at"):
        self.path = Path(path)
        self.retention = timedelta(days=retention_days) if retention_days else None
        self.time_key = time_key
        self._lock = threading.Lock()
        self._pruned_at: datetime | None = None

    def append(self, entry: dict[str, Any]) -> None:
        record = {self.time_key: now_iso(), **entry}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_MODE)
            try:
                os.fchmod(fd, PRIVATE_MODE)
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        if self.retention and (self._pruned_at is None or _now() - self._pruned_at > PRUNE_EVERY):
            self.prune()

    def entries(self) -> list[dict[str, Any]]:
        return [record for _, record in self._records()]

    def _records(self) -> list[tuple[str, dict[str, Any]]]:
        """(line, record) pairs; a line cut by a crash is skipped, the others stay readable."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                out.append((line, record))
        return out

    def prune(self) -> int:
        """Delete entries older than the retention period; returns how many were removed."""
        if self.retention is None:
            return 0
        with self._lock:
            self._pruned_at = _now()
            records = [record for _, record in self._records()]
            cutoff = _now() - self.retention
            kept = [r for r in records if (at := _entry_time(r, self.time_key)) is None or at >= cutoff]
            if len(kept) == len(records):
                return 0
            write_records(self.path, kept)
            return len(records) - len(kept)


class AuditLog(Journal):
    """Library changes: who, what, when. Never rewritten by Beacon."""

    def record(self, actor: str, action: str, doc_id: str, source: str = "", **detail: Any) -> None:
        self.append({"actor": actor, "action": action, "doc_id": doc_id, "source": source, **detail})

    def has_change(self, change: str) -> bool:
        """Whether the entry of a change (`PendingChanges` id) was written; read on recovery only."""
        return any(record.get("change") == change for _, record in self._records())


class PendingChanges:
    """Write-ahead records of the library changes in progress, one file each in `folder`.

    A change to the library touches the chunk store, its revision, the audit log and
    sometimes a file in uploads/; a process killed between two of those steps leaves its
    record here, and the next writer (or reader) finishes or undoes the change from it.
    Each record is written whole (temp file, fsync, rename) before the first step and
    deleted after the last; ids sort in the order the changes began.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def begin(self, record: dict[str, Any]) -> str:
        change = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(3)}"
        atomic_write(self.folder / f"{change}.json", json.dumps({**record, "change": change}, ensure_ascii=False), durable=True)
        return change

    def finish(self, change: str) -> None:
        (self.folder / f"{change}.json").unlink(missing_ok=True)

    def any(self) -> bool:
        """Cheap enough to ask on every question (one directory listing)."""
        try:
            return any(name.endswith(".json") for name in os.listdir(self.folder))
        except FileNotFoundError:
            return False

    def records(self) -> list[dict[str, Any]]:
        """Complete records, oldest first; temp files of a record never finished are removed."""
        if not self.folder.is_dir():
            return []
        out = []
        for path in sorted(self.folder.iterdir()):
            if path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)
            elif path.suffix == ".json":
                try:
                    out.append(json.loads(path.read_text(encoding="utf-8")))
                except (OSError, ValueError):
                    path.unlink(missing_ok=True)  # never renamed into place whole, so never begun
        return out


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True




class ChatLog(Journal):
    """Questions and answers, kept `retention_days` (opt-in)."""

    def __init__(self, path: Path, retention_days: int):
        super().__init__(path, retention_days=retention_days)

    def record(self, user: str, question: str, answer: str, refused: bool, sources: list[str]) -> None:
        self.append({"user": user, "question": question, "answer": answer, "refused": refused, "sources": sources})


def _entry_time(record: dict[str, Any], key: str) -> datetime | None:
    try:
        return datetime.fromisoformat(record[key])
    except (ValueError, KeyError, TypeError):
        return None
