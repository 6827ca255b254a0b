"""The web UI in a real browser: headless Debian Chromium driven by Playwright against the real
app (real assistant, real users file) served on 127.0.0.1.

Covers what only a browser shows: citations that jump to their source, a trainer's upload
becoming answerable, a trainee who neither sees nor can call the library, and document HTML
that stays text. Screenshots of each screen land in docs/screenshots/.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium).", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Browser tests need the playwright package (pip install -e '.[test]').")
from conftest import unused_port  # noqa: E402
from test_viewer import QUESTION as PDF_QUESTION  # noqa: E402
from test_viewer import QUOTE as PDF_QUOTE  # noqa: E402
from test_viewer import write_pdf  # noqa: E402

import ui  # noqa: E402
from assistant import Settings, build_assistant  # noqa: E402
from assistant.records.feedback import FeedbackStore, feedback_file  # noqa: E402
from assistant.records.users import UserStore, users_file  # noqa: E402

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"
SHARED = Path(__file__).resolve().parents[2] / "shared"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
USERS = {"tina": "trainee", "tom": "trainer", "quinn": "qa"}
XSS = '<img src=x onerror="window.__xss=1">'

INDICATORS = """# Indicators of trafficking for forced labour

## Recruitment

Deceptive recruitment is a key indicator of trafficking: workers are promised one job and given another, or different pay and conditions.
Recruitment agencies should never charge workers recruitment fees, because the resulting debts are used by traffickers to control workers.

## Working and living conditions

Withholding identity documents such as passports is a strong indicator of forced labour.
Employers must let workers keep their own identity documents at all times.
Other indicators include excessive working hours, isolation from the community, and threats against the worker's family.

## What frontline staff should do

Frontline staff who notice several indicators should not confront the employer.
They should record what they observed and contact the national referral mechanism or a specialised support organisation.
"""
FIRST_CONTACT = """# First contact with a presumed victim of trafficking

## Safety first

The first priority in any contact with a presumed victim is the safety of the person and of the staff involved.
Interviews should take place in a private space, away from the suspected trafficker.

## Referral

A presumed victim should be referred to the national referral mechanism, which gives access to shelter, medical care and legal advice.
A recovery and reflection period of at least 30 days allows the person to decide whether to cooperate with the authorities.
"""
HOSTILE = f"""# Shelter checklist {XSS}

## Intake

The shelter intake checklist requires a signed consent form {XSS} before any photograph of a resident is taken.
"""
HOTLINE = """# Ruritania hotline card

## Contacts

The Ruritania anti-trafficking hotline number is 0800 555 0199 and it is staffed day and night.
"""
EVAL_CASES = [
    {"id": "passports", "question": "Can employers keep workers passports?", "expected_sources": ["forced-labour-indicators.md"], "expected_answer_contains": ["identity documents"], "answerable": True},
    {"id": "reflection", "question": "How long is the recovery and reflection period?", "expected_sources": ["first-contact.md"], "expected_answer_contains": ["30 days"], "answerable": True},
    {"id": "bread", "question": "How do I bake sourdough bread?", "answerable": False},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real app with a small library and three accounts, on a free loopback port."""
    data, docs = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("docs")
    for name, text in [("forced-labour-indicators.md", INDICATORS), ("first-contact.md", FIRST_CONTACT), ("shelter-checklist.md", HOSTILE)]:
        (docs / name).write_text(text, encoding="utf-8")
    write_pdf(docs / "fishing-inspections.pdf")
    beacon = build_assistant(Settings(data_dir=data))
    inputs = [str(docs)] + [str(p) for p in (SHARED / "seeds",) if p.is_dir()]
    assert all(r.status == "added" for r in beacon.ingest(inputs))
    users = UserStore(users_file(beacon.settings))
    for name, role in USERS.items():
        users.add(name, f"{name}-password", role)
    port = unused_port()
    app = ui.launch(beacon, "127.0.0.1", port, block=False)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}", beacon=beacon, data=data, docs=docs)
    app.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(server.url)
    return page


def sign_in(page, name: str, password: str | None = None) -> None:
    page.fill("input[data-testid=textbox]", name)
    page.fill("input[data-testid=password]", password or f"{name}-password")
    page.get_by_role("button", name="Login").click()


def login(browser, server, name: str):
    page = open_page(browser, server)
    sign_in(page, name)
    page.wait_for_selector("#question textarea")
    page.wait_for_function("(name) => document.querySelector('#who').innerText.includes(name)", arg=name)
    return page


def tab_names(page) -> list[str]:
    page.wait_for_timeout(300)  # the role-based visibility arrives with the load event
    return [t.strip() for t in page.locator("button[role=tab]").all_inner_texts() if t.strip()]


def ask(page, question: str, answers: int) -> None:
    """Ask and wait until the `answers`-th answer (not the placeholder) is shown."""
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_function(
        "(n) => document.querySelectorAll('#chat [data-testid=bot]').length >= n && !document.querySelector('#chat em.beacon-muted')",
        arg=answers,
    )


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def call_api(page, server, endpoint: str, data: list) -> str:
    """Call a Gradio endpoint with the page's session cookie; return the event stream text."""
    started = page.request.post(f"{server.url}/gradio_api/call/{endpoint}", data={"data": data})
    assert started.ok, started.text()
    return page.request.get(f"{server.url}/gradio_api/call/{endpoint}/{started.json()['event_id']}").text()


def test_trainee_signs_in_sees_only_chat_and_cannot_call_the_library(browser, server):
    page = open_page(browser, server)
    page.wait_for_selector("input[data-testid=password]")
    page.screenshot(path=SCREENSHOTS / "login.png")
    sign_in(page, "tina", "not-her-password")
    page.wait_for_timeout(1500)
    assert page.locator("#question").count() == 0, "a wrong password must not get in"

    page = login(browser, server, "tina")
    assert "tina (trainee)" in page.inner_text("#who")
    assert tab_names(page) == ["Chat"]
    assert page.locator("#upload, #documents, #run-eval").count() == 0

    documents = server.beacon.list_documents()
    listing = call_api(page, server, "library_documents", [""])
    assert "event: error" in listing and "Not allowed" in listing
    assert documents[0].doc_id not in listing and documents[0].title not in listing
    adding = call_api(page, server, "add_url", ["https://example.org/guide.html", ""])
    assert "event: error" in adding and "Not allowed" in adding
    assert len(server.beacon.list_documents()) == len(documents), "the rejected call ingested nothing"
    evaluation = call_api(page, server, "run_eval", [None, None, False])
    assert "Not allowed" in evaluation

    page.click("#logout")
    page.wait_for_selector("input[data-testid=password]")

    anonymous = browser.new_context().request.post(f"{server.url}/gradio_api/call/library_documents", data={"data": [""]})
    assert anonymous.status in (401, 403)
    page.context.close()


def test_answer_citations_open_their_source_and_feedback_is_stored(browser, server):
    question = "How should frontline staff handle a presumed victim of trafficking?"
    expected = server.beacon.ask(question)
    assert len(expected.citations) >= 2
    page = login(browser, server, "tina")
    ask(page, question, 1)
    marker = page.locator('#chat a.cite[href="#src-0-1"]').first
    assert marker.inner_text() == "[1]"
    assert page.locator("#chat a.cite").count() == sum(len(s.citations) for s in expected.sentences)
    page.screenshot(path=SCREENSHOTS / "chat.png")

    marker.click()
    source = page.locator("#src-0-1")
    page.wait_for_function("() => document.querySelector('#src-0-1').classList.contains('beacon-flash')")
    first = expected.citations[0]
    assert first.title in source.inner_text() and first.locator in source.inner_text()
    quoted = next(s.text for s in expected.sentences if 1 in s.citations)
    assert " ".join(source.locator("mark").first.inner_text().split()) == quoted
    page.screenshot(path=SCREENSHOTS / "sources.png")

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page.click("#copy-answer")
    page.wait_for_function("async () => (await navigator.clipboard.readText()).includes('Sources:')")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(expected.answer.strip()) and f"Sources:\n[1] {first.title} — {first.locator}" in copied

    ask(page, "How do I bake sourdough bread?", 2)
    refusal = page.locator("#chat .beacon-refusal").last
    assert "Not answered" in refusal.inner_text()
    assert "Closest documents" in page.inner_text("#sources")
    page.screenshot(path=SCREENSHOTS / "refusal.png")

    # an earlier answer's marker brings its sources back into the panel
    page.locator('#chat a.cite[href="#src-0-1"]').first.click()
    page.wait_for_function("() => document.querySelector('#src-0-1') && document.querySelector('#src-0-1').classList.contains('beacon-flash')")

    page.locator("#chat button[aria-label=Dislike]").last.click()
    page.wait_for_selector("#feedback-form", state="visible")
    page.get_by_label("not helpful").check()
    page.fill("#feedback-comment textarea", "I expected baking to be out of scope, but say so sooner.")
    page.click("#send-feedback")
    page.wait_for_function("() => document.querySelector('#feedback-status').innerText.includes('recorded')")
    (entry,) = FeedbackStore(feedback_file(server.beacon.settings)).entries()
    assert (entry.rating, entry.reason, entry.user, entry.refused) == ("down", "not helpful", "tina", True)

    page.click("#new-conversation")
    page.wait_for_function("() => document.querySelectorAll('#chat [data-testid=bot]').length === 0")
    page.context.close()


def test_a_citation_opens_the_viewer_at_the_highlighted_passage(browser, server):
    """[n] opens the cited place: the Markdown text with the quote marked, the PDF page with
    its lines highlighted (previous/next page); a trainee gets no download of the original."""
    page = login(browser, server, "tina")
    question = "Can employers keep workers passports?"
    expected = server.beacon.ask(question)
    n = next(c.n for c in expected.citations if c.source.endswith("forced-labour-indicators.md"))
    quote = next(s.quote for s in expected.sentences if n in s.citations)
    ask(page, question, 1)
    page.locator(f'#chat a.cite[href="#src-0-{n}"]').first.click()
    page.wait_for_selector("#viewer mark.beacon-viewer-target")
    assert " ".join(page.inner_text("#viewer mark.beacon-viewer-target").split()) == " ".join(quote.split())
    assert page.locator("#viewer-next").is_hidden() and page.locator("#viewer-download").is_hidden()
    page.screenshot(path=SCREENSHOTS / "viewer-text.png")

    expected = server.beacon.ask(PDF_QUESTION)
    n = next(c.n for c in expected.citations if c.source.endswith("fishing-inspections.pdf"))
    assert any(n in s.citations and s.quote == PDF_QUOTE for s in expected.sentences)
    ask(page, PDF_QUESTION, 2)
    page.locator(f'#chat a.cite[href="#src-1-{n}"]').first.click()
    page.wait_for_function("() => (document.querySelector('#viewer') || {innerText: ''}).innerText.includes('page 2 of 3')")
    page.wait_for_function("() => { const img = document.querySelector('#viewer .beacon-page img'); return img && img.complete && img.naturalWidth > 500; }")
    assert page.locator("#viewer .beacon-viewer-target").count() == 1, "the page carries the highlight's scroll anchor"
    page.screenshot(path=SCREENSHOTS / "viewer-pdf.png")
    page.click("#viewer-next")
    page.wait_for_function("() => document.querySelector('#viewer').innerText.includes('page 3 of 3')")
    assert page.locator("#viewer-download").is_hidden()
    page.click("#viewer-pick input")  # the selector of the latest answer's citations opens it again at its page
    page.get_by_role("option", name=f"[{n}] Inspecting fishing vessels").click()
    page.wait_for_function("() => document.querySelector('#viewer').innerText.includes('page 2 of 3')")
    page.context.close()


def test_trainer_uploads_a_document_that_becomes_answerable(browser, server, tmp_path):
    page = login(browser, server, "tom")
    assert tab_names(page) == ["Chat", "Library"]
    card = tmp_path / "ruritania-hotline.md"
    card.write_text(HOTLINE, encoding="utf-8")

    open_tab(page, "Library")
    page.wait_for_function("() => document.querySelector('#doc-caption').innerText.includes('documents')")
    page.set_input_files("#upload input[type=file]", str(card))
    page.wait_for_selector("#upload :text('ruritania-hotline.md')")
    page.click("#ingest-files")
    page.wait_for_function("() => document.querySelector('#ingest-summary').innerText.includes('1 added')")
    assert "Ruritania hotline card" in page.inner_text("#ingest-status")
    assert (server.data / "uploads" / "ruritania-hotline.md").is_file()

    page.locator("#documents").get_by_text("Ruritania hotline card").locator("visible=true").first.click()
    page.wait_for_function("() => document.querySelector('#chunk-preview').innerText.includes('0800 555 0199')")
    assert "contact-number" in page.inner_text("#chunk-preview"), "a phone number is flagged for review"
    page.wait_for_function("() => document.querySelector('#library-viewer').innerText.includes('0800 555 0199')")
    with page.expect_download() as download:
        page.click("#library-viewer-download")
    assert download.value.suggested_filename.endswith(".md") and Path(download.value.path()).read_text(encoding="utf-8") == HOTLINE
    page.click("#trust")  # the trainer vouches for the number: only trusted documents' numbers are quoted
    page.wait_for_function("() => document.querySelector('#action-status').innerText.startsWith('Trusted')")
    assert "1 flagged · trusted" in page.inner_text("#documents")
    page.screenshot(path=SCREENSHOTS / "library.png", full_page=True)
    page.fill("#doc-search input, #doc-search textarea", "hotline")
    page.wait_for_function("() => document.querySelector('#doc-caption').innerText.startsWith('1 of')")

    open_tab(page, "Chat")
    ask(page, "What is the anti-trafficking hotline number in Ruritania?", 1)
    assert "0800 555 0199" in page.locator("#chat [data-testid=bot]").last.inner_text()
    assert "Ruritania hotline card" in page.inner_text("#sources")
    page.context.close()


def test_html_in_documents_is_shown_as_text_and_never_runs(browser, server):
    page = login(browser, server, "tom")
    ask(page, "What does the shelter intake checklist require before a photograph is taken?", 1)
    answer = page.locator("#chat [data-testid=bot]").last.inner_text()
    assert XSS in answer, "the markup is shown literally"
    assert XSS in page.inner_text("#sources")

    open_tab(page, "Library")
    page.fill("#doc-search input, #doc-search textarea", "shelter")
    page.wait_for_function("() => document.querySelector('#doc-caption').innerText.startsWith('1 of')")
    page.locator("#documents").get_by_text("Shelter checklist").locator("visible=true").first.click()
    page.wait_for_function("() => document.querySelector('#chunk-preview').innerText.includes('signed consent form')")
    assert XSS in page.inner_text("#chunk-preview")
    page.fill("#url textarea, #url input", XSS)  # error toasts echo the input: escaped too
    page.click("#add-url")
    page.wait_for_selector("[data-testid=toast-body]")
    assert XSS in page.inner_text("[data-testid=toast-body]")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    page.context.close()


def test_qa_runs_an_evaluation_and_sees_the_report(browser, server, tmp_path):
    pytest.importorskip("evals.runner")
    page = login(browser, server, "quinn")
    assert tab_names(page) == ["Chat", "Evals"]
    dataset = tmp_path / "frontline-checks.jsonl"
    dataset.write_text("".join(json.dumps(case) + "\n" for case in EVAL_CASES), encoding="utf-8")

    open_tab(page, "Evals")
    page.set_input_files("#eval-dataset-file input[type=file]", str(dataset))
    page.wait_for_function("() => document.querySelector('#eval-dataset input').value.includes('frontline-checks.jsonl')")
    page.get_by_label("Also run the baselines").check()
    page.click("#run-eval")
    page.wait_for_function("() => document.querySelector('#eval-summary').innerText.includes('Evaluation finished')", timeout=90_000)
    assert "recall@k" in page.inner_text("#eval-metrics")
    page.wait_for_selector("#eval-plots img")
    page.screenshot(path=SCREENSHOTS / "evals.png", full_page=True)
    page.context.close()


def test_trainer_marks_a_document_superseded_and_a_trainee_picks_a_collection(browser, server):
    """A trainer marks a document superseded in the Library tab and puts another in a
    collection; a trainee's next answer from the first says it is superseded, and with the
    collection picked the answer comes only from that collection."""
    page = login(browser, server, "tom")
    open_tab(page, "Library")
    page.wait_for_function("() => document.querySelector('#doc-caption').innerText.includes('documents')")

    def select(title: str) -> None:
        page.fill("#doc-search input, #doc-search textarea", title)
        page.wait_for_function("() => document.querySelector('#doc-caption').innerText.startsWith('1 of')")
        page.locator("#documents").get_by_text(title).locator("visible=true").first.click()
        page.wait_for_function("(title) => document.querySelector('#doc-select input').value.includes(title)", arg=title)
        page.wait_for_function("() => document.querySelector('#version-status input').value === 'in force'")  # the form shows it

    select("First contact with a presumed victim")
    page.click("#version-status input")
    page.get_by_role("option", name="superseded", exact=True).click()
    page.fill("#version-valid-from input, #version-valid-from textarea", "2009")
    page.click("#save-versions")
    page.wait_for_function("() => document.querySelector('#action-status').innerText.startsWith('Saved dates and collections')")
    assert "superseded · from 2009" in page.inner_text("#documents")
    first_contact = next(d for d in server.beacon.list_documents() if d.title.startswith("First contact"))
    assert (first_contact.status, first_contact.valid_from) == ("superseded", "2009")

    select("Indicators of trafficking for forced labour")
    page.fill("#version-valid-from input, #version-valid-from textarea", "not a date")
    page.fill("#version-collections input, #version-collections textarea", "Labour module")
    page.click("#save-versions")
    page.wait_for_selector("[data-testid=toast-body]")
    assert "valid_from must be a date" in page.inner_text("[data-testid=toast-body]")
    assert server.beacon.collections() == {}, "a rejected form stores nothing"
    page.fill("#version-valid-from input, #version-valid-from textarea", "")
    page.click("#save-versions")
    page.wait_for_function("() => document.querySelector('#action-status').innerText.includes('Labour module')")
    page.screenshot(path=SCREENSHOTS / "library-versions.png", full_page=True)
    page.context.close()

    page = login(browser, server, "tina")
    ask(page, "How long is the recovery and reflection period?", 1)
    answer = page.locator("#chat [data-testid=bot]").last.inner_text()
    assert "30 days" in answer and "Note on dates" in answer and "marked superseded in the library" in answer
    assert "dated 2009 · superseded" in page.inner_text("#sources")
    page.screenshot(path=SCREENSHOTS / "chat-superseded.png")

    page.click("#collection-pick input")
    page.get_by_role("option", name="Labour module (1 documents)").click()
    question = "What should frontline staff do when they notice indicators?"
    ask(page, question, 2)
    sources = page.inner_text("#sources")
    assert "Indicators of trafficking for forced labour" in sources and "First contact" not in sources
    expected = server.beacon.ask(question, filters={"collection": "Labour module"})
    assert {c.doc_id for c in expected.citations} == {d.doc_id for d in server.beacon.list_documents() if "Labour module" in d.collections}
    page.screenshot(path=SCREENSHOTS / "chat-collection.png")
    page.context.close()
    for document in server.beacon.list_documents():  # the module's other tests see the library as it was
        server.beacon.set_document(document.doc_id, {"status": "in_force", "valid_from": "", "collections": ""})
