"""Append-only JSONL journals: the audit log of library changes and the opt-in chat log.

The audit log is always on: who added, updated or removed which document, and when. The chat
log holds questions and answers, which may be personal, so it exists only when
`BEACON_CHAT_LOG=true`, and entries older than `BEACON_CHAT_LOG_RETENTION_DAYS` are deleted.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

AUDIT_FILE_NAME = "audit.jsonl"
CHAT_LOG_FILE_NAME = "chat-log.jsonl"
PRUNE_EVERY = timedelta(hours=1)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Journal:
    """One JSON object per line, appended with O_APPEND and flushed to disk per entry."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, entry: dict[str, Any]) -> None:
        line = json.dumps({"at": _now().isoformat(timespec="seconds"), **entry}, ensure_ascii=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash; the others stay readable
        return out


class AuditLog(Journal):
    """Library changes: who, what, when. Never rewritten by Beacon."""

    def record(self, actor: str, action: str, doc_id: str, source: str = "", **detail: Any) -> None:
        self.append({"actor": actor, "action": action, "doc_id": doc_id, "source": source, **detail})


class ChatLog(Journal):
    """Questions and answers, kept `retention_days` (opt-in)."""

    def __init__(self, path: Path, retention_days: int):
        super().__init__(path)
        self.retention = timedelta(days=retention_days)
        self._pruned_at: datetime | None = None

    def record(self, user: str, question: str, answer: str, refused: bool, sources: list[str]) -> None:
        self.append({"user": user, "question": question, "answer": answer, "refused": refused, "sources": sources})
        if self._pruned_at is None or _now() - self._pruned_at > PRUNE_EVERY:
            self.prune()

    def prune(self) -> int:
        """Delete entries older than the retention period; returns how many were removed."""
        with self._lock:
            self._pruned_at = _now()
            if not self.path.exists():
                return 0
            cutoff = _now() - self.retention
            lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [line for line in lines if _entry_time(line) is None or _entry_time(line) >= cutoff]
            if len(kept) == len(lines):
                return 0
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(kept), encoding="utf-8")
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
            return len(lines) - len(kept)


def _entry_time(line: str) -> datetime | None:
    try:
        return datetime.fromisoformat(json.loads(line)["at"])
    except (ValueError, KeyError, TypeError):
        return None
