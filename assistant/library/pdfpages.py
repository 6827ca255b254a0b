"""One page of a kept PDF original as a PNG, with a quoted passage highlighted over its lines.

The quote comes from Beacon's extracted text, which differs from PDFium's text layer in
whitespace, line breaks, hyphenation at line ends and ligatures; both are compared as their
letters and digits only (NFKC, case-folded), and the matched characters' boxes are merged
line by line into the rectangles that are painted. pypdfium2 and Pillow are imported when a
page is rendered, never at import time.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.domain.errors import NotFound
from assistant.library.pdfium_lock import PDFIUM

SCALE = 1.5  # 108 dpi: readable beside the chat without a huge image
HIGHLIGHT = (250, 204, 21, 110)  # semi-transparent yellow, the colour of the <mark> in the text viewer
PAD = 1.5  # points added around each highlighted line
ANCHOR = 40  # normalised characters matched at each end of a quote the page does not hold whole
PAGE_EDGE = 80  # normalised characters of a running header or footer between a page's edge and a quote cut by it

Box = tuple[float, float, float, float]  # left, top, right, bottom as fractions of the page (top = 0)


@dataclass(frozen=True)
class RenderedPage:
    """A rendered page: the PNG, where it is in the document, and the highlighted line boxes."""

    png: bytes
    page: int  # 1-based, as citations give it
    pages: int
    highlights: list[Box] = field(default_factory=list)


def page_count(path: Path) -> int:
    import pypdfium2 as pdfium

    with PDFIUM:
        pdf = pdfium.PdfDocument(str(path))
        try:
            return len(pdf)
        finally:
            pdf.close()


def render_page(path: Path, page: int, quotes: Sequence[str] = (), scale: float = SCALE) -> RenderedPage:
    """Render page `page` (1-based) of the PDF at `path`, painting each of `quotes` found on it."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    with PDFIUM:
        pdf = pdfium.PdfDocument(str(path))
        try:
            pages = len(pdf)
            if not 1 <= page <= pages:
                raise NotFound(f"The document has no page {page}; its pages are 1–{pages}.")
            pdf_page = pdf[page - 1]
            width, height = pdf_page.get_size()
            textpage = pdf_page.get_textpage()
            boxes = [line for quote in quotes if quote for line in quote_lines(textpage, quote)]
            bitmap = pdf_page.render(scale=scale)
            image = bitmap.to_pil().convert("RGBA")  # a copy: the bitmap's buffer goes with it
            bitmap.close()
            textpage.close()
            pdf_page.close()
        finally:
            pdf.close()
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    highlights = []
    for left, bottom, right, top in boxes:
        box = ((left - PAD) / width, (height - top - PAD) / height, (right + PAD) / width, (height - bottom + PAD) / height)
        highlights.append(box)
        draw.rectangle([box[0] * image.width, box[1] * image.height, box[2] * image.width, box[3] * image.height], fill=HIGHLIGHT)
    out = io.BytesIO()
    Image.alpha_composite(image, overlay).convert("RGB").save(out, format="PNG", optimize=False)
    return RenderedPage(png=out.getvalue(), page=page, pages=pages, highlights=highlights)


def normalised(text: str) -> tuple[str, list[int]]:
    """`text` as letters and digits only (NFKC, case-folded), with each kept character's index
    in `text`: what survives every difference in layout between two extractions."""
    kept, where = [], []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch).casefold():
            if c.isalnum():
                kept.append(c)
                where.append(i)
    return "".join(kept), where


def find_quote(page_text: str, quote: str) -> tuple[int, int] | None:
    """The span of `page_text` (start, end exclusive) that holds `quote`, layout aside. When
    the page does not hold it whole: the span between its first and last `ANCHOR` characters
    (text the extraction left out inside it: a running header, a footnote mark), or, for a
    quote that runs over a page break, its beginning at the end of the page or its end at the
    start of the page (within `PAGE_EDGE` characters of a footer or header)."""
    text, where = normalised(page_text)
    wanted, _ = normalised(quote)
    if not wanted or not text:
        return None
    at = text.find(wanted)
    if at >= 0:
        return where[at], _with_closing_mark(page_text, quote, where[at + len(wanted) - 1] + 1)
    if len(wanted) < 2 * ANCHOR:
        return None
    head = text.find(wanted[:ANCHOR])
    tail = text.find(wanted[-ANCHOR:], head + ANCHOR if head >= 0 else 0)
    if head >= 0 and tail >= 0 and tail + ANCHOR - head <= 2 * len(wanted):
        return where[head], _with_closing_mark(page_text, quote, where[tail + ANCHOR - 1] + 1)
    if head >= 0:  # the beginning, at the end of this page
        common = next((i for i, (a, b) in enumerate(zip(text[head:], wanted)) if a != b), min(len(text) - head, len(wanted)))
        if len(text) - head - common <= PAGE_EDGE:
            return where[head], where[head + common - 1] + 1
    if tail >= 0:  # the end, at the start of this page
        end = tail + ANCHOR
        common = next((i for i, (a, b) in enumerate(zip(reversed(text[:end]), reversed(wanted))) if a != b), min(end, len(wanted)))
        if end - common <= PAGE_EDGE:
            return where[end - common], _with_closing_mark(page_text, quote, where[end - 1] + 1)
    return None


def _with_closing_mark(page_text: str, quote: str, end: int) -> int:
    """`end` moved past the quote's closing punctuation (a full stop, a bracket) where the page has it."""
    last = quote.rstrip()[-1:]
    return end + 1 if last and not last.isalnum() and page_text[end:end + 1] == last else end


def quote_lines(textpage, quote: str) -> list[tuple[float, float, float, float]]:
    """The boxes (left, bottom, right, top in PDF points) of the lines that `quote` covers on a
    pypdfium2 text page: its characters' boxes merged while they stay on one line."""
    count = textpage.count_chars()
    page_text = "".join(_char(textpage, i) for i in range(count))
    span = find_quote(page_text, quote)
    if span is None:
        return []
    lines: list[list[float]] = []
    for i in range(*span):
        if page_text[i].isspace():
            continue
        left, bottom, right, top = textpage.get_charbox(i)
        if right <= left or top <= bottom:
            continue
        line = lines[-1] if lines else None
        middle = (bottom + top) / 2
        if line is not None and line[1] <= middle <= line[3] and left >= line[0] - 1:
            line[0], line[1], line[2], line[3] = min(line[0], left), min(line[1], bottom), max(line[2], right), max(line[3], top)
        else:
            lines.append([left, bottom, right, top])
    return [tuple(line) for line in lines]


def _char(textpage, index: int) -> str:
    import pypdfium2.raw as pdfium_c

    code = pdfium_c.FPDFText_GetUnicode(textpage.raw, index)
    return chr(code) if 0 < code < 0x110000 else " "
