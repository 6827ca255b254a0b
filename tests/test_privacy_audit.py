"""Privacy and accountability: chats are not kept unless asked for (and then only for the
retention period); every library change is in an append-only audit log."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from typer.testing import CliRunner

from assistant import Settings, build_assistant
from assistant.cli import app
from assistant.journal import ChatLog

SECRET_QUESTION = "What does the Palermo Protocol say about zebra-unicorn-4711 cases?"


def files_containing(folder, needle: str) -> list[str]:
    hits = []
    for path in folder.rglob("*"):
        if path.is_file() and needle.encode() in path.read_bytes():
            hits.append(str(path))
    return hits


def test_questions_leave_no_trace_by_default(data_dir, article_markdown):
    beacon = build_assistant(Settings(data_dir=data_dir))
    beacon.ingest([str(article_markdown)])
    beacon.ask(SECRET_QUESTION)
    assert not (data_dir / "chat-log.jsonl").exists()
    assert files_containing(data_dir, "zebra-unicorn-4711") == []


def test_opt_in_chat_log_records_who_asked_what(data_dir, article_markdown):
    beacon = build_assistant(Settings(data_dir=data_dir, chat_log=True, chat_log_retention_days=7))
    beacon.ingest([str(article_markdown)])
    answer = beacon.ask(SECRET_QUESTION, user="trainee1")
    [entry] = beacon.chat_log.entries()
    assert entry["user"] == "trainee1" and entry["question"] == SECRET_QUESTION
    assert entry["answer"] == answer.answer and entry["refused"] == answer.refused
    assert (data_dir / "chat-log.jsonl").stat().st_mode & 0o077 == 0, "the chat log is readable by its owner only"


def test_chat_log_entries_older_than_the_retention_are_deleted(tmp_path):
    log = ChatLog(tmp_path / "chat-log.jsonl", retention_days=30)
    old = (datetime.now(timezone.utc) - timedelta(days=31)).isoformat(timespec="seconds")
    recent = (datetime.now(timezone.utc) - timedelta(days=29)).isoformat(timespec="seconds")
    log.path.write_text(
        json.dumps({"at": old, "question": "old"}) + "\n" + json.dumps({"at": recent, "question": "recent"}) + "\n",
        encoding="utf-8",
    )
    log.record("u", "new", "a", False, [])
    assert [e["question"] for e in log.entries()] == ["recent", "new"]


def test_audit_log_records_adds_updates_and_removals(data_dir, article_markdown):
    beacon = build_assistant(Settings(data_dir=data_dir))
    [added] = beacon.ingest([str(article_markdown)], actor="trainer:alice")
    beacon.ingest([str(article_markdown)], actor="trainer:alice")  # unchanged: not a change
    article_markdown.write_text(article_markdown.read_text(encoding="utf-8") + "\n\nArticle 99\n\nA new closing article.\n", encoding="utf-8")
    beacon.ingest([str(article_markdown)], actor="trainer:bob")
    beacon.remove_document(added.doc_id, actor="admin:carol")
    entries = beacon.audit_log.entries()
    assert [(e["actor"], e["action"], e["doc_id"]) for e in entries] == [
        ("trainer:alice", "added", added.doc_id),
        ("trainer:bob", "updated", added.doc_id),
        ("admin:carol", "removed", added.doc_id),
    ]
    assert all(datetime.fromisoformat(e["at"]) for e in entries)


def test_cli_changes_are_audited_as_the_local_user(data_dir, article_markdown):
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), "ingest", str(article_markdown)])
    assert result.exit_code == 0, result.output
    [entry] = [json.loads(line) for line in (data_dir / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert entry["action"] == "added" and entry["actor"].startswith("local")
