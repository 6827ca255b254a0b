"""Privacy and accountability: chats are not kept unless asked for (and then only for the
retention period); every library change is in an append-only audit log."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from typer.testing import CliRunner

from assistant import Settings, build_assistant
from assistant.cli.main import app
from assistant.records.journal import ChatLog

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


# -- feedback: private files and retention, like the chat log -------------------------------------
def thumbs_down(question: str):
    from assistant.domain.models import Answer

    return Answer(question=question, answer="Prevention, protection and prosecution.", refused=False)


def test_feedback_and_its_export_are_owner_only(data_dir, tmp_path):
    from assistant.records.feedback import feedback_store

    settings = Settings(data_dir=data_dir)
    feedback_store(settings).record(thumbs_down(SECRET_QUESTION), "down", reason="other", comment="my name is Ana", user="tina")
    assert (data_dir / "feedback.jsonl").stat().st_mode & 0o077 == 0, "feedback names users and their questions"
    out = tmp_path / "qa" / "cases.jsonl"
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), "feedback", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert SECRET_QUESTION in out.read_text(encoding="utf-8")
    assert out.stat().st_mode & 0o077 == 0, "the export holds the same personal data"


def test_feedback_written_world_readable_by_an_older_version_becomes_owner_only(tmp_path):
    from assistant.records.feedback import FeedbackStore

    path = tmp_path / "feedback.jsonl"
    path.write_text("", encoding="utf-8")
    path.chmod(0o644)
    FeedbackStore(path).record(thumbs_down("What are the 3 Ps?"), "up")
    assert path.stat().st_mode & 0o077 == 0


def test_feedback_older_than_the_retention_is_deleted_and_never_exported(tmp_path):
    from assistant.records.feedback import FeedbackStore

    store = FeedbackStore(tmp_path / "feedback.jsonl", retention_days=30)
    store.record(thumbs_down("old question?"), "down", reason="other")
    store.record(thumbs_down("recent question?"), "down", reason="other")
    records = [json.loads(line) for line in store.path.read_text(encoding="utf-8").splitlines()]
    records[0]["created_at"] = (datetime.now(timezone.utc) - timedelta(days=31)).isoformat(timespec="seconds")
    records[1]["created_at"] = (datetime.now(timezone.utc) - timedelta(days=29)).isoformat(timespec="seconds")
    store.path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    out = tmp_path / "cases.jsonl"
    assert store.export_eval_cases(out) == 1
    assert "old question?" not in out.read_text(encoding="utf-8")
    assert "old question?" not in store.path.read_text(encoding="utf-8"), "expired entries are deleted, not just hidden"
    assert [e.question for e in store.entries()] == ["recent question?"]


def test_feedback_retention_is_a_setting(data_dir, monkeypatch):
    from assistant.records.feedback import feedback_store

    monkeypatch.setenv("BEACON_FEEDBACK_RETENTION_DAYS", "7")
    assert feedback_store(Settings(data_dir=data_dir)).journal.retention == timedelta(days=7)
