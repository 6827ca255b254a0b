"""The `beacon` command line, in-process with typer's CliRunner against a real library in a
temp dir, plus one run of the installed console script."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import library_store
from typer.testing import CliRunner

from assistant import Settings, build_assistant
from assistant.cli.main import app

COMMANDS = ("ingest", "docs", "ask", "serve", "eval")
QUESTION = "How long is the reflection period for presumed victims?"


def beacon_cli(data_dir, *args, env=None):
    """Run `beacon --data-dir DATA_DIR ARGS...` in-process."""
    return CliRunner().invoke(app, ["--data-dir", str(data_dir), *args], env=env)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture()
def cli_library(data_dir, article_markdown):
    """(data dir, markdown path, its doc_id) after `beacon ingest` of the guidance note."""
    result = beacon_cli(data_dir, "ingest", str(article_markdown), "--json")
    assert result.exit_code == 0, result.output
    doc_id = json.loads(result.stdout)["documents"][0]["doc_id"]
    return data_dir, article_markdown, doc_id


def test_ingest_json_reports_each_document(data_dir, article_markdown):
    result = beacon_cli(data_dir, "ingest", str(article_markdown), "--json")

    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert list(payload) == ["documents"] and len(payload["documents"]) == 1
    doc = payload["documents"][0]
    assert set(doc) == {"source", "doc_id", "title", "status", "chunks", "error"}
    assert doc["source"] == str(article_markdown)
    assert doc["status"] == "added" and doc["error"] is None and doc["chunks"] >= 3
    assert doc["title"] == "Guidance on Victim Identification"
    assert doc["doc_id"] in {d.doc_id for d in build_assistant(Settings(data_dir=data_dir)).list_documents()}

    again = beacon_cli(data_dir, "ingest", str(article_markdown), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["documents"][0]["status"] == "unchanged"


def test_ingest_with_a_bad_file_exits_1_and_still_adds_the_good_one(data_dir, tmp_path, article_markdown):
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"this is not a pdf at all")

    result = beacon_cli(data_dir, "ingest", str(article_markdown), str(bad), "--json")

    assert result.exit_code == 1, result.output
    docs = {d["source"]: d for d in json.loads(result.stdout)["documents"]}
    assert docs[str(article_markdown)]["status"] == "added"
    assert docs[str(bad)]["status"] == "failed" and docs[str(bad)]["error"]
    assert [d.source for d in build_assistant(Settings(data_dir=data_dir)).list_documents()] == [str(article_markdown)]


def test_ingest_table_output_names_the_status(data_dir, article_markdown):
    result = beacon_cli(data_dir, "ingest", str(article_markdown))
    assert result.exit_code == 0, result.output
    assert "added" in result.stdout and "1 added" in flat(result.stdout)


def test_ingest_without_sources_is_a_usage_error(data_dir):
    result = beacon_cli(data_dir, "ingest")
    assert result.exit_code == 2
    assert "Nothing to ingest" in flat(result.stderr)


def test_docs_list_json(cli_library):
    data_dir, markdown, doc_id = cli_library
    result = beacon_cli(data_dir, "docs", "list", "--json")

    assert result.exit_code == 0, result.output
    documents = json.loads(result.stdout)["documents"]
    assert [d["doc_id"] for d in documents] == [doc_id]
    doc = documents[0]
    assert {"doc_id", "source", "title", "sha256", "format", "ingested_at", "chunks", "year", "doc_type", "symbol", "url"} <= set(doc)
    assert doc["source"] == str(markdown) and doc["format"] == "markdown" and doc["year"] == 2019 and doc["chunks"] >= 3


def test_docs_remove_deletes_the_document(cli_library):
    data_dir, _markdown, doc_id = cli_library
    result = beacon_cli(data_dir, "docs", "remove", doc_id)

    assert result.exit_code == 0, result.output
    assert doc_id in result.stdout
    assert json.loads(beacon_cli(data_dir, "docs", "list", "--json").stdout)["documents"] == []


def test_docs_remove_of_an_unknown_document_exits_4(cli_library):
    data_dir, _markdown, doc_id = cli_library
    result = beacon_cli(data_dir, "docs", "remove", "no-such-document-0123456789")

    assert result.exit_code == 4, result.output
    assert "docs list" in flat(result.stderr)
    assert [d["doc_id"] for d in json.loads(beacon_cli(data_dir, "docs", "list", "--json").stdout)["documents"]] == [doc_id]


def test_ask_json_is_the_python_answer(cli_library):
    data_dir, _markdown, _doc_id = cli_library
    result = beacon_cli(data_dir, "ask", QUESTION, "--json")

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    expected = build_assistant(Settings(data_dir=data_dir)).ask(QUESTION).model_dump()
    assert set(printed) == set(expected)
    assert printed["answer"] == expected["answer"]
    assert printed["refused"] is expected["refused"] is False
    assert [c["n"] for c in printed["citations"]] == [c["n"] for c in expected["citations"]]
    assert [c["locator"] for c in printed["citations"]] == [c["locator"] for c in expected["citations"]]
    assert "thirty days" in printed["answer"]


def test_ask_prints_the_answer_and_its_sources(cli_library):
    data_dir, _markdown, _doc_id = cli_library
    result = beacon_cli(data_dir, "ask", QUESTION)

    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert "thirty days" in out and "Sources" in out
    assert "[1] Guidance on Victim Identification, Article 5" in out


def test_invalid_setting_in_the_environment_exits_2_naming_it(cli_library):
    data_dir, _markdown, _doc_id = cli_library
    result = beacon_cli(data_dir, "ask", QUESTION, "--json", env={"BEACON_TOP_K": "abc"})

    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    message = flat(result.stderr)
    assert "BEACON_TOP_K" in message and "integer" in message


def test_empty_question_exits_2(cli_library):
    data_dir, _markdown, _doc_id = cli_library
    result = beacon_cli(data_dir, "ask", "   ")
    assert result.exit_code == 2
    assert "empty" in flat(result.stderr)


def test_ingest_while_another_writer_holds_the_lock_exits_3(cli_library, tmp_path):
    data_dir, _markdown, _doc_id = cli_library
    other = tmp_path / "other.txt"
    other.write_text("Labour inspectors report signs of forced labour to the police.\n", encoding="utf-8")
    with library_store(Settings(data_dir=data_dir)).write_lock():  # another writer
        result = beacon_cli(data_dir, "ingest", str(other), "--json")
    assert result.exit_code == 3, result.output
    assert "try again" in flat(result.stderr)


def test_ask_on_a_store_of_another_model_exits_3(store_of_another_model):
    result = beacon_cli(store_of_another_model, "ask", QUESTION)
    assert result.exit_code == 3, result.output
    assert "Re-index" in flat(result.stderr)


def test_ingest_into_a_store_of_another_model_exits_3(store_of_another_model, article_markdown):
    result = beacon_cli(store_of_another_model, "ingest", str(article_markdown), "--json")
    assert result.exit_code == 3, result.output
    assert "Re-index" in flat(result.stderr)


def test_help_lists_the_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert f" {command} " in result.stdout, f"`{command}` missing from --help"


def test_installed_console_script_runs(venv_bin, tmp_path):
    beacon = venv_bin / "beacon"
    assert beacon.is_file(), f"{beacon} is not installed; run `pip install -e .`"
    done = subprocess.run(
        [str(beacon), "--help"], capture_output=True, text=True, timeout=120, env={"PATH": str(venv_bin), "HOME": str(tmp_path), "COLUMNS": "100"}
    )
    assert done.returncode == 0, done.stderr
    for command in COMMANDS:
        assert f" {command} " in done.stdout, f"`{command}` missing from `beacon --help`"
