"""The source viewer: a cited PDF page rendered with the quoted lines highlighted (and nothing
else), a Markdown document's text with exactly the quote marked, document HTML kept as text,
previous/next within the page range, and who may view and download. Real assistant, real
files (a PDF made with fpdf2 here), handlers called in-process."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image, ImageChops

from assistant import Settings, build_assistant
from assistant.domain.errors import InvalidInput, NotFound
from assistant.library.pdfpages import find_quote
from assistant.records.users import UserStore
from assistant.web import presenters
from assistant.web.handlers import BeaconUI

XSS = '<img src=x onerror="window.__xss=1"><script>alert(1)</script>'
QUOTE = "Port state inspectors should board every fishing vessel in port and check the crew contracts, the wage records and the identity papers of each fisher."
QUESTION = "Should port state inspectors board fishing vessels and check the crew contracts?"
GUIDE = f"""# Recruitment screening guide

Labour inspectors should check that recruitment agencies never charge workers recruitment fees.
Employers must let workers keep their own identity documents and passports. {XSS}
"""
A4_MM = (210, 297)


def write_pdf(path: Path) -> tuple[float, float]:
    """A three-page PDF whose second page holds QUOTE, on lines of its own, below a paragraph;
    returns where the quote's lines are, top and bottom, as fractions of the page height."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Inspecting fishing vessels")
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Inspecting fishing vessels. " + "Fishing is among the most dangerous occupations and crews work far from help. " * 4)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Before boarding, inspectors agree the visit with the harbour master and a labour inspector. " * 3, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    top = pdf.get_y()
    pdf.multi_cell(0, 8, QUOTE, new_x="LMARGIN", new_y="NEXT")
    bottom = pdf.get_y()
    pdf.ln(6)
    pdf.multi_cell(0, 8, "Weather permitting, the visit ends with a short meeting on deck with the skipper and the crew. " * 2)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Annex: contacts of the regional fisheries bodies and of the seafarers' welfare centres in each port.")
    pdf.output(str(path))
    return top / A4_MM[1], bottom / A4_MM[1]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    data, docs = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("docs")
    (docs / "screening-guide.md").write_text(GUIDE, encoding="utf-8")
    quote_rows = write_pdf(docs / "fishing-inspections.pdf")
    beacon = build_assistant(Settings(data_dir=data))
    assert [r.status for r in beacon.ingest([str(docs)])] == ["added", "added"]
    users = UserStore(data / "users.toml")
    for name, role in [("tina", "trainee"), ("tom", "trainer")]:
        users.add(name, f"{name}-password", role)
    ids = {Path(d.source).suffix: d.doc_id for d in beacon.list_documents()}
    return beacon, BeaconUI(beacon, users), ids, quote_rows


def request(name: str | None) -> gr.Request:
    return gr.Request(username=name)


def last(generator):
    *_, final = generator
    return final


def asked(handlers: BeaconUI, question: str, doc_id: str) -> tuple[list, str]:
    """The conversation after asking, and the "turn:n" of its citation of `doc_id`."""
    _, _, turns, _, _, _ = last(handlers.ask(question, [], request("tina")))
    answer = turns[-1]["answer"]
    assert not answer.refused, answer.answer
    n = next(c.n for c in answer.citations if c.doc_id == doc_id)
    return turns, f"0:{n}"


def page_image(html: str) -> Image.Image:
    data = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert data, "the viewer shows the page as an image"
    return Image.open(io.BytesIO(base64.b64decode(data.group(1)))).convert("RGB")


# -- rendering ------------------------------------------------------------------------------------
def test_the_quote_is_highlighted_on_its_page_and_nowhere_else(library):
    beacon, _, ids, (top, bottom) = library
    pdf = ids[".pdf"]
    assert beacon.page_count(pdf) == 3
    plain = Image.open(io.BytesIO(beacon.render_page(pdf, 2).png)).convert("RGB")
    rendered = beacon.render_page(pdf, 2, QUOTE)
    marked = Image.open(io.BytesIO(rendered.png)).convert("RGB")
    assert (rendered.page, rendered.pages) == (2, 3) and len(rendered.highlights) >= 2, "the quote runs over several lines"
    changed = ImageChops.difference(plain, marked).getbbox()
    assert changed is not None, "the highlight changed the page"
    height = marked.height
    margin = 3 / A4_MM[1] * height  # 3 mm
    assert top * height - margin <= changed[1] and changed[3] <= bottom * height + margin, (changed, top * height, bottom * height)
    # the highlight is a tint: the text under it is still there (dark pixels inside the box)
    inside = marked.crop(changed).convert("L")
    assert inside.getextrema()[0] < 100


def test_a_quote_is_found_across_line_breaks_hyphens_and_ligatures():
    page = "Port state in-\r\nspectors  should board\nevery ﬁshing vessel."
    start, end = find_quote(page, "Port state inspectors should board every fishing vessel.")
    assert (start, end) == (0, len(page))
    assert find_quote(page, "Nothing like this is on the page") is None
    # text the extraction left out (a footnote mark, a running header) inside the quote: its two ends still place it
    long_quote = "Port state inspectors should board every fishing vessel in port and check the crew contracts and the wage records."
    page = "Intro. Port state inspectors should board every fishing vessel in port 3 and check the crew contracts and the wage records. Next."
    start, end = find_quote(page, long_quote)
    assert page[start:end] == "Port state inspectors should board every fishing vessel in port 3 and check the crew contracts and the wage records."
    # a quote cut by a page break: its beginning before the footer of one page, its end after the header of the next
    first, second = "Intro. Port state inspectors should board every fishing vessel in port\nPage 4", "Fishing Report 2024\nand check the crew contracts and the wage records. Next."
    start, end = find_quote(first, long_quote)
    assert first[start:end] == "Port state inspectors should board every fishing vessel in port"
    start, end = find_quote(second, long_quote)
    assert second[start:end] == "and check the crew contracts and the wage records."


def test_pages_outside_the_document_and_other_formats_are_typed_errors(library):
    beacon, _, ids, _ = library
    with pytest.raises(NotFound, match="no page 9"):
        beacon.render_page(ids[".pdf"], 9)
    with pytest.raises(InvalidInput, match="not a PDF"):
        beacon.render_page(ids[".md"], 1)
    with pytest.raises(NotFound):
        beacon.page_count("no-such-document")


# -- the chat's viewer ----------------------------------------------------------------------------
def test_a_pdf_citation_opens_its_page_with_the_quote_highlighted(library):
    beacon, handlers, ids, _ = library
    turns, cited = asked(handlers, QUESTION, ids[".pdf"])
    choices = handlers.viewer_choices(turns, request("tina"))["choices"]
    assert cited in [value for _, value in choices], "the [n] selector lists the latest answer's citations"
    html, state, nav, download = handlers.open_citation(cited + ":1700000000", turns, request("tina"))
    assert "page 2 of 3" in html and "beacon-viewer-target" in html
    assert (state["doc_id"], state["page"], state["pages"]) == (ids[".pdf"], 2, 3)
    assert nav["visible"] is True
    highlighted = page_image(html)
    plain = Image.open(io.BytesIO(beacon.render_page(ids[".pdf"], 2).png)).convert("RGB")
    assert ImageChops.difference(plain, highlighted).getbbox() is not None, "the cited page shows the highlight"
    assert download["visible"] is False, "a trainee views the passage but does not download the original"


def test_previous_and_next_stay_within_the_pages(library):
    _, handlers, ids, _ = library
    state = {"doc_id": ids[".pdf"], "title": "Inspecting", "page": 2, "pages": 3, "quotes": [QUOTE], "spans": []}
    html, state3, nav, _ = handlers.next_page(state, request("tina"))
    assert state3["page"] == 3 and "page 3 of 3" in html and nav["visible"] is True
    assert handlers.next_page(state3, request("tina"))[1] == gr.skip(), "past the last page nothing changes"
    html, state1, _, _ = handlers.previous_page(state, request("tina"))
    assert state1["page"] == 1 and "page 1 of 3" in html
    assert handlers.previous_page(state1, request("tina"))[1] == gr.skip()
    assert handlers.next_page(None, request("tina"))[0] == gr.skip()
    with pytest.raises(gr.Error, match="Not allowed"):
        handlers.next_page(state, request("mallory"))


def test_a_markdown_citation_marks_exactly_the_quote_and_escapes_the_document(library):
    beacon, handlers, ids, _ = library
    turns, cited = asked(handlers, "Do recruitment agencies charge workers fees?", ids[".md"])
    answer = turns[0]["answer"]
    n = int(cited.split(":")[1])
    quoted = [s for s in answer.sentences if n in s.citations]
    text = beacon.document_text(ids[".md"])
    assert quoted and all(text[s.char_start:s.char_end] == s.quote for s in quoted)
    html, state, nav, download = handlers.open_citation(cited, turns, request("tina"))
    assert re.findall(r"<mark[^>]*>(.*?)</mark>", html) == [presenters.html_text(s.quote) for s in quoted]
    assert "<img" not in html and "<script" not in html and "&lt;img src=x" in html
    assert state["pages"] is None and nav["visible"] is False and download["visible"] is False


def test_only_cited_documents_open_from_the_chat(library):
    _, handlers, ids, _ = library
    turns, _ = asked(handlers, QUESTION, ids[".pdf"])
    for bad in ("5:1", "0:99", "x:y", "", "0"):
        assert handlers.open_citation(bad, turns, request("tina"))[0] == gr.skip()
    with pytest.raises(gr.Error, match="Not allowed"):
        handlers.open_citation("0:1", turns, request(None))


# -- the library's viewer and downloads -----------------------------------------------------------
def test_trainers_view_library_documents_and_download_the_original(library):
    beacon, handlers, ids, _ = library
    html, state, nav, download = handlers.view_document(ids[".pdf"], request("tom"))
    assert "page 1 of 3" in html and state["page"] == 1 and nav["visible"] is True
    served = Path(download["value"])
    assert download["visible"] is True and served.read_bytes() == beacon.original_file(ids[".pdf"]).read_bytes()
    assert served.name == f"{ids['.pdf']}.pdf" and beacon.settings.data_dir not in served.parents
    html, state, nav, download = handlers.view_document(ids[".md"], request("tom"))
    assert "Recruitment screening guide" in html and "<mark" not in html and "&lt;script&gt;" in html and "page" not in html
    assert download["visible"] is True and Path(download["value"]).suffix == ".md"
    with pytest.raises(gr.Error, match="Not allowed"):
        handlers.view_document(ids[".pdf"], request("tina"))
    # a trainer opening a citation from the chat may download it too
    turns, cited = asked(handlers, QUESTION, ids[".pdf"])
    assert handlers.open_citation(cited, turns, request("tom"))[3]["visible"] is True


def test_text_view_of_a_long_document_is_a_window_around_the_passage():
    text = "x" * 50_000 + "THE QUOTE" + "y" * 50_000
    html = presenters.format_text_view("Long", text, [(50_000, 50_009)])
    assert "<mark class='beacon-viewer-target'>THE QUOTE</mark>" in html
    assert "44,000 characters before" in html and len(html) < presenters.MAX_VIEW_CHARS + 1_000


RENDER_WHILE_INGESTING = """
import sys, threading
from pathlib import Path
from assistant.library.pdfpages import render_page
from ingest.pdf import extract_pdf
path = Path(sys.argv[1])
data = path.read_bytes()
errors = []
def run(work):
    try:
        work()
    except Exception as exc:
        errors.append(exc)
renders = lambda: [render_page(path, 1 + i % 3, [sys.argv[2]]) for i in range(20)]
ingests = lambda: [extract_pdf(data) for _ in range(8)]
threads = [threading.Thread(target=run, args=(w,)) for w in (renders, renders, renders, ingests)]
[t.start() for t in threads]
[t.join() for t in threads]
print("errors:", errors)
"""


def test_the_viewer_renders_pages_while_a_pdf_is_ingested_without_crashing(tmp_path):
    """PDFium is not thread-safe: the viewer rendering cited pages in Gradio's worker threads
    while an ingest read a PDF killed the server with a segmentation fault (CI, the browser
    tests). Run in a child process, so that a crash fails this test rather than the test run."""
    pdf = tmp_path / "vessels.pdf"
    write_pdf(pdf)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", RENDER_WHILE_INGESTING, str(pdf), QUOTE], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.strip() == "errors: []"
