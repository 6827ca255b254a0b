"""The web UI without a browser: formatting escapes what it renders, every library and evals
handler refuses callers whose role does not allow it, uploads stay in their folder, and the
server refuses to bind beyond loopback without accounts. Handlers run against a real assistant."""

from __future__ import annotations

import fnmatch
import json
import time
import tomllib
from pathlib import Path

import gradio as gr
import pytest

import ui
from assistant import Settings, build_assistant
from assistant.domain.errors import ConfigError, InvalidInput
from assistant.domain.models import Answer, AnswerSentence, Citation, DocumentSummary, Retrieved
from assistant.records.feedback import FeedbackStore
from assistant.records.uploads import Workspace, checked_url, safe_file_name
from assistant.records.users import CAPABILITIES, UserStore
from assistant.web import asset, presenters
from assistant.web.access import denial, required_roles
from assistant.web.guard import check_bind_address
from assistant.web.handlers import BeaconUI

XSS = '<img src=x onerror="window.__xss=1"><script>alert(1)</script>'
GUIDE = f"""# Recruitment screening guide

Labour inspectors should check that recruitment agencies never charge workers recruitment fees.
Employers must let workers keep their own identity documents and passports. {XSS}
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    docs = tmp_path_factory.mktemp("docs")
    (docs / "screening-guide.md").write_text(GUIDE, encoding="utf-8")
    beacon = build_assistant(Settings(data_dir=data))
    assert [r.status for r in beacon.ingest([str(docs / "screening-guide.md")])] == ["added"]
    users = UserStore(data / "users.toml")
    for name, role in [("tina", "trainee"), ("tom", "trainer"), ("quinn", "qa"), ("ada", "admin")]:
        users.add(name, f"{name}-password", role)
    return beacon, users


@pytest.fixture(scope="module")
def handlers(library):
    beacon, users = library
    return BeaconUI(beacon, users)


def request(name: str | None) -> gr.Request:
    return gr.Request(username=name)


def last(generator):
    *_, final = generator
    return final


def xss_answer() -> Answer:
    text = f"Workers keep their passports {XSS}."
    return Answer(
        question="passports?",
        answer=text + " [1]",
        refused=False,
        citations=[Citation(n=1, doc_id="d1", title=f"Guide {XSS}", source="/srv/library/guide.md", locator=f"Section {XSS}", text=f"Intro. {text} More.", score=0.9, url="javascript:alert(1)")],
        sentences=[AnswerSentence(text=text, citations=[1], supported=True, support_score=1.0)],
    )


# -- formatting ----------------------------------------------------------------------------------
def test_format_functions_escape_html():
    answer = xss_answer()
    for rendered in (presenters.format_answer(answer, 0), presenters.format_sources(answer, 0), presenters.escape_text(XSS)):
        assert "<img" not in rendered and "<script" not in rendered
        assert "&lt;img" in rendered
    sources = presenters.format_sources(answer, 0)
    assert 'id="src-0-1"' in sources and "<mark>" in sources
    assert 'href="javascript' not in sources, "only http(s) links become anchors"
    assert "/srv/library" not in sources, "local files are shown by name, not by server path"
    assert '<a class="cite" href="#src-0-1"' in presenters.format_answer(answer, 0)


def test_markdown_links_in_documents_stay_inert():
    assert presenters.escape_text("[click](javascript:alert(1))") == "\\[click\\](javascript:alert(1))"


def test_refusal_looks_like_a_refusal_and_lists_the_closest_documents():
    refusal = Answer(
        question="bread?", answer="I can't answer this from the library.", refused=True, refusal_reason=f"Nothing close {XSS}.",
        retrieved=[Retrieved(doc_id="d1", source="/x/guide.md", locator="", score=0.1, title=f"Guide {XSS}")],
    )
    bubble, panel = presenters.format_answer(refusal, 3), presenters.format_sources(refusal, 3)
    assert "beacon-refusal" in bubble and "Not answered" in bubble and "<img" not in bubble
    assert "Closest documents" in panel and "Guide &lt;img" in panel


def test_copy_text_has_the_numbered_sources():
    text = presenters.format_copy_text(xss_answer())
    assert text.endswith(f"[1] Guide {XSS} — Section {XSS} — javascript:alert(1)")
    assert "\n\nSources:\n" in text


def test_chunk_preview_and_tables_escape():
    doc = DocumentSummary(doc_id="d1", source="/a/b.md", title=f"T {XSS}", sha256="0", format="markdown", chunks=1)
    preview = presenters.format_chunks(doc, [{"position": 0, "text": XSS, "locator": XSS}])
    assert "<img" not in preview and "<script" not in preview
    assert presenters.format_documents([doc])[0][presenters.DOC_HEADERS.index("source")] == "b.md"


def test_eval_metric_table_has_a_column_per_system():
    report = {"systems": {"beacon": {"recall@k": 0.9, "latency_p50_ms": 12.34, "x": None}, "bm25": {"recall@k": 0.5}}, "metric_definitions": {"recall@k": "Share…"}}
    table = presenters.eval_metric_table(report)
    assert table["headers"] == ["metric", "beacon", "bm25"]
    assert table["data"][0] == ["recall@k", "0.900", "0.500"]
    assert table["data"][1] == ["latency_p50_ms", "12.3", "n/a"]
    assert "<code>recall@k</code>: Share…" in presenters.format_metric_definitions(report)


# -- roles ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "allowed"),
    [
        (lambda h, r: h.library_view("", r), {"tom", "ada"}),
        (lambda h, r: h.ingest_files([], "", r), {"tom", "ada"}),
        (lambda h, r: h.add_url("file:///etc/passwd", "", r), {"tom", "ada"}),
        (lambda h, r: h.preview(None, r), {"tom", "ada"}),
        (lambda h, r: h.ask_delete(None, r), {"tom", "ada"}),
        (lambda h, r: h.delete(None, "", r), {"tom", "ada"}),
        (lambda h, r: h.reingest(None, "", r), {"tom", "ada"}),
        (lambda h, r: h.trust(None, "", r), {"tom", "ada"}),
        (lambda h, r: h.untrust(None, "", r), {"tom", "ada"}),
        (lambda h, r: h.select_row(gr.SelectData(None, {"index": [0, 0], "value": "", "row_value": ["x"]}), r), {"tom", "ada"}),
        (lambda h, r: h.version_fields(None, r), {"tom", "ada"}),
        (lambda h, r: h.set_versions(None, "superseded", "", "", "", "", "", r), {"tom", "ada"}),
        (lambda h, r: h.collections(r), {"tina", "tom", "quinn", "ada"}),
        (lambda h, r: h.eval_datasets(r), {"quinn", "ada"}),
        (lambda h, r: h.upload_dataset(None, r), {"quinn", "ada"}),
        (lambda h, r: h.run_evals(None, None, False, r), {"quinn", "ada"}),
    ],
)
def test_handlers_check_the_role_on_the_server(handlers, call, allowed):
    for name in ("tina", "tom", "quinn", "ada", "mallory", None):
        if name in allowed:
            try:
                call(handlers, request(name))
            except gr.Error as exc:
                assert "Not allowed" not in str(exc), f"{name} should be allowed"
        else:
            with pytest.raises(gr.Error, match="Not allowed"):
                call(handlers, request(name))


def test_removed_user_loses_access_at_once(library, handlers):
    beacon, users = library
    users.add("temp", "temp-password", "trainer")
    handlers.library_view("", request("temp"))
    users.remove("temp")
    with pytest.raises(gr.Error, match="Not allowed"):
        handlers.library_view("", request("temp"))


def test_load_shows_tabs_by_role(handlers):
    def visible(name):
        _, logout, library_tab, evals_tab = handlers.on_load(request(name))
        return logout["visible"], library_tab["visible"], evals_tab["visible"]

    assert visible("tina") == (True, False, False)
    assert visible("tom") == (True, True, False)
    assert visible("quinn") == (True, False, True)
    assert visible("ada") == (True, True, True)


def test_a_refused_handler_says_who_may_use_it(handlers):
    """The same toast as when the roles were spelled out by hand in ui.py."""
    cases = [
        (lambda r: handlers.library_view("", r), "tina", "Not allowed: the library needs the role trainer or admin; you are signed in as tina (trainee)."),
        (lambda r: handlers.delete("d1", "", r), None, "Not allowed: the library needs the role trainer or admin; sign in first."),
        (lambda r: handlers.run_evals(None, None, False, r), "tom", "Not allowed: evaluations needs the role qa or admin; you are signed in as tom (trainer)."),
        (lambda r: last(handlers.ask("Who keeps the passports?", [], r)), "mallory", "Not allowed: the chat needs the role any signed-in user; you are signed in as mallory (no role)."),
        (lambda r: handlers.submit_feedback(0, "not helpful", "", [], r), None, "Not allowed: feedback needs the role any signed-in user; sign in first."),
    ]
    for call, name, message in cases:
        with pytest.raises(gr.Error) as refused:
            call(request(name))
        assert (refused.value.message, refused.value.title) == (message, "Access denied")


def test_who_may_do_what_is_read_from_the_one_capability_table(handlers, monkeypatch):
    assert [required_roles(c) for c in ("chat", "feedback", "library", "evals", "upload")] == [
        "any signed-in user", "any signed-in user", "trainer or admin", "qa or admin", "trainer, qa or admin",
    ]
    assert required_roles("reports", {**CAPABILITIES, "reports": frozenset({"qa"})}) == "qa"
    assert "needs the role admin;" in denial("reports", "tom", "trainer", {**CAPABILITIES, "reports": frozenset({"admin"})})
    # A change of policy in assistant.records.users changes both what is enforced and what is said.
    monkeypatch.setitem(CAPABILITIES, "library", frozenset({"trainer", "qa", "admin"}))
    handlers.library_view("", request("quinn"))
    with pytest.raises(gr.Error, match="the library needs the role trainer, qa or admin; you are signed in as tina"):
        handlers.library_view("", request("tina"))


def test_every_handler_but_the_page_load_is_guarded_by_a_role():
    events = [name for name in vars(BeaconUI) if not name.startswith("_") and callable(getattr(BeaconUI, name))]
    unguarded = [name for name in events if not hasattr(getattr(BeaconUI, name), "capability")]
    assert unguarded == ["on_load"] and len(events) > 15


def test_ui_module_only_lays_out_and_wires():
    assert len(Path(ui.__file__).read_text(encoding="utf-8").splitlines()) <= 350
    assert ".beacon-refusal" in asset("beacon.css") and "#source-request" in asset("beacon.js") and "clipboard" in asset("copy.js")
    setuptools = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    found = setuptools["packages"]["find"]["include"]
    assert any(fnmatch.fnmatch("assistant.web", pattern) for pattern in found), "assistant.web must be packaged"
    assert setuptools["package-data"]["assistant.web"] == ["static/*"], "an installed wheel needs the CSS and JS"


def test_without_accounts_the_local_user_is_admin(library):
    beacon, _ = library
    local = BeaconUI(beacon, users=None)
    assert local.access.identify(None) == ("local", "admin")
    table, _, caption, *_form = local.library_view("", None)
    assert "1 of 1 documents" in caption and table["data"][0][-1].startswith("screening-guide-")


# -- chat and feedback ---------------------------------------------------------------------------
def test_ask_answers_with_sources_and_copy_text(handlers):
    question, chat, turns, sources, copy_text, _ = last(handlers.ask("Do recruitment agencies charge workers fees?", [], request("tina")))
    assert question == "" and len(turns) == 1 and not turns[0]["answer"].refused
    assert 'href="#src-0-1"' in chat[-1]["content"]
    assert 'id="src-0-1"' in sources and "Recruitment screening guide" in sources
    assert "<img" not in chat[-1]["content"] + sources
    assert "Sources:\n[1] Recruitment screening guide" in copy_text
    # an earlier answer's sources can be shown again
    _, _, turns, _, _, _ = last(handlers.ask("How do I bake sourdough bread?", turns, request("tina")))
    assert turns[1]["answer"].refused
    assert 'id="src-0-1"' in handlers.show_sources("0:123", turns, request("tina"))


def test_feedback_from_the_chat_is_stored(library, handlers, tmp_path):
    beacon, users = library
    store = FeedbackStore(tmp_path / "feedback.jsonl")
    h = BeaconUI(beacon, users, feedback=store)
    _, _, turns, _, _, _ = last(h.ask("Who keeps the passports?", [], request("tina")))
    h.on_like(turns, gr.LikeData(None, {"index": 1, "value": "", "liked": True}), request("tina"))
    turn, form, _ = h.on_like(turns, gr.LikeData(None, {"index": 1, "value": "", "liked": False}), request("tina"))
    assert turn == 0 and form["visible"] is True
    with pytest.raises(gr.Error, match="Say why"):
        h.submit_feedback(turn, None, "", turns, request("tina"))
    h.submit_feedback(turn, "not helpful", "too short", turns, request("tina"))
    assert [(e.rating, e.reason, e.user) for e in store.entries()] == [("up", None, "tina"), ("down", "not helpful", "tina")]


# -- library -------------------------------------------------------------------------------------
def test_upload_names_cannot_escape_the_upload_folder(tmp_path):
    assert safe_file_name("C:\\Users\\me\\guide <v2>.md").startswith("guide _v2_-")  # changed names get a hash of the original
    assert safe_file_name("a/b/report.pdf") == "report.pdf"
    for bad in ("../../etc/passwd", "..\\x.md", "..", "", "/"):
        with pytest.raises(InvalidInput):
            safe_file_name(bad)
    source = tmp_path / "in.md"
    source.write_text("x")
    saved = Workspace(tmp_path / "data").save_upload("nested/dir/in.md", source)
    assert saved.path == tmp_path / "data" / "uploads" / "in.md"


def test_url_box_accepts_only_http_urls():
    assert checked_url(" https://www.osce.org/x ") == "https://www.osce.org/x"
    for bad in ("/etc/passwd", "file:///etc/passwd", "users.toml", "ftp://x/y", "https://"):
        with pytest.raises(InvalidInput):
            checked_url(bad)


def test_trainer_uploads_previews_and_deletes(library, handlers, tmp_path):
    beacon, _ = library
    upload = tmp_path / "hotline.md"
    upload.write_text("# Hotline\n\nThe Ruritania anti-trafficking hotline number is 0800 555 0199.\n", encoding="utf-8")
    summary, status, table, dropdown, *_, cleared = handlers.ingest_files([str(upload)], "", request("tom"))
    assert summary == "1 added" and status["data"][0][:3] == ["added", "Hotline", 1] and cleared is None
    saved = beacon.settings.data_dir / "uploads" / "hotline.md"
    assert saved.is_file()
    # The multilingual index follows an upload in the background, not at the next non-English question.
    deadline = time.monotonic() + 60
    while not beacon.multilingual_ready() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert beacon.multilingual_ready()
    doc_id = next(row[-1] for row in table["data"] if row[0] == "Hotline")
    assert next(row for row in table["data"] if row[0] == "Hotline")[presenters.DOC_HEADERS.index("review")] == "1 flagged"
    preview, _ = handlers.preview(doc_id, request("tom"))
    assert "0800 555 0199" in preview and "⚑ contact-number: gives the reader a phone number" in preview
    assert "never quoted in answers unless you trust this document" in preview
    # An untrusted number is never quoted; the trainer vouches for the card, then it is.
    assert "0800 555 0199" not in beacon.ask("What is the Ruritania hotline number?", min_confidence=0).answer
    message, table, *_, preview = handlers.trust(doc_id, "", request("tom"))
    assert message.startswith("Trusted") and "quoted in answers: you trust this document" in preview
    assert next(row for row in table["data"] if row[-1] == doc_id)[presenters.DOC_HEADERS.index("review")] == "1 flagged · trusted"
    assert "0800 555 0199" in beacon.ask("What is the Ruritania hotline number?").answer
    entry = beacon.audit_log.entries()[-1]
    assert (entry["actor"], entry["action"], entry["doc_id"]) == ("tom", "trusted", doc_id)
    summary, status, *_ = handlers.reingest(doc_id, "", request("tom"))
    assert status["data"][0][0] == "unchanged"
    message, table, *_ = handlers.delete(doc_id, "", request("tom"))
    assert message.startswith("Removed") and all(row[-1] != doc_id for row in table["data"])


def test_trainer_sets_dates_and_collections_and_a_trainee_picks_a_collection(library, handlers):
    """The Library tab's form goes through the same validation and journal as `beacon docs set`;
    the chat's picker lists the collections and limits the answer to the one picked."""
    beacon, _ = library
    (doc,) = [d for d in beacon.list_documents() if d.title == "Recruitment screening guide"]
    assert handlers.version_fields(doc.doc_id, request("tom")) == ("in_force", "", "", "", "")
    with pytest.raises(gr.Error, match="valid_from must be a date"):
        handlers.set_versions(doc.doc_id, "superseded", "", "", "last spring", "Module 3", "", request("tom"))
    with pytest.raises(gr.Error, match="status must be one of in_force, superseded, historical"):
        handlers.set_versions(doc.doc_id, "obsolete", "", "", "", "", "", request("tom"))
    assert beacon.document(doc.doc_id).status == "in_force" and beacon.document(doc.doc_id).collections == [], "a rejected form stores nothing"
    assert handlers.collections(request("tina"))["choices"] == [(presenters.WHOLE_LIBRARY, "")]

    message, table, *_ = handlers.set_versions(doc.doc_id, "superseded", "", "", "2016-05", "Module 3, Labour", "", request("tom"))
    assert message == f"Saved dates and collections of {doc.doc_id}: superseded · from 2016-05 · Module 3, Labour."
    assert next(row for row in table["data"] if row[-1] == doc.doc_id)[presenters.DOC_HEADERS.index("status")] == "superseded · from 2016-05 · Module 3, Labour"
    assert handlers.version_fields(doc.doc_id, request("tom")) == ("superseded", "", "", "2016-05", "Module 3, Labour")
    entry = beacon.audit_log.entries()[-1]
    assert (entry["actor"], entry["action"], entry["doc_id"]) == ("tom", "updated metadata", doc.doc_id)

    picker = handlers.collections(request("tina"), selected="Labour")
    assert picker["choices"] == [(presenters.WHOLE_LIBRARY, ""), ("Labour (1 documents)", "Labour"), ("Module 3 (1 documents)", "Module 3")]
    assert picker["value"] == "Labour"
    _, chat, turns, sources, _, _ = last(handlers.ask("Do recruitment agencies charge workers fees?", [], request("tina"), "Module 3"))
    answer = turns[0]["answer"]
    assert not answer.refused and {c.doc_id for c in answer.citations} == {doc.doc_id}
    assert "Note on dates:" in chat[-1]["content"] and "marked superseded in the library" in chat[-1]["content"]
    assert "dated 2016-05 · superseded" in sources
    _, _, turns, _, _, _ = last(handlers.ask("Do recruitment agencies charge workers fees?", [], request("tina"), "Nope"))
    assert turns[0]["answer"] is None and "No collection 'Nope'" in turns[0]["error"]
    handlers.set_versions(doc.doc_id, "in_force", "", "", "", "", "", request("tom"))
    assert beacon.document(doc.doc_id).status == "in_force" and beacon.collections() == {}


def test_the_dates_form_comes_with_its_selection_and_empties_when_the_selection_goes(library, handlers):
    """A row click returns the document and its form in one response, and a view that drops the
    selection empties the form in the same response: no later event can overwrite what a trainer
    types (loading the form on every dropdown change did, in the browser test)."""
    beacon, _ = library
    (doc,) = [d for d in beacon.list_documents() if d.title == "Recruitment screening guide"]
    clicked = handlers.select_row(gr.SelectData(None, {"index": [0, 0], "value": "", "row_value": [doc.doc_id]}), request("tom"))
    assert clicked == (doc.doc_id, "in_force", "", "", "", "")
    *_, dropdown, _, status, supersedes, amends, valid_from, collections = handlers.library_view("no such title", request("tom"))
    assert dropdown["value"] is None and (status, supersedes, amends, valid_from, collections) == (None, "", "", "", "")
    message, _, dropdown, _, *form = handlers.trust(doc.doc_id, "", request("tom"))[:9]
    assert dropdown["value"] == doc.doc_id and all(isinstance(f, type(gr.skip())) for f in form), "a kept selection keeps the form as typed"
    handlers.untrust(doc.doc_id, "", request("tom"))


def test_url_box_cannot_ingest_server_files(handlers):
    with pytest.raises(gr.Error, match="http"):
        handlers.add_url(str(Path(__file__)), "", request("tom"))


# -- evals ---------------------------------------------------------------------------------------
def test_qa_runs_an_uploaded_dataset(library, handlers, tmp_path):
    pytest.importorskip("evals.runner")
    dataset = tmp_path / "mini.jsonl"
    cases = [
        {"id": "fees", "question": "Do recruitment agencies charge workers fees?", "expected_sources": [], "expected_answer_contains": ["fees"], "answerable": True},
        {"id": "bread", "question": "How do I bake sourdough bread?", "answerable": False},
    ]
    dataset.write_text("".join(json.dumps(c) + "\n" for c in cases))
    choices = handlers.upload_dataset(str(dataset), request("quinn"))
    assert choices["value"].endswith("eval-datasets/mini.jsonl")
    with pytest.raises(gr.Error, match="Choose one of the listed datasets"):
        handlers.run_evals("/etc/passwd", None, False, request("quinn"))
    summary, table, definitions, plots, report = handlers.run_evals(choices["value"], None, False, request("quinn"))
    assert "questions: 2" in summary
    assert table["headers"] == ["metric", "beacon"] and table["data"] and "recall@k" in definitions
    assert plots and all(Path(p).is_file() for p, _ in plots)
    assert report and Path(report).name == "report.html"


# -- serving -------------------------------------------------------------------------------------
def test_refuses_to_bind_beyond_loopback_without_accounts(tmp_path):
    beacon = build_assistant(Settings(data_dir=tmp_path))  # nothing loads: the check comes first
    with pytest.raises(ConfigError, match="beacon users add"):
        ui.launch(beacon, host="0.0.0.0", port=7999, block=False)
    check_bind_address("127.0.0.1", None)
    check_bind_address("::1", None)
    check_bind_address("0.0.0.0", UserStore(tmp_path / "users.toml"))
