"""Accounts (users.toml with salted scrypt hashes) and feedback (JSONL, exported as eval cases),
through their Python API and through `beacon users …` / `beacon feedback export`."""

from __future__ import annotations

import json
import os
import stat
import tomllib

import pytest
from typer.testing import CliRunner

from assistant import Settings
from assistant.domain.errors import ConfigError, InvalidInput, NotFound
from assistant.domain.models import Answer, AnswerSentence, Citation, Retrieved
from assistant.records.feedback import REASONS, FeedbackStore, feedback_file
from assistant.records.users import ROLES, UserStore, can, users_file


@pytest.fixture
def users(tmp_path):
    return UserStore(tmp_path / "users.toml")


def grounded_answer(question: str = "What are the 3 Ps?") -> Answer:
    return Answer(
        question=question,
        answer="Prevention, protection and prosecution. [1]",
        refused=False,
        citations=[Citation(n=1, doc_id="plan-1", title="Action Plan", source="/lib/plan.md", locator="Chapter III", text="…", score=0.9)],
        retrieved=[Retrieved(doc_id="plan-1", source="/lib/plan.md", locator="Chapter III", score=0.9, title="Action Plan")],
        sentences=[AnswerSentence(text="Prevention, protection and prosecution.", citations=[1], supported=True, support_score=1.0)],
    )


# -- users ---------------------------------------------------------------------------------------
def test_add_verify_and_remove(users):
    users.add("alice", "correct horse", "trainer")
    assert users.verify("alice", "correct horse").role == "trainer"
    assert users.verify("alice", "wrong password") is None
    assert users.verify("nobody", "correct horse") is None
    assert [(u.name, u.role) for u in users.list()] == [("alice", "trainer")]
    users.remove("alice")
    assert users.verify("alice", "correct horse") is None
    assert not users.has_users()


def test_passwords_are_salted_hashes_in_a_private_file(users):
    users.add("alice", "same password", "trainee")
    users.add("bob", "same password", "qa")
    text = users.path.read_text()
    assert "same password" not in text
    entries = tomllib.loads(text)["users"]
    assert entries["alice"]["password"].startswith("scrypt$")
    assert entries["alice"]["password"] != entries["bob"]["password"], "each user needs their own salt"
    assert stat.S_IMODE(os.stat(users.path).st_mode) == 0o600


def test_changes_by_another_process_are_seen(users):
    assert users.role_of("carol") is None
    UserStore(users.path).add("carol", "password1", "qa")  # e.g. `beacon users add` while serving
    assert users.role_of("carol") == "qa"


@pytest.mark.parametrize(
    ("name", "password", "role", "message"),
    [
        ("../etc", "password1", "trainee", "Invalid user name"),
        ("", "password1", "trainee", "Invalid user name"),
        ("dave", "short", "trainee", "at least 8"),
        ("dave", "password1", "superuser", "Unknown role"),
    ],
)
def test_bad_users_are_refused(users, name, password, role, message):
    with pytest.raises(InvalidInput, match=message):
        users.add(name, password, role)


def test_duplicate_needs_replace(users):
    users.add("erin", "password1", "trainee")
    with pytest.raises(InvalidInput, match="--replace"):
        users.add("erin", "password2", "admin")
    users.add("erin", "password2", "admin", replace=True)
    assert users.verify("erin", "password2").role == "admin"
    assert users.verify("erin", "password1") is None


def test_remove_unknown_user(users):
    with pytest.raises(NotFound, match="beacon users list"):
        users.remove("ghost")


def test_malformed_users_file_is_a_config_error(users):
    users.path.write_text('[users.x]\nrole = "pilot"\npassword = "plain"\n')
    with pytest.raises(ConfigError, match="beacon users add"):
        users.list()


def test_roles_grant_capabilities():
    assert ROLES == ("trainee", "trainer", "qa", "admin")
    assert [r for r in ROLES if can(r, "library")] == ["trainer", "admin"]
    assert [r for r in ROLES if can(r, "evals")] == ["qa", "admin"]
    assert all(can(r, "chat") and can(r, "feedback") for r in ROLES)
    assert not can(None, "chat") and not can("trainee", "unknown")


def test_users_file_lives_in_the_data_dir(tmp_path):
    assert users_file(Settings(data_dir=tmp_path)) == tmp_path / "users.toml"


@pytest.mark.skipif("users_file" not in Settings.model_fields, reason="BEACON_USERS_FILE is not a setting yet")
def test_users_file_setting_moves_it(tmp_path, monkeypatch):
    monkeypatch.setenv("BEACON_USERS_FILE", str(tmp_path / "etc" / "beacon-users.toml"))
    assert users_file(Settings(data_dir=tmp_path)) == tmp_path / "etc" / "beacon-users.toml"


# -- feedback ------------------------------------------------------------------------------------
def test_feedback_is_stored_and_exported_as_eval_cases(tmp_path):
    store = FeedbackStore(feedback_file(Settings(data_dir=tmp_path)))
    store.record(grounded_answer(), "up", user="tina")
    store.record(grounded_answer("Who signed the protocol?"), "down", reason="wrong citation", comment="cites the wrong article", user="tina")
    store.record(grounded_answer("who signed the  Protocol?"), "down", reason="not grounded", user="tom")
    entries = store.entries()
    assert [e.rating for e in entries] == ["up", "down", "down"]
    assert entries[1].citations[0].source == "/lib/plan.md" and entries[1].user == "tina"

    out = tmp_path / "qa" / "cases.jsonl"
    assert store.export_eval_cases(out) == 1, "one case per distinct question, thumbs-down only"
    (case,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert set(case) == {"id", "question", "expected_sources", "expected_answer_contains", "answerable", "feedback"}
    assert case["question"] == "who signed the  Protocol?" and case["answerable"] is True
    assert case["expected_sources"] == [] and case["expected_answer_contains"] == []
    assert case["feedback"]["reason"] == "not grounded" and case["feedback"]["votes"] == 2
    assert case["feedback"]["cited_sources"] == ["/lib/plan.md"]


def test_exported_cases_load_as_an_eval_dataset(tmp_path):
    runner = pytest.importorskip("evals.runner")
    store = FeedbackStore(tmp_path / "feedback.jsonl")
    store.record(grounded_answer(), "down", reason="not helpful")
    store.export_eval_cases(tmp_path / "cases.jsonl")
    (item,) = runner.load_dataset(tmp_path / "cases.jsonl")
    assert item.question == "What are the 3 Ps?" and item.answerable is True


@pytest.mark.parametrize(("rating", "reason", "message"), [("down", None, "Say why"), ("down", "rude", "Say why"), ("meh", None, "rating"), ("up", "rude", "Unknown reason")])
def test_bad_feedback_is_refused(tmp_path, rating, reason, message):
    with pytest.raises(InvalidInput, match=message):
        FeedbackStore(tmp_path / "feedback.jsonl").record(grounded_answer(), rating, reason=reason)
    assert not (tmp_path / "feedback.jsonl").exists()


def test_reasons():
    assert REASONS == ("wrong citation", "not grounded", "not helpful", "other")


# -- CLI -----------------------------------------------------------------------------------------
def beacon_cli(tmp_path, *args, env=None, input=None):
    from assistant.cli.main import app

    return CliRunner().invoke(app, ["--data-dir", str(tmp_path), *args], env=env, input=input)


def test_cli_users_add_list_remove(tmp_path):
    added = beacon_cli(tmp_path, "users", "add", "tom", "--role", "trainer", "--password", "trainer-pass")
    assert added.exit_code == 0, added.output
    prompted = beacon_cli(tmp_path, "users", "add", "quinn", "--role", "qa", input="qa-password\nqa-password\n")
    assert prompted.exit_code == 0, prompted.output
    from_env = beacon_cli(tmp_path, "users", "add", "tina", env={"BEACON_USER_PASSWORD": "trainee-pass"})
    assert from_env.exit_code == 0, from_env.output

    listed = beacon_cli(tmp_path, "users", "list", "--json")
    assert json.loads(listed.stdout)["users"] == [{"name": "quinn", "role": "qa"}, {"name": "tina", "role": "trainee"}, {"name": "tom", "role": "trainer"}]
    assert "trainer-pass" not in (tmp_path / "users.toml").read_text()
    assert UserStore(tmp_path / "users.toml").verify("quinn", "qa-password").role == "qa"

    duplicate = beacon_cli(tmp_path, "users", "add", "tom", "--password", "another-pass")
    assert duplicate.exit_code == 2 and "--replace" in duplicate.output
    assert beacon_cli(tmp_path, "users", "remove", "tom").exit_code == 0
    assert beacon_cli(tmp_path, "users", "remove", "tom").exit_code == 4


def test_cli_feedback_export(tmp_path):
    FeedbackStore(tmp_path / "feedback.jsonl").record(grounded_answer(), "down", reason="other", comment="too vague")
    out = tmp_path / "cases.jsonl"
    result = beacon_cli(tmp_path, "feedback", "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "1 eval cases" in result.output
    assert json.loads(out.read_text())["feedback"]["comment"] == "too vague"
