"""Format invariance on real documents: two treaties of the development library typeset as
report PDFs (running header, "Page N of M" footer, long words hyphenated at line ends, headings
by type; one in two columns, written row by row) answer the development questions about them
exactly as their Markdown versions do, and no PDF answer quotes page furniture.

The typesetter is the format-invariance benchmark's (benchmarks/typeset.py), so the test and
`benchmarks/pdf_invariance.py` measure the same PDFs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant import Settings, build_assistant
from benchmarks.typeset import FOOTER_RE, HEADER, fonts_available, typeset
from evals.metrics import strip_markers

SHARED = Path(__file__).resolve().parents[2] / "shared"
DOCUMENTS = {  # file -> typeset in two columns
    "un-palermo-protocol-2000.md": False,
    "ilo-c182-worst-forms-child-labour-1999.md": True,
}


def flat(answer) -> str:
    return " ".join(strip_markers(answer.answer).split())


@pytest.fixture(scope="module")
def answered(tmp_path_factory):
    """Every English development question about the two documents, asked of a library of their
    Markdown files and of one of their PDFs: [(question, Markdown answer, PDF answer)], and the
    PDF assistant."""
    corpus, questions_file = SHARED / "corpus", SHARED / "devset" / "questions.jsonl"
    if not all((corpus / name).is_file() for name in DOCUMENTS) or not questions_file.is_file():
        pytest.skip(f"the development library ({SHARED}) is not available")
    if not fonts_available():
        pytest.skip("DejaVu Sans (fonts-dejavu-core) is needed to typeset the PDFs")
    questions = [json.loads(line) for line in questions_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    asked = [q for q in questions if not q.get("lang") and set(q.get("expected_sources", [])) & set(DOCUMENTS)]
    assert len(asked) >= 10
    answers = {}
    for fmt in ("markdown", "pdf"):
        folder = tmp_path_factory.mktemp(fmt)
        for name, two_columns in DOCUMENTS.items():
            markdown = (corpus / name).read_text(encoding="utf-8")
            if fmt == "markdown":
                (folder / name).write_text(markdown, encoding="utf-8")
            else:
                (folder / name).with_suffix(".pdf").write_bytes(typeset(markdown, two_columns=two_columns))
        beacon = build_assistant(Settings(data_dir=tmp_path_factory.mktemp(f"{fmt}-data")))
        assert all(r.status == "added" for r in beacon.ingest([str(folder)]))
        answers[fmt] = [beacon.ask(q["question"]) for q in asked]
    return list(zip(asked, answers["markdown"], answers["pdf"])), beacon


def test_the_pdfs_give_the_markdown_answers(answered):
    rows, _ = answered
    differing = [
        (q["id"], flat(md), flat(pdf))
        for q, md, pdf in rows
        if md.refused != pdf.refused or (not md.refused and flat(md) != flat(pdf))
    ]
    assert not differing, differing
    assert sum(not md.refused for _, md, _ in rows) >= len(rows) // 2, "too few answers to compare"


def test_no_pdf_answer_quotes_a_header_footer_or_page_number(answered):
    rows, _ = answered
    for q, _, pdf in rows:
        quoted = " ".join([pdf.answer] + [c.text for c in pdf.citations] + [s.quote or "" for s in pdf.sentences])
        assert HEADER not in quoted and not FOOTER_RE.search(quoted), q["id"]


def test_pdf_quotes_are_on_the_page_they_name(answered):
    """Chunks run over page breaks; each quoted sentence still names the page it starts on and
    its span selects it in the stored text. On the one-column document the viewer highlights
    it on that page (PDFium's text layer of the two-column one interleaves its columns)."""
    from ingest.pdf import extract_pdf

    rows, beacon = answered
    documents = {d.doc_id: Path(d.source).with_suffix(".md").name for d in beacon.list_documents()}
    pages = {doc_id: [" ".join(p.split()) for p in extract_pdf(beacon.original_file(doc_id).read_bytes()).pages] for doc_id in documents}
    checked = 0
    for _, _, pdf in rows:
        for sentence in pdf.sentences:
            if sentence.char_start is None:
                continue
            stored = beacon.document_text(sentence.doc_id)[sentence.char_start:sentence.char_end]
            assert " ".join(stored.split()) == " ".join(sentence.text.split())
            assert sentence.page and f"p. {sentence.page}" in (sentence.locator or "")
            opening = " ".join(sentence.text.split()[:5])
            assert opening in pages[sentence.doc_id][sentence.page - 1], f"{sentence.text[:60]!r} does not start on p. {sentence.page}"
            if not DOCUMENTS[documents[sentence.doc_id]]:
                page = beacon.render_page(sentence.doc_id, sentence.page, sentence.quote or sentence.text)
                assert page.highlights, f"{sentence.text[:60]!r} is not highlighted on p. {sentence.page}"
            checked += 1
    assert checked >= 10
