"""Every supported format, generated here with the real library that writes it, ingested from
one folder (recursively) into a real store; then what `list_documents` and `document_chunks`
say about each file is checked against the file itself."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from assistant import NotFound, Settings, build_assistant
from assistant.domain.models import parse_page_starts

UTF8_TEXT = """\
Indicators of labour exploitation

Workers who cannot leave their employer, whose identity documents are withheld, or who owe a debt that keeps growing may be victims of trafficking for forced labour.

Inspectors should speak with workers alone and in a language they understand.
"""

# French with characters that differ between UTF-8 and cp1252: accents, curly apostrophes,
# guillemets, a euro sign and an em dash.
CP1252_TEXT = (
    "La Convention du Conseil de l’Europe sur la lutte contre la traite des êtres humains protège les victimes. "
    "Les États doivent garantir l’accès à une aide médicale, à un hébergement sûr et à des conseils juridiques « sans délai ». "
    "Le coût d’un hébergement d’urgence est estimé à 40 € par nuit — une dépense prévue au budget.\n\n"
    "Article 12\n\n"
    "Chaque Partie prend les mesures législatives nécessaires pour assister les victimes dans leur rétablissement physique, "
    "psychologique et social.\n"
)

HTML_PAGE = """<!doctype html>
<html><head><title>Shelter Standards for Survivors</title>
<style>.warning { color: red } body { font-family: STYLESECRET; }</style>
<script>var token = "SCRIPTSECRET"; document.write("SCRIPTSECRET");</script>
</head>
<body>
<h1>Shelter Standards for Survivors</h1>
<p>Shelters for survivors of trafficking must offer safe accommodation, medical care and psychological support to every resident.</p>
<div style="display:none">HIDDENSECRET tracking text that must never be indexed by the assistant.</div>
<h2>Admission procedures</h2>
<p>Admission to a shelter is voluntary and does not depend on cooperation with law enforcement authorities in criminal proceedings.</p>
<p>Staff explain the house rules <span style="display: none">INLINESECRET</span>in a language the resident understands.</p>
<h2>Length of stay</h2>
<p>Residents may stay for as long as they need to recover, with a minimum reflection period of thirty days for every survivor.</p>
<noscript>NOSCRIPTSECRET enable JavaScript</noscript>
</body></html>
"""
HTML_SECRETS = ("SCRIPTSECRET", "STYLESECRET", "HIDDENSECRET", "INLINESECRET", "NOSCRIPTSECRET", "document.write", "font-family")

PDF_TITLE = "Handbook on Labour Inspection"
PDF_PAGE_1 = "Labour inspectors play a key role in detecting forced labour in agriculture, construction and domestic work."
PDF_PAGE_2 = "Inspectors should refer presumed victims of trafficking to specialised support services without delay."
PDF_ARTICLE = "Each inspectorate shall keep a register of the referrals it has made."

DOCX_TITLE = "Training Manual for Police"


def write_pdf(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(PDF_TITLE)
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, PDF_PAGE_1, new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    pdf.multi_cell(0, 8, PDF_PAGE_2, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.multi_cell(0, 8, "Article 7", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 8, PDF_ARTICLE, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def write_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = DOCX_TITLE
    document.add_heading("Identification", level=1)
    document.add_paragraph("Police officers should look for indicators of trafficking such as confiscated documents and debt bondage.")
    document.add_heading("Interviewing victims", level=2)
    document.add_paragraph("Interviews with presumed victims must be conducted in a safe place with a qualified interpreter present.")
    document.add_heading("Referral", level=1)
    document.add_paragraph("Officers refer identified victims to the national referral mechanism for assistance and protection.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Hotline"
    table.cell(0, 1).text = "Open around the clock"
    table.cell(1, 0).text = "Shelter intake desk"
    table.cell(1, 1).text = "Weekdays only"
    document.save(str(path))


@pytest.fixture(scope="module")
def format_library(tmp_path_factory, article_markdown_text) -> dict[str, Path]:
    """A folder tree with one real file per format (some nested), plus files that must be skipped."""
    root = tmp_path_factory.mktemp("library")
    files = {
        "text": root / "labour-indicators.txt",
        "cp1252": root / "convention-fr.txt",
        "markdown": root / "guidance" / "victim-identification.md",
        "html": root / "web" / "shelter.html",
        "pdf": root / "handbook.pdf",
        "docx": root / "deep" / "nested" / "manual.docx",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    files["text"].write_text(UTF8_TEXT, encoding="utf-8")
    files["cp1252"].write_bytes(CP1252_TEXT.encode("cp1252"))
    files["markdown"].write_text(article_markdown_text, encoding="utf-8")
    files["html"].write_text(HTML_PAGE, encoding="utf-8")
    write_pdf(files["pdf"])
    write_docx(files["docx"])
    # Skipped by the folder walk: an unsupported type and a hidden folder.
    (root / "notes.xyz").write_text("Not a document Beacon reads.", encoding="utf-8")
    (root / ".drafts").mkdir()
    (root / ".drafts" / "draft.md").write_text("# Draft\n\nUnpublished draft text.\n", encoding="utf-8")
    return {"root": root, **files}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, format_library):
    """(assistant, reports, {source: DocumentSummary}) after ingesting the folder once; tests only read."""
    beacon = build_assistant(Settings(data_dir=tmp_path_factory.mktemp("data")))
    started = datetime.now(timezone.utc)
    reports = beacon.ingest([str(format_library["root"])])
    documents = {d.source: d for d in beacon.list_documents()}
    return beacon, reports, documents, started


def doc_for(ingested, path: Path):
    documents = ingested[2]
    assert str(path) in documents, f"{path.name} was not ingested; library has {sorted(documents)}"
    return documents[str(path)]


def chunks_of(ingested, path: Path) -> list[dict]:
    return ingested[0].document_chunks(doc_for(ingested, path).doc_id)


def all_text(chunks: list[dict]) -> str:
    return "\n".join(c["text"] for c in chunks)


def flat(text: str) -> str:
    return " ".join(text.split())


# --- the folder ------------------------------------------------------------------------------
def test_folder_is_ingested_recursively_skipping_hidden_and_unsupported_files(ingested, format_library):
    _beacon, reports, documents, _ = ingested
    expected = {str(format_library[k]) for k in ("text", "cp1252", "markdown", "html", "pdf", "docx")}
    assert {r.source for r in reports} == expected
    assert all(r.status == "added" and r.error is None and r.chunks > 0 for r in reports), reports
    assert set(documents) == expected


@pytest.mark.parametrize(
    "key, fmt",
    [("text", "text"), ("cp1252", "text"), ("markdown", "markdown"), ("html", "html"), ("pdf", "pdf"), ("docx", "docx")],
)
def test_document_metadata_describes_the_file(ingested, format_library, key, fmt):
    beacon, reports, _documents, started = ingested
    path = format_library[key]
    doc = doc_for(ingested, path)
    report = next(r for r in reports if r.source == str(path))
    assert doc.doc_id == report.doc_id and doc.doc_id.startswith(path.stem.lower())
    assert doc.source == str(path)
    assert doc.format == fmt
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.title and doc.title == report.title
    when = datetime.fromisoformat(doc.ingested_at)
    assert when.tzinfo is not None and started - timedelta(seconds=2) <= when <= datetime.now(timezone.utc)
    chunks = beacon.document_chunks(doc.doc_id)
    assert doc.chunks == report.chunks == len(chunks) > 0
    assert [c["position"] for c in chunks] == list(range(len(chunks)))
    assert all(c["doc_id"] == doc.doc_id and c["source"] == str(path) for c in chunks)


def test_unknown_document_chunks_is_not_found(ingested):
    with pytest.raises(NotFound):
        ingested[0].document_chunks("no-such-doc-0000000000")


# --- text -------------------------------------------------------------------------------------
def test_utf8_text_title_is_its_first_line(ingested, format_library):
    doc = doc_for(ingested, format_library["text"])
    assert doc.title == "Indicators of labour exploitation"
    assert "identity documents are withheld" in all_text(chunks_of(ingested, format_library["text"]))


def test_cp1252_text_is_detected_and_decoded(ingested, format_library):
    text = all_text(chunks_of(ingested, format_library["cp1252"]))
    assert "\ufffd" not in text
    for word in ("protège", "États", "l’accès", "« sans délai »", "40 € par nuit", "— une dépense", "rétablissement"):
        assert word in text, f"{word!r} was not decoded from cp1252"


def test_cp1252_text_article_line_becomes_a_locator(ingested, format_library):
    chunks = chunks_of(ingested, format_library["cp1252"])
    article = [c for c in chunks if "rétablissement physique" in c["text"]]
    assert article and article[0]["locator"] == "Article 12"


# --- markdown ---------------------------------------------------------------------------------
def test_markdown_front_matter_becomes_document_metadata(ingested, format_library):
    doc = doc_for(ingested, format_library["markdown"])
    assert doc.title == "Guidance on Victim Identification"
    assert doc.year == 2019
    assert doc.doc_type == "guidelines"
    assert doc.symbol == "PC.DEC/1107"
    assert doc.url == "https://example.org/guidance"


def test_markdown_front_matter_is_not_content(ingested, format_library):
    text = all_text(chunks_of(ingested, format_library["markdown"]))
    assert "source_url" not in text and "doc_type:" not in text and "---" not in text


def test_markdown_article_headings_become_locators(ingested, format_library):
    chunks = chunks_of(ingested, format_library["markdown"])
    by_locator = {c["locator"]: flat(c["text"]) for c in chunks}
    assert {"Article 3", "Article 4", "Article 5"} <= set(by_locator)
    assert "Trafficking in persons shall mean the recruitment" in by_locator["Article 3"]
    assert "applies to all forms of trafficking" in by_locator["Article 4"]
    assert "reflection period of at least thirty days" in by_locator["Article 5"]
    intro = next(c for c in chunks if "Frontline staff" in c["text"])
    assert intro["locator"] == ""  # under the title only: there is no more specific place


# --- html -------------------------------------------------------------------------------------
def test_html_scripts_styles_and_hidden_text_never_reach_the_store(ingested, format_library):
    chunks = chunks_of(ingested, format_library["html"])
    stored = "\n".join(f"{c['text']} {c['title']} {c['heading']} {c['locator']}" for c in chunks)
    leaked = [s for s in HTML_SECRETS if s in stored]
    assert not leaked, f"hidden HTML content was indexed: {leaked}"
    assert "voluntary and does not depend on cooperation" in flat(stored)
    assert "in a language the resident understands" in flat(stored)


def test_html_title_and_h2_headings_become_title_and_locators(ingested, format_library):
    doc = doc_for(ingested, format_library["html"])
    assert doc.title == "Shelter Standards for Survivors"
    chunks = chunks_of(ingested, format_library["html"])
    admission = next(c for c in chunks if "Admission to a shelter" in c["text"])
    stay = next(c for c in chunks if "Residents may stay" in c["text"])
    assert admission["locator"] == "§ Admission procedures"
    assert stay["locator"] == "§ Length of stay"


# --- pdf --------------------------------------------------------------------------------------
def test_pdf_title_comes_from_its_metadata(ingested, format_library):
    assert doc_for(ingested, format_library["pdf"]).title == PDF_TITLE


def test_pdf_chunks_carry_their_page(ingested, format_library):
    """The text runs on over the page break as a Markdown file's would; the chunk keeps the page
    it starts on and where the next page starts in it."""
    chunks = chunks_of(ingested, format_library["pdf"])
    first = next(c for c in chunks if "key role in detecting forced labour" in flat(c["text"]))
    assert first["locator"] == "p. 1" and first["page"] == 1
    assert "specialised support services" in flat(first["text"])
    (offset, page), = parse_page_starts(first["page_starts"])
    assert page == 2 and first["text"][offset:].startswith("Inspectors should refer presumed victims")


def test_pdf_article_heading_and_page_combine_in_the_locator(ingested, format_library):
    chunks = chunks_of(ingested, format_library["pdf"])
    article = next(c for c in chunks if "register of the referrals" in flat(c["text"]))
    assert article["locator"] == "Article 7, p. 2"


# --- docx -------------------------------------------------------------------------------------
def test_docx_title_comes_from_core_properties(ingested, format_library):
    assert doc_for(ingested, format_library["docx"]).title == DOCX_TITLE


def test_docx_heading_2_becomes_a_section_locator(ingested, format_library):
    chunks = chunks_of(ingested, format_library["docx"])
    interview = next(c for c in chunks if "qualified interpreter" in c["text"])
    assert interview["locator"] == "§ Interviewing victims"
    assert interview["heading"] == "Identification › Interviewing victims"


def test_docx_heading_1_becomes_a_section_locator(ingested, format_library):
    chunks = chunks_of(ingested, format_library["docx"])
    identification = next(c for c in chunks if "confiscated documents" in c["text"])
    referral = next(c for c in chunks if "national referral mechanism" in c["text"])
    assert identification["locator"] == "§ Identification"
    assert referral["locator"] == "§ Referral"


def test_docx_tables_are_content(ingested, format_library):
    text = all_text(chunks_of(ingested, format_library["docx"]))
    assert "Open around the clock" in text and "Shelter intake desk" in text
