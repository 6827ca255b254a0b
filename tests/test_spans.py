"""Quote spans: every quoted sentence points at its exact place in the document's stored text,
the original file is kept by content hash, and both follow re-ingest and removal."""

from __future__ import annotations

import json

import pytest
from test_formats import PDF_PAGE_1, PDF_PAGE_2, write_docx, write_pdf
from typer.testing import CliRunner

from assistant import InvalidInput, NotFound, Settings, build_assistant
from assistant.cli.main import app
from assistant.domain.models import Answer, AnswerSentence
from evals.metrics import quote_counts

HTML = """<html><head><title>Shelter Standards</title></head><body><main>
<h1>Shelter Standards</h1>
<p>Shelters for victims of trafficking must offer a private room, medical care and legal counselling in a language the resident understands.</p>
<h2>Length of stay</h2>
<p>Residents may stay for as long as their recovery requires, and never less than three months.</p>
</main></body></html>"""


def normalised(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def spans_library(tmp_path_factory, article_markdown_text):
    """A library with one document per format whose text the answers quote."""
    root = tmp_path_factory.mktemp("span-docs")
    (root / "victim-identification.md").write_text(article_markdown_text, encoding="utf-8")
    write_pdf(root / "labour-inspection.pdf")
    write_docx(root / "police-manual.docx")
    (root / "shelter-standards.html").write_text(HTML, encoding="utf-8")
    beacon = build_assistant(Settings(data_dir=tmp_path_factory.mktemp("span-data")))
    reports = beacon.ingest([str(root)])
    assert all(r.status == "added" for r in reports), reports
    return beacon, root


QUESTIONS = [
    "How long is the recovery and reflection period for presumed victims?",
    "Where should inspectors refer presumed victims of trafficking?",
    "Where must interviews with presumed victims be conducted?",
    "What must shelters for victims of trafficking offer?",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_quoted_sentence_is_at_its_span(spans_library, question):
    beacon, _ = spans_library
    answer = beacon.ask(question)
    assert not answer.refused, answer.refusal_reason
    for sentence in answer.sentences:
        assert sentence.doc_id and sentence.char_start is not None and sentence.char_end is not None, sentence
        stored = beacon.document_text(sentence.doc_id)
        assert normalised(stored[sentence.char_start:sentence.char_end]) == normalised(sentence.text)
        assert sentence.doc_id in {c.doc_id for c in answer.citations}
    for citation in answer.citations:
        assert beacon.document_text(citation.doc_id)[citation.char_start:citation.char_end] == citation.text
    payload = json.loads(CliRunner().invoke(app, ["--data-dir", str(beacon.settings.data_dir), "ask", question, "--json"]).stdout)
    assert {"doc_id", "page", "char_start", "char_end", "quote"} <= set(payload["sentences"][0])
    assert {"page", "char_start", "char_end"} <= set(payload["citations"][0])


def test_pdf_quotes_carry_their_page(spans_library):
    beacon, _ = spans_library
    answer = beacon.ask("Where should inspectors refer presumed victims of trafficking?")
    pdf = [s for s in answer.sentences if s.doc_id.startswith("labour-inspection")]
    assert pdf and all(s.page == 2 for s in pdf if "refer presumed victims" in s.text)
    page = beacon.passage(pdf[0].doc_id, page=2)
    assert PDF_PAGE_2 in normalised(page.text)
    # Both pages are one chunk now (the text runs on over the break); a page is still cut exactly.
    first = normalised(beacon.passage(pdf[0].doc_id, page=1).text)
    assert PDF_PAGE_1 in first and PDF_PAGE_2 not in first and PDF_PAGE_1 not in normalised(page.text)


def test_every_chunk_is_a_slice_of_the_stored_text(spans_library):
    beacon, _ = spans_library
    for document in beacon.list_documents():
        text = beacon.document_text(document.doc_id)
        for chunk in beacon.document_chunks(document.doc_id):
            assert text[chunk["char_start"]:chunk["char_end"]] == chunk["text"]


def test_the_original_is_kept_and_follows_reingest_and_removal(tmp_path, article_markdown_text):
    beacon = build_assistant(Settings(data_dir=tmp_path / "data"))
    doc = tmp_path / "docs" / "note.md"
    doc.parent.mkdir()
    doc.write_text(article_markdown_text, encoding="utf-8")
    copy = tmp_path / "docs" / "same-bytes.md"
    copy.write_text(article_markdown_text, encoding="utf-8")
    reports = beacon.ingest([str(doc), str(copy)])
    first, twin = reports[0].doc_id, reports[1].doc_id
    original = beacon.original_file(first)
    assert original.read_bytes() == doc.read_bytes() and original.suffix == ".md"
    old_text = beacon.document_text(first)

    doc.write_text(article_markdown_text.replace("thirty days", "forty-five days"), encoding="utf-8")
    assert beacon.ingest([str(doc)])[0].status == "updated"
    assert "forty-five days" in beacon.document_text(first) and "forty-five" not in old_text
    assert beacon.original_file(twin) == original, "the twin still holds the old bytes, so they are kept"

    beacon.remove_document(twin)
    assert not original.exists(), "no document refers to the old version any more"
    assert len(list((tmp_path / "data" / "texts").iterdir())) == 1, "only the current version's text is kept"
    kept = beacon.original_file(first)
    beacon.remove_document(first)
    assert not kept.exists()
    assert not any((tmp_path / "data" / "texts").iterdir()) and not any((tmp_path / "data" / "originals").iterdir())
    with pytest.raises(NotFound):
        beacon.document_text(first)


def test_show_prints_the_passage_of_a_citation(spans_library):
    beacon, _ = spans_library
    answer = beacon.ask(QUESTIONS[0])
    sentence = answer.sentences[0]
    runner = CliRunner()
    base = ["--data-dir", str(beacon.settings.data_dir), "show", sentence.doc_id]
    shown = runner.invoke(app, [*base, "--span", f"{sentence.char_start}:{sentence.char_end}", "--json"])
    assert shown.exit_code == 0, shown.output
    passage = json.loads(shown.stdout)
    assert normalised(passage["text"]) == normalised(sentence.text) and passage["before"] and passage["title"]
    plain = runner.invoke(app, [*base, "--span", f"{sentence.char_start}:{sentence.char_end}"])
    assert normalised(sentence.text)[:40] in normalised(plain.stdout)
    assert runner.invoke(app, [*base, "--span", "12-40"]).exit_code == 2
    assert runner.invoke(app, [*base, "--span", "0:99999999"]).exit_code == 2
    assert runner.invoke(app, [*base, "--page", "2", "--span", "1:2"]).exit_code == 2
    assert runner.invoke(app, ["--data-dir", str(beacon.settings.data_dir), "show", "no-such-doc"]).exit_code == 4
    with pytest.raises(InvalidInput):
        beacon.passage(sentence.doc_id, span=(10, 5))


def test_quote_exactness_counts_a_quote_that_is_not_at_its_span(spans_library):
    beacon, _ = spans_library
    answer = beacon.ask(QUESTIONS[0])
    assert quote_counts(answer, beacon.document_text) == (len(answer.sentences), len(answer.sentences), len(answer.sentences))
    moved = answer.model_copy(deep=True)
    moved.sentences[0].char_start += 7
    assert quote_counts(moved, beacon.document_text)[2] == len(answer.sentences) - 1
    unspanned = Answer(question="q", answer="a [1]", refused=False, sentences=[AnswerSentence(text="a", citations=[1], supported=True, support_score=1.0)])
    assert quote_counts(unspanned, beacon.document_text) == (1, 0, 0)
