"""Thumbs up/down on answers, kept locally as JSON lines, and turned into eval cases for QA.

Each line of `<data_dir>/feedback.jsonl` is one `FeedbackEntry`: the rating, a reason for a
thumbs-down, an optional comment, who gave it, and the answer as it was shown (text, citations
and the retrieved sources), so QA can later see what went wrong even after the library
changed. `export_eval_cases` writes the thumbs-down questions in the eval dataset format with
empty expectations for QA to fill in.

Entries name people and what they asked, so they are written by the journal's record writer
(`assistant.records.journal`): owner-only files, and entries older than the retention period
(`BEACON_FEEDBACK_RETENTION_DAYS`) deleted, from the feedback file and hence from exports.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from assistant.domain.errors import ConfigError, InvalidInput
from assistant.domain.models import Answer
from assistant.records.journal import Journal, now_iso, write_records

REASONS = ("wrong citation", "not grounded", "not helpful", "other")
MAX_COMMENT_CHARS = 2000
DEFAULT_RETENTION_DAYS = 90


class CitedSource(BaseModel):
    n: int
    doc_id: str
    title: str
    source: str
    locator: str = ""


class FeedbackEntry(BaseModel):
    id: str
    created_at: str
    user: str = ""
    rating: Literal["up", "down"]
    reason: str | None = None
    comment: str = ""
    question: str
    answer: str
    refused: bool
    answerer: str = ""
    citations: list[CitedSource] = Field(default_factory=list)
    retrieved_sources: list[str] = Field(default_factory=list)


def feedback_file(settings) -> Path:
    return settings.paths.feedback


def feedback_store(settings) -> "FeedbackStore":
    """The feedback of this library, kept as long as its settings say."""
    return FeedbackStore(feedback_file(settings), settings.feedback_retention_days)


class FeedbackStore:
    """Append-only JSONL of feedback entries (a `Journal`); safe for concurrent handlers of one process."""

    def __init__(self, path: Path, retention_days: int = DEFAULT_RETENTION_DAYS):
        self.journal = Journal(path, retention_days=retention_days, time_key="created_at")

    @property
    def path(self) -> Path:
        return self.journal.path

    def record(self, answer: Answer, rating: str, reason: str | None = None, comment: str = "", user: str = "") -> FeedbackEntry:
        """Store one rating of an answer; a thumbs-down needs a reason from REASONS."""
        if rating not in ("up", "down"):
            raise InvalidInput(f"rating must be 'up' or 'down', not {rating!r}.")
        reason = (reason or "").strip() or None
        if rating == "down" and reason not in REASONS:
            raise InvalidInput(f"Say why the answer is wrong: choose one of {', '.join(REASONS)}.")
        if reason is not None and reason not in REASONS:
            raise InvalidInput(f"Unknown reason {reason!r}; choose one of {', '.join(REASONS)}.")
        comment = (comment or "").strip()
        if len(comment) > MAX_COMMENT_CHARS:
            raise InvalidInput(f"The comment is {len(comment)} characters long; keep it under {MAX_COMMENT_CHARS}.")
        created_at = now_iso()
        entry = FeedbackEntry(
            id=hashlib.sha1(f"{created_at}\0{user}\0{answer.question}\0{rating}\0{comment}".encode()).hexdigest()[:12],
            created_at=created_at,
            user=user or "",
            rating=rating,
            reason=reason,
            comment=comment,
            question=answer.question,
            answer=answer.answer,
            refused=answer.refused,
            answerer=answer.answerer,
            citations=[CitedSource(n=c.n, doc_id=c.doc_id, title=c.title, source=c.source, locator=c.locator) for c in answer.citations],
            retrieved_sources=list(dict.fromkeys(r.source for r in answer.retrieved)),
        )
        self.journal.append(entry.model_dump())
        return entry

    def entries(self) -> list[FeedbackEntry]:
        """The entries within the retention period (older ones are deleted first)."""
        self.journal.prune()
        entries = []
        for number, record in enumerate(self.journal.entries(), start=1):
            try:
                entries.append(FeedbackEntry.model_validate(record))
            except ValidationError as exc:
                raise ConfigError(f"Entry {number} of {self.path} is not a feedback entry ({exc.errors()[0]['msg']}); fix or delete that line.") from exc
        return entries

    def eval_cases(self) -> list[dict]:
        """Thumbs-down questions as eval cases: one per distinct question, latest feedback kept."""
        cases: dict[str, dict] = {}
        for entry in self.entries():
            if entry.rating != "down":
                continue
            key = " ".join(entry.question.lower().split())
            votes = cases[key]["feedback"]["votes"] + 1 if key in cases else 1
            cases[key] = {
                "id": "feedback-" + hashlib.sha1(key.encode()).hexdigest()[:10],
                "question": entry.question,
                "expected_sources": [],
                "expected_answer_contains": [],
                "answerable": True,
                "feedback": {
                    "reason": entry.reason,
                    "comment": entry.comment,
                    "user": entry.user,
                    "created_at": entry.created_at,
                    "votes": votes,
                    "answer": entry.answer,
                    "refused": entry.refused,
                    "answerer": entry.answerer,
                    "cited_sources": [c.source for c in entry.citations],
                    "retrieved_sources": entry.retrieved_sources,
                },
            }
        return list(cases.values())

    def export_eval_cases(self, path: Path) -> int:
        """Write the thumbs-down cases as eval JSONL, owner-only (QA fills in the expectations);
        returns their number."""
        cases = self.eval_cases()
        write_records(path, cases)
        return len(cases)
