"""Typeset a Markdown document as a realistic report PDF (fpdf2), for the format-invariance
benchmark and its test.

The PDF has what real reports have and plain text does not: a running header, a footer
"Page N of M", greedy line breaking with long words hyphenated at line ends, headings set
larger or in bold (one style per Markdown level, so the heading structure can be read back
from the type), and optionally two columns written row by row (so text read in
content-stream order would interleave the columns). Paragraphs (text between blank lines)
are spaced apart; each Markdown line starts a new printed line, as a list item does, without
extra space. The words are the Markdown's, verbatim.

Needs DejaVu Sans (Debian's fonts-dejavu-core) for the documents' non-Latin-1 characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
HEADER = "Reference library on trafficking in human beings"
FOOTER_RE = re.compile(r"Page \d+ of \d+")
BODY_PT, LINE_MM = 10.5, 5.0
# (weight, size in points, line height in mm) of a paragraph and of each heading level.
STYLES = {
    "h1": ("B", 16.0, 8.0),
    "h2": ("B", 13.5, 6.5),
    "h3": ("B", 12.0, 6.0),
    "h4": ("B", BODY_PT, LINE_MM),
    "p": ("", BODY_PT, LINE_MM),
}
TOP, BOTTOM, LEFT, WIDTH = 25.0, 272.0, 20.0, 170.0
GUTTER = 10.0


def fonts_available() -> bool:
    return (FONT_DIR / "DejaVuSans.ttf").is_file() and (FONT_DIR / "DejaVuSans-Bold.ttf").is_file()


@dataclass
class Placed:
    page: int
    column: int
    y: float
    style: str
    text: str


def blocks_of(markdown: str) -> tuple[str, list[tuple[str, str, bool]]]:
    """(title, [(style, text, starts a paragraph)]) of a Markdown file: its headings (read as
    Beacon's Markdown loader reads them) and lines, verbatim."""
    from ingest.loaders import HEADING_RE, split_front_matter

    meta, body = split_front_matter(markdown)
    blocks = []
    previous = ""
    for line in body.splitlines():
        if not line.strip():
            previous = ""
            continue
        heading = HEADING_RE.match(line)
        if heading:
            blocks.append((f"h{min(len(heading.group(1)), 4)}", heading.group(2).strip(), True))
            previous = ""
        else:
            blocks.append(("p", line.strip(), not previous))
            previous = line
    title = str(meta.get("title") or next((t for s, t, _ in blocks if s == "h1"), ""))
    return title, blocks


def wrap(pdf, text: str, width: float) -> list[str]:
    """Greedy line breaking; a long word that does not fit is hyphenated where it fits."""
    lines, line = [], ""
    words = text.split()
    index = 0
    while index < len(words):
        word = words[index]
        candidate = f"{line} {word}" if line else word
        if pdf.get_string_width(candidate) <= width:
            line, index = candidate, index + 1
            continue
        if line and len(word) >= 7 and word.isalpha():
            for cut in range(len(word) - 3, 2, -1):
                if pdf.get_string_width(f"{line} {word[:cut]}-") <= width:
                    lines.append(f"{line} {word[:cut]}-")
                    words[index] = word[cut:]
                    line = ""
                    break
            else:
                lines.append(line)
                line = ""
            continue
        if not line:  # a word wider than the line (a URL) is broken where it fills the line
            cut = max(1, max(n for n in range(1, len(word) + 1) if pdf.get_string_width(word[:n]) <= width))
            lines.append(word[:cut])
            words[index] = word[cut:]
            if not words[index]:
                index += 1
            continue
        lines.append(line)
        line = ""
    if line:
        lines.append(line)
    return lines


def typeset(markdown: str, two_columns: bool = False, header: str = HEADER) -> bytes:
    """The PDF of a Markdown document (see the module docstring)."""
    from fpdf import FPDF

    title, blocks = blocks_of(markdown)

    class Report(FPDF):
        def header(self) -> None:
            self.set_font("body", "", 8)
            self.set_xy(LEFT, 10)
            self.cell(WIDTH, 4, header)

        def footer(self) -> None:
            self.set_font("body", "", 8)
            self.set_xy(LEFT, 282)
            self.cell(WIDTH, 4, f"Page {self.page_no()} of {{nb}}", align="C")

    pdf = Report(format="A4")
    pdf.add_font("body", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("body", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(False)
    pdf.set_title(title)
    columns = 2 if two_columns else 1
    column_width = (WIDTH - GUTTER) / 2 if two_columns else WIDTH
    placed: list[Placed] = []
    page, column, y = 1, 0, TOP
    for style, text, starts in blocks:
        weight, size, height = STYLES[style]
        pdf.set_font("body", weight, size)
        y += (3.0 if style == "p" else 5.0) if starts else 0.0
        for line in wrap(pdf, text, column_width):
            if y + height > BOTTOM:
                column += 1
                if column == columns:
                    page, column = page + 1, 0
                y = TOP
            placed.append(Placed(page, column, y, style, line))
            y += height
    for number in range(1, page + 1):
        pdf.add_page()
        for item in sorted((p for p in placed if p.page == number), key=lambda p: (p.y, p.column)):
            weight, size, height = STYLES[item.style]
            pdf.set_font("body", weight, size)
            pdf.set_xy(LEFT + item.column * (column_width + GUTTER), item.y)
            pdf.cell(column_width, height, item.text)
    return bytes(pdf.output())
