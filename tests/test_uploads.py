"""Uploads through the web UI keep distinct documents distinct and leave no stray files:
names in any script survive, names that had to change cannot collide, a failed upload is
removed (or the version it replaced put back), and deleting a document deletes its upload.
Handlers run against a real assistant on a real Chroma store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest

from assistant import Settings, build_assistant
from assistant.domain.errors import UnsupportedFormat
from assistant.records.uploads import Workspace, safe_file_name
from assistant.records.users import UserStore
from assistant.web.handlers import BeaconUI

REPORT = "# Отчёт о выявлении жертв\n\nLabour inspectors identified 42 presumed victims of forced labour in agriculture.\n"
BRIEFING = "# Доклад о профилактике\n\nPrevention campaigns reached 3,000 students in vocational schools.\n"


@pytest.fixture()
def trainer_ui(tmp_path):
    data = tmp_path / "data"
    beacon = build_assistant(Settings(data_dir=data))
    users = UserStore(data / "users.toml")
    users.add("tom", "tom-password", "trainer")
    return BeaconUI(beacon, users), beacon


def browser_upload(tmp_path: Path, name: str, text: str) -> str:
    """A file as Gradio hands it to a handler: its original name, in a folder of its own."""
    folder = tmp_path / "gradio" / str(len(list((tmp_path / "gradio").glob("*"))) if (tmp_path / "gradio").exists() else 0)
    folder.mkdir(parents=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def upload(handlers, files: list[str]):
    summary, status, table, *_ = handlers.ingest_files(files, "", gr.Request(username="tom"))
    return summary, status["data"], table["data"]


def test_uploads_named_in_another_script_stay_two_documents(trainer_ui, tmp_path):
    handlers, beacon = trainer_ui
    summary, _, _ = upload(handlers, [browser_upload(tmp_path, "отчет.md", REPORT)])
    assert summary == "1 added"
    summary, _, table = upload(handlers, [browser_upload(tmp_path, "доклад.md", BRIEFING)])
    assert summary == "1 added", "a second upload with another name is a new document, not an update"
    assert sorted(p.name for p in (beacon.settings.data_dir / "uploads").iterdir()) == ["доклад.md", "отчет.md"]
    assert len(beacon.list_documents()) == 2
    answers = " ".join(c["text"] for d in beacon.list_documents() for c in beacon.document_chunks(d.doc_id))
    assert "42 presumed victims" in answers and "3,000 students" in answers


def test_changed_names_never_collide():
    names = ["a<b>.md", "a>b<.md", "a_b_.md", "a?b*.md", "отчет.md", "доклад.md", "报告.md", "rapport été.md"]
    stored = [safe_file_name(n) for n in names]
    assert len(set(stored)) == len(names), stored
    assert stored[2] == "a_b_.md" and stored[4:] == ["отчет.md", "доклад.md", "报告.md", "rapport été.md"]
    # a name chosen to look like another's hashed form is hashed in turn
    assert safe_file_name(stored[0]) != stored[0]
    assert len(safe_file_name("é" * 300 + ".md").encode("utf-8")) <= 255


def test_same_name_upload_is_a_new_version(trainer_ui, tmp_path):
    handlers, beacon = trainer_ui
    upload(handlers, [browser_upload(tmp_path, "отчет.md", REPORT)])
    summary, _, _ = upload(handlers, [browser_upload(tmp_path, "отчет.md", REPORT + "\nA second inspection found 7 more.\n")])
    assert summary == "1 updated" and len(beacon.list_documents()) == 1
    assert not list((beacon.settings.data_dir / "uploads").glob(".*")), "no copy of the previous version is left"


def test_deleting_a_document_deletes_its_upload(trainer_ui, tmp_path):
    handlers, beacon = trainer_ui
    _, _, table = upload(handlers, [browser_upload(tmp_path, "отчет.md", REPORT)])
    stored = beacon.settings.data_dir / "uploads" / "отчет.md"
    assert stored.is_file()
    message, *_ = handlers.delete(table[0][-1], "", gr.Request(username="tom"))
    assert message.startswith("Removed")
    assert not stored.exists(), "the uploaded copy of a deleted document must go too"


def test_removing_a_document_from_the_cli_keeps_the_users_own_file(trainer_ui, tmp_path):
    _, beacon = trainer_ui
    own = Path(browser_upload(tmp_path, "guide.md", REPORT))
    [report] = beacon.ingest([str(own)])
    beacon.remove_document(report.doc_id)
    assert own.is_file(), "only Beacon's copies in uploads/ are deleted"


def test_a_failed_upload_leaves_nothing_and_a_failed_new_version_restores_the_old(trainer_ui, tmp_path):
    handlers, beacon = trainer_ui
    uploads = beacon.settings.data_dir / "uploads"
    summary, status, _ = upload(handlers, [browser_upload(tmp_path, "empty.md", "   \n")])
    assert summary == "1 failed" and not (uploads / "empty.md").exists()

    upload(handlers, [browser_upload(tmp_path, "отчет.md", REPORT)])
    summary, _, _ = upload(handlers, [browser_upload(tmp_path, "отчет.md", "\n")])
    assert summary == "1 failed"
    assert (uploads / "отчет.md").read_text(encoding="utf-8") == REPORT, "the stored version is the one in the library"
    assert not list(uploads.glob(".*"))


def test_files_of_other_types_are_not_stored(tmp_path):
    source = tmp_path / "tool.exe"
    source.write_bytes(b"MZ\x90\x00")
    with pytest.raises(UnsupportedFormat):
        Workspace(tmp_path / "data").save_upload("tool.exe", source)
    assert not (tmp_path / "data" / "uploads").exists()


def test_an_upload_left_unsettled_by_a_killed_server_is_settled_by_the_next_writer(trainer_ui, tmp_path):
    """A process killed between saving an upload and settling it: the next ingest keeps the
    version the library holds and removes the rest (here: an upload never ingested, and a
    new version that replaced a stored one but was never ingested)."""
    handlers, beacon = trainer_ui
    upload(handlers, [browser_upload(tmp_path, "report.md", REPORT)])
    uploads = beacon.settings.data_dir / "uploads"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    pid = int(dead.stdout)  # a process that has ended
    os.replace(uploads / "report.md", uploads / f".report.md.{pid}.previous")
    (uploads / "report.md").write_text(BRIEFING, encoding="utf-8")  # the new version, never ingested
    (uploads / f".orphan.md.{pid}.new").touch()
    (uploads / "orphan.md").write_text(BRIEFING, encoding="utf-8")

    beacon.ingest([])
    assert sorted(p.name for p in uploads.iterdir()) == ["report.md"]
    assert (uploads / "report.md").read_text(encoding="utf-8") == REPORT
