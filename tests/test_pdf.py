"""Faithful PDF text: PDFs laid out like real reports (running header and footer, page numbers,
words hyphenated at line ends, footnotes in small type, a two-column page) are generated here
with fpdf2, and what Beacon extracts is checked against the text they were written from.

The two columns are written row by row (left line, right line, next row ...), as some
producers do, so text read in content-stream order interleaves them; only a reader that uses
the characters' positions gets them right.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant import IngestError, Settings, build_assistant
from ingest.loaders import load_bytes
from ingest.pdf import Vocabulary, extract_pdf, join_hyphenated

TITLE = "Handbook on Referral of Presumed Victims"
HEADER = "Council of Europe - Handbook on Referral"
FOOTER = "Page {n} of 4"
BODY_SIZE = 11
NOTE_SIZE = 8
LINE_HEIGHT = 6

PAGE_1 = [
    "Labour inspectors play a key role in detecting forced labour in agriculture and construction.",
    "They should refer presumed victims to the national referral mechanism without delay.",
]
# Page 2: hyphenated line ends, written line by line so the breaks are exactly here.
PAGE_2_LINES = [
    "Frontline staff who meet presumed victims of human traf-",  # typesetter's hyphen: rejoin
    "ficking must explain their rights in a language they under-",
    "stand. Cooperation between agencies is essential, and the so-",  # genuine compound: keep
    "called reflection period lasts at least thirty days. Close co-",  # 'cooperation' occurs: rejoin
    "operation with shelters helps, as does a well-trained interpreter.",
]
PAGE_2_TEXT = (
    "Frontline staff who meet presumed victims of human trafficking must explain their rights in a language "
    "they understand. Cooperation between agencies is essential, and the so-called reflection period lasts at "
    "least thirty days. Close cooperation with shelters helps, as does a well-trained interpreter."
)
# Page 2 also carries two footnotes, referenced by superscript numbers in the body.
NOTE_1 = "See Article 10 of the Council of Europe Convention on Action against Trafficking in Human Beings."
NOTE_2 = "Explanatory Report, paragraph 127, on the identification of victims."
# Page 3: two columns; the last sentence of the left column runs on into the right column.
LEFT_COLUMN = (
    "Shelters for survivors must offer safe accommodation, medical care and psychological support to every "
    "resident. Admission is voluntary and never depends on cooperation with the police. "
    "Residents may stay for as long as they need to recover, and staff review each case"
)
RIGHT_COLUMN = (
    "with the resident every month, in writing and with an interpreter where needed. "
    "Children are placed in specialised shelters separate from adults. Every shelter keeps a register "
    "of admissions that only its director may consult."
)
RUN_ON_SENTENCE = (
    "Residents may stay for as long as they need to recover, and staff review each case "
    "with the resident every month, in writing and with an interpreter where needed."
)
PAGE_3_HEADING = "Standards for shelters"
PAGE_4 = ["Article 12", "Each Party shall adopt measures to assist victims in their physical and social recovery."]


def flat(text: str) -> str:
    return " ".join(text.split())


def _furniture(pdf, number: int) -> None:
    pdf.set_font("helvetica", size=9)
    pdf.set_xy(10, 8)
    pdf.cell(0, 5, HEADER)
    pdf.set_xy(10, 284)
    pdf.cell(0, 5, FOOTER.format(n=number), align="C")
    pdf.set_font("helvetica", size=BODY_SIZE)
    pdf.set_xy(10, 25)


def _wrapped(pdf, width: float, text: str) -> list[str]:
    return [str(line) for line in pdf.multi_cell(width, LINE_HEIGHT, text, dry_run=True, output="LINES")]


def report_pdf(path: Path) -> Path:
    """A four-page report with every feature of a real one; returns its path."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title(TITLE)

    pdf.add_page()
    _furniture(pdf, 1)
    for paragraph in PAGE_1:
        pdf.multi_cell(0, LINE_HEIGHT, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)

    pdf.add_page()
    _furniture(pdf, 2)
    for index, line in enumerate(PAGE_2_LINES):
        pdf.set_font("helvetica", size=BODY_SIZE)
        pdf.cell(pdf.get_string_width(line), LINE_HEIGHT, line)
        if index in (1, 4):  # a footnote reference: a small raised number after the line's text
            marker = "1" if index == 1 else "2"
            pdf.set_font("helvetica", size=7)
            pdf.set_xy(pdf.get_x(), pdf.get_y() - 1.5)
            pdf.cell(3, LINE_HEIGHT, marker)
            pdf.set_xy(pdf.get_x(), pdf.get_y() + 1.5)
        pdf.ln(LINE_HEIGHT)
    pdf.line(10, 262, 60, 262)  # the footnote separator
    pdf.set_xy(10, 264)
    for marker, note in (("1", NOTE_1), ("2", NOTE_2)):
        pdf.set_font("helvetica", size=NOTE_SIZE)
        pdf.multi_cell(0, 4, f"{marker} {note}", new_x="LMARGIN", new_y="NEXT")

    pdf.add_page()
    _furniture(pdf, 3)
    pdf.set_font("helvetica", "B", size=13)
    pdf.cell(0, 8, PAGE_3_HEADING, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=BODY_SIZE)
    left, right = _wrapped(pdf, 88, LEFT_COLUMN), _wrapped(pdf, 88, RIGHT_COLUMN)
    top = pdf.get_y() + 4
    for row in range(max(len(left), len(right))):  # row by row: left line, then right line
        y = top + row * LINE_HEIGHT
        if row < len(left):
            pdf.set_xy(10, y)
            pdf.cell(88, LINE_HEIGHT, left[row])
        if row < len(right):
            pdf.set_xy(112, y)
            pdf.cell(88, LINE_HEIGHT, right[row])

    pdf.add_page()
    _furniture(pdf, 4)
    for paragraph in PAGE_4:
        pdf.multi_cell(0, LINE_HEIGHT, paragraph, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The four-page report PDF."""
    return report_pdf(tmp_path_factory.mktemp("pdf") / "handbook.pdf")


@pytest.fixture(scope="module")
def loaded(report):
    """The report as the PDF loader reads it."""
    return load_bytes(report.read_bytes(), "pdf")


@pytest.fixture(scope="module")
def extracted(report):
    """The report's body text per page and footnotes, as `ingest.pdf` extracts them."""
    return extract_pdf(report.read_bytes())


def body_of(extracted, page: int) -> str:
    return flat(extracted.pages[page - 1])


# --- running header, footer, page numbers ---------------------------------------------------
def test_running_header_and_page_numbers_are_not_in_the_text(loaded):
    text = flat(loaded.text)
    assert HEADER not in text and "Handbook on Referral" not in text.replace(TITLE, "")
    assert not re.search(r"Page \d of 4", text)


def test_every_page_keeps_its_body_text(extracted):
    assert body_of(extracted, 1) == flat(" ".join(PAGE_1))
    assert body_of(extracted, 4) == flat(" ".join(PAGE_4))


@pytest.mark.parametrize("number_style", ["{n}", "- {n} -", "Page {n}", "p. {n}"])
def test_bare_page_numbers_of_any_style_are_dropped(tmp_path, number_style):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.set_font("helvetica", size=BODY_SIZE)
    sentences = [f"Paragraph {n} says that victims have a right to assistance number {n}." for n in (1, 2)]
    for n, sentence in enumerate(sentences, start=1):
        pdf.add_page()
        pdf.multi_cell(0, LINE_HEIGHT, sentence)
        pdf.set_xy(10, 284)
        pdf.cell(0, 5, number_style.format(n=n + 6), align="C")
    pages = extract_pdf(bytes(pdf.output())).pages
    assert [flat(p) for p in pages] == sentences


def test_a_line_repeated_at_the_top_of_few_pages_is_kept(tmp_path):
    """Only lines on most pages are furniture; a heading that recurs twice in ten pages stays."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=BODY_SIZE)
    for n in range(1, 11):
        pdf.add_page()
        if n in (3, 7):
            pdf.cell(0, LINE_HEIGHT, "Recommendations", new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(0, LINE_HEIGHT, f"Text of page {n} about assistance to victims.")
    pages = extract_pdf(bytes(pdf.output())).pages
    assert pages[2].startswith("Recommendations") and pages[6].startswith("Recommendations")


# --- hyphenation --------------------------------------------------------------------------------
def test_words_hyphenated_at_line_ends_are_rejoined_and_real_hyphens_kept(extracted):
    assert body_of(extracted, 2) == PAGE_2_TEXT


@pytest.mark.parametrize(
    ("lines", "vocabulary", "expected"),
    [
        (["victims of traf-", "ficking are"], "", "victims of trafficking\nare"),
        (["the so-", "called period."], "", "the so-called\nperiod."),
        (["close co-", "operation"], "cooperation matters", "close cooperation\n"),
        (["a child-", "friendly room"], "child-friendly rooms", "a child-friendly\nroom"),
        (["the Anti-", "Slavery Act"], "", "the Anti-\nSlavery Act"),  # capital: not a broken word
        (["in 2010-", "2015"], "", "in 2010-\n2015"),
        (["well-", "being."], "", "well-being.\n"),
        (["pre-", "and post-trial support"], "", "pre-\nand post-trial support"),
        (["жертв торгов-", "ли людьми"], "торговли", "жертв торговли\nлюдьми"),
    ],
)
def test_line_end_hyphen_rule(lines, vocabulary, expected):
    assert join_hyphenated(lines, Vocabulary([vocabulary])) == expected


# --- footnotes ----------------------------------------------------------------------------------
def test_footnotes_are_out_of_the_body_and_are_their_own_sections(loaded, extracted):
    body = body_of(extracted, 2)
    assert "Article 10" not in body and "Explanatory Report" not in body
    assert not re.search(r"\b(?:language|interpreter)\s?[12]\b", body)  # the reference numbers are gone too
    notes = [(s.page, s.note, s.text) for s in loaded.sections if s.note is not None]
    assert notes == [(2, "1", NOTE_1), (2, "2", NOTE_2)]


def page_with_small_print(body: str, small_print: str):
    """One page: a body line, and a line in footnote type at the page bottom (no separator)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=BODY_SIZE)
    pdf.multi_cell(0, LINE_HEIGHT, body)
    pdf.set_xy(10, 270)
    pdf.set_font("helvetica", size=NOTE_SIZE)
    pdf.multi_cell(0, 4, small_print)
    return extract_pdf(bytes(pdf.output()))


def test_small_type_at_the_page_bottom_is_a_footnote_without_a_separator():
    extracted = page_with_small_print(
        "States shall protect the private life of victims.*", "* As required by Article 11 of the Convention, also in court proceedings."
    )
    assert flat(extracted.pages[0]) == "States shall protect the private life of victims.*"
    [note] = extracted.footnotes[0]
    assert (note.page, note.marker, note.text) == (1, "*", "As required by Article 11 of the Convention, also in court proceedings.")


def test_small_print_without_a_marker_stays_in_the_body():
    extracted = page_with_small_print("Victims may apply for compensation.", "Source: national statistics office, survey of victim assistance services.")
    assert "Source: national statistics office" in extracted.pages[0] and extracted.footnotes == [[]]


# --- two columns ----------------------------------------------------------------------------------
def test_two_column_page_is_read_column_by_column(extracted):
    assert body_of(extracted, 3) == flat(f"{PAGE_3_HEADING} {LEFT_COLUMN} {RIGHT_COLUMN}")


def test_a_single_column_page_with_short_lines_is_not_split(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=BODY_SIZE)
    items = [f"{n}. Indicator number {n} of forced labour" for n in range(1, 9)]
    for item in items:
        pdf.cell(0, LINE_HEIGHT, item, new_x="LMARGIN", new_y="NEXT")
    assert extract_pdf(bytes(pdf.output())).pages[0].splitlines() == items


def test_a_url_broken_across_lines_is_made_whole(tmp_path):
    """A typesetter breaks a long URL where the line is full, without a hyphen; a space there
    would change the link. A path-like 'and/or' on the next line is a word, not its rest."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=BODY_SIZE)
    lines = ["The text is at https://treaties.example.org/convention/BWBV000", "1749/README.md and in print.",
             "Send it to the registry at records/2024/annex", "and/or to the secretariat."]
    for line in lines:
        pdf.cell(0, LINE_HEIGHT, line, new_x="LMARGIN", new_y="NEXT")
    text = extract_pdf(bytes(pdf.output())).pages[0]
    assert "https://treaties.example.org/convention/BWBV0001749/README.md and in print." in text
    assert "records/2024/annex and/or to the secretariat." in text


# --- errors -------------------------------------------------------------------------------------
def test_a_truncated_pdf_says_it_is_damaged(report):
    data = report.read_bytes()
    with pytest.raises(IngestError, match="damaged"):
        load_bytes(data[: len(data) - 200], "pdf")


# --- the real pipeline --------------------------------------------------------------------------
def test_locators_cite_page_and_note(tmp_path, report):
    beacon = build_assistant(Settings(data_dir=tmp_path / "data"))
    [result] = beacon.ingest([str(report)])
    assert result.error is None, result.error
    chunks = beacon.document_chunks(result.doc_id)
    note = next(c for c in chunks if "Explanatory Report" in c["text"])
    assert note["locator"] == "p. 2, note 2" and note["page"] == 2
    article = next(c for c in chunks if "physical and social recovery" in c["text"])
    assert article["locator"] == "Article 12, p. 4"
    shelters = next(c for c in chunks if "Shelters for survivors" in c["text"])
    assert shelters["locator"] == f"§ {PAGE_3_HEADING}, p. 3" and PAGE_3_HEADING not in shelters["text"]
    assert not any(HEADER in c["text"] or re.search(r"Page \d of 4", c["text"]) for c in chunks)


def test_answer_from_a_two_column_page_quotes_a_whole_sentence_and_cites_its_page(tmp_path, report):
    beacon = build_assistant(Settings(data_dir=tmp_path / "data"))
    beacon.ingest([str(report)])
    answer = beacon.ask("How often do staff review the case of a shelter resident?")
    assert not answer.refused, answer.refusal_reason
    quoted = [s for s in answer.sentences if "review each case" in s.text]
    assert quoted, answer.answer
    assert flat(RUN_ON_SENTENCE) in flat(quoted[0].text)
    cited = {c.n: c for c in answer.citations}
    assert any(cited[n].locator == f"§ {PAGE_3_HEADING}, p. 3" for n in quoted[0].citations), answer.citations


# --- more of what real reports do -----------------------------------------------------------------
def _pages_pdf(bodies: list[list[str]], header=None, notes=None):
    """A PDF with one page per body (a list of lines); `header(n)` gives page n's top line and
    `notes[n]` its footnote lines in small type at the bottom."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    for n, lines in enumerate(bodies, start=1):
        pdf.add_page()
        if header:
            pdf.set_font("helvetica", size=9)
            pdf.set_xy(10, 8)
            pdf.cell(0, 5, header(n))
        pdf.set_font("helvetica", size=BODY_SIZE)
        pdf.set_xy(10, 25)
        for line in lines:
            pdf.cell(0, LINE_HEIGHT, line, new_x="LMARGIN", new_y="NEXT")
        if notes and notes.get(n):
            pdf.set_font("helvetica", size=NOTE_SIZE)
            pdf.set_xy(10, 285 - 4 * len(notes[n]))
            for line in notes[n]:
                pdf.cell(0, 4, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def test_a_chapter_running_header_with_the_page_number_is_dropped():
    """Each chapter has its own running header, so no header is on most pages; the page
    number running with the page gives it away."""
    chapters = {1: "Chapter 1: Identification", 2: "Chapter 1: Identification", 3: "Chapter 2: Referral",
                4: "Chapter 2: Referral", 5: "Chapter 3: Protection", 6: "Chapter 3: Protection"}
    bodies = [[f"Body text of page {n} on the rights of victims."] for n in chapters]
    pages = extract_pdf(_pages_pdf(bodies, header=lambda n: f"{chapters[n]}                    {n + 10}")).pages
    assert [flat(p) for p in pages] == [b[0] for b in bodies]


def test_article_headings_at_the_top_of_each_page_are_kept():
    """One article per page looks like a numbered running header; it is a heading."""
    bodies = [[f"Article {n}", f"Text of article {n} on assistance."] for n in range(1, 6)]
    pages = extract_pdf(_pages_pdf(bodies)).pages
    assert [p.splitlines()[0] for p in pages] == [f"Article {n}" for n in range(1, 6)]


def test_a_word_hyphenated_across_a_page_break_is_made_whole_on_the_first_page():
    bodies = [["Victims have the right to free legal assis-"], ["tance during proceedings."]]
    pages = extract_pdf(_pages_pdf(bodies)).pages
    assert pages == ["Victims have the right to free legal assistance", "during proceedings."]


def test_a_footnote_continued_on_the_next_page_keeps_its_number():
    bodies = [["Victims must be informed of their rights.\u00b9"], ["Interpreters are provided free of charge.\u00b2"]]
    notes = {1: ["1 This includes the right to a reflection period and to"],
             2: ["legal assistance in criminal proceedings.", "2 In a language the victim understands."]}
    extracted = extract_pdf(_pages_pdf(bodies, notes=notes))
    assert [flat(p) for p in extracted.pages] == ["Victims must be informed of their rights.\u00b9", "Interpreters are provided free of charge.\u00b2"]
    assert [(n.page, n.marker, n.text) for ns in extracted.footnotes for n in ns] == [
        (1, "1", "This includes the right to a reflection period and to"),
        (2, "1", "legal assistance in criminal proceedings."),
        (2, "2", "In a language the victim understands."),
    ]


def test_small_numbered_lines_out_of_order_are_not_footnotes():
    """A code listing or hex dump in small type is not a run of notes numbered 1, 2, 3."""
    bodies = [["The file starts with a magic string.\u00b9"]]
    notes = {1: ["69 63 00 0a 5b 35", "74 65 78 74 2f 78", "69 66 66 5d 0a 3e"]}
    extracted = extract_pdf(_pages_pdf(bodies, notes=notes))
    assert extracted.footnotes == [[]] and "74 65 78 74 2f 78" in extracted.pages[0]


@pytest.mark.parametrize("angle", [90, 270])
def test_a_page_set_sideways_reads_in_order(angle):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("helvetica", size=BODY_SIZE)
    lines = ["Table 3. Referrals by region and year.", "The north referred more victims than the south."]
    with pdf.rotation(angle, x=105, y=148):
        pdf.set_xy(40, 120)
        for line in lines:
            pdf.cell(0, LINE_HEIGHT, line, new_x="LMARGIN", new_y="NEXT")
            pdf.set_x(40)
    assert flat(extract_pdf(bytes(pdf.output())).pages[0]) == " ".join(lines)


def test_a_slanted_watermark_is_not_text():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=BODY_SIZE)
    pdf.multi_cell(0, LINE_HEIGHT, "Shelters must be safe and confidential.")
    with pdf.rotation(45, x=105, y=148):
        pdf.set_font("helvetica", size=60)
        pdf.set_xy(50, 140)
        pdf.cell(0, 20, "DRAFT")
    assert flat(extract_pdf(bytes(pdf.output())).pages[0]) == "Shelters must be safe and confidential."


def test_three_columns_are_read_one_after_the_other():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("helvetica", size=9)
    texts = [
        "Identification comes first: staff look for indicators such as withheld documents and debts.",
        "Referral follows, with the consent of the person, to a specialised service in the region.",
        "Protection lasts as long as the risk does, and is reviewed with the person every month.",
    ]
    columns = [[str(ln) for ln in pdf.multi_cell(55, 5, t, dry_run=True, output="LINES")] for t in texts]
    for row in range(max(map(len, columns))):  # row by row, across the three columns
        for index, column in enumerate(columns):
            if row < len(column):
                pdf.set_xy(10 + 65 * index, 30 + 5 * row)
                pdf.cell(55, 5, column[row])
    assert flat(extract_pdf(bytes(pdf.output())).pages[0]) == flat(" ".join(texts))


def test_right_to_left_words_are_spelled_in_reading_order():
    from ingest.pdf import Glyph, segment_lines

    word = "שלום עולם"  # "hello world", drawn right to left
    glyphs, x = [], 300.0
    for char in word:
        if char == " ":
            x -= 4
            continue
        glyphs.append(Glyph(char, x - 6, x, 100.0, 110.0, 97.0, 13.0, False))
        x -= 6
    [line] = segment_lines(1, glyphs)
    assert line.text == word and line.rtl


def test_a_two_column_table_is_read_row_by_row():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=BODY_SIZE)
    pdf.multi_cell(0, LINE_HEIGHT, "Referrals to the national mechanism in 2024, by region of the first contact with the victim:",
                   new_x="LMARGIN", new_y="NEXT")
    rows = [("North", "124"), ("South", "87"), ("East", "45"), ("West", "63"), ("Capital region", "210"), ("Abroad", "12")]
    for region, count in rows:
        pdf.cell(95, LINE_HEIGHT, region)
        pdf.cell(95, LINE_HEIGHT, count, new_x="LMARGIN", new_y="NEXT")
    lines = extract_pdf(bytes(pdf.output())).pages[0].splitlines()
    assert lines[-len(rows):] == [f"{region} {count}" for region, count in rows]


def test_a_page_number_beside_a_running_header_is_dropped_with_it():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    bodies = [f"Page body {word} about shelters and their standards." for word in ("one", "two", "three")]
    for n, body in enumerate(bodies, start=1):
        pdf.add_page()
        pdf.set_font("helvetica", size=9)
        pdf.set_xy(10, 8)
        pdf.cell(95, 5, "Handbook on Referral")
        pdf.cell(95, 5, str(n), align="R")
        pdf.set_font("helvetica", size=BODY_SIZE)
        pdf.set_xy(10, 25)
        pdf.multi_cell(0, LINE_HEIGHT, body)
    assert [flat(p) for p in extract_pdf(bytes(pdf.output())).pages] == bodies


def test_a_numbered_table_under_a_rule_is_not_footnotes():
    """Rows '1 ...', '2 ...' under a table's rule in body type, with no reference to them."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("helvetica", size=BODY_SIZE)
    pdf.multi_cell(0, LINE_HEIGHT, "The steps of a referral are listed below in the order staff take them.", new_x="LMARGIN", new_y="NEXT")
    pdf.line(10, 200, 200, 200)
    pdf.line(10, 230, 80, 230)
    pdf.set_xy(10, 232)
    steps = ["1 Identify the presumed victim", "2 Inform the person of their rights", "3 Contact the national mechanism"]
    for step in steps:
        pdf.cell(0, LINE_HEIGHT, step, new_x="LMARGIN", new_y="NEXT")
    extracted = extract_pdf(bytes(pdf.output()))
    assert extracted.footnotes == [[]] and extracted.pages[0].splitlines()[-3:] == steps


def test_headings_are_told_by_their_type_and_ranked_by_size():
    from fpdf import FPDF

    BODY = ("Assistance starts as soon as there are reasonable grounds to believe a person is a victim. "
            "It does not depend on the person's willingness to cooperate in an investigation or in criminal proceedings.")

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", "B", size=16)
    pdf.multi_cell(0, 8, "Guidelines on the Protection of Victims", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "B", size=BODY_SIZE)
    pdf.multi_cell(110, LINE_HEIGHT, "Assistance to presumed victims of trafficking before any formal identification by the authorities",
                   new_x="LMARGIN", new_y="NEXT")  # wraps over two lines
    pdf.set_font("helvetica", size=BODY_SIZE)
    pdf.multi_cell(0, LINE_HEIGHT, BODY, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "B", size=BODY_SIZE)
    pdf.cell(95, LINE_HEIGHT, "Service")
    pdf.cell(95, LINE_HEIGHT, "Provider", new_x="LMARGIN", new_y="NEXT")  # a table's header row
    pdf.set_font("helvetica", size=BODY_SIZE)
    pdf.cell(95, LINE_HEIGHT, "Shelter")
    pdf.cell(95, LINE_HEIGHT, "Non-governmental organisations", new_x="LMARGIN", new_y="NEXT")
    extracted = extract_pdf(bytes(pdf.output()))
    assert extracted.headings == [{
        "Guidelines on the Protection of Victims": 1,
        "Assistance to presumed victims of trafficking before any formal identification by the authorities": 2,
    }]
    document = load_bytes(bytes(pdf.output()), "pdf")
    assert [(s.headings, flat(s.text)) for s in document.sections] == [(
        ["Guidelines on the Protection of Victims",
         "Assistance to presumed victims of trafficking before any formal identification by the authorities"],
        f"{BODY} Service Provider Shelter Non-governmental organisations",
    )]


def test_a_two_page_leaflet_loses_its_running_header_and_keeps_a_hyphenated_heading_whole():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    for n, body in enumerate(["Call the hotline if you see signs of exploitation.", "The call is free and anonymous."], start=1):
        pdf.add_page()
        pdf.set_font("helvetica", size=8)
        pdf.set_xy(10, 8)
        pdf.cell(0, 4, "National Anti-Trafficking Leaflet")
        pdf.set_xy(10, 30)
        if n == 1:
            pdf.set_font("helvetica", "B", size=16)
            pdf.cell(0, 8, "What to do when you suspect traf-", new_x="LMARGIN", new_y="NEXT")
            pdf.cell(0, 8, "ficking in your neighbourhood", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=BODY_SIZE)
        pdf.multi_cell(0, LINE_HEIGHT, body)
    extracted = extract_pdf(bytes(pdf.output()))
    assert [flat(p) for p in extracted.pages] == [
        "What to do when you suspect trafficking in your neighbourhood Call the hotline if you see signs of exploitation.",
        "The call is free and anonymous.",
    ]
    assert extracted.headings[0] == {"What to do when you suspect trafficking in your neighbourhood": 1}


def test_printed_line_breaks_go_but_list_items_and_article_headings_keep_their_lines(extracted):
    """A chunk split at a printed line break would cut a sentence: a paragraph is one line."""
    assert extracted.pages[1] == PAGE_2_TEXT
    assert extracted.pages[3] == "\n".join(PAGE_4)
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=BODY_SIZE)
    lines = ["States shall take measures, such as:", "(a) research and information campaigns;", "(b) social and economic", "initiatives to prevent trafficking."]
    for line in lines:
        pdf.cell(0, LINE_HEIGHT, line, new_x="LMARGIN", new_y="NEXT")
    assert extract_pdf(bytes(pdf.output())).pages[0].splitlines() == [
        "States shall take measures, such as:",
        "(a) research and information campaigns;",
        "(b) social and economic initiatives to prevent trafficking.",
    ]
