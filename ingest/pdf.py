"""Read a PDF's text as a reader would: the body in reading order, without the page furniture.

Text extraction that walks the content stream gives what is *printed*, not what is *written*:
running headers and footers and page numbers inside every other sentence, words split as
"traf-" / "ficking", footnotes glued to the body, and two columns interleaved line by line.
Quotes taken from such text are not what the document says, so this module rebuilds the text
from the position and size of every character (PDFium through pypdfium2):

1. characters → lines: grouped by baseline, split where a horizontal gap is a column gutter;
   small raised characters (footnote references) are kept apart from the words;
2. running headers/footers (the same line at the top or bottom of most pages, page-number
   digits allowed to vary) and bare page numbers ("3", "Page 3 of 12", "- 3 -") are dropped;
3. footnotes (a block of smaller type at the page bottom, or marker lines under a short rule)
   become their own units, citable as "p. 4, note 2";
4. a page whose lines fall on either side of a clear gutter is read column by column;
5. a word hyphenated across a line end is rejoined when the document's own vocabulary (or,
   failing that, a conservative rule) says the hyphen was the typesetter's.

Every unit keeps its page number, since a citation says "p. N".
"""

from __future__ import annotations

import ctypes
import math
import re
import statistics
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from assistant.errors import IngestError

# --- tuning constants (fractions of a line's font box height unless said otherwise) -----------
WORD_GAP = 0.15  # a gap wider than this between two characters is a space
COLUMN_GAP = 1.2  # a gap wider than this inside a row splits it into two segments
SUPERSCRIPT_RATIO = 0.8  # a character this much smaller than its row, raised, is a superscript
SMALL_TYPE_RATIO = 0.9  # footnote lines are set at most this fraction of the body size
MARGIN_ZONE = 0.2  # running headers/footers sit within this fraction of the page height
MARGIN_LINES = 3  # ... and among the first/last this many lines of a page
RUNNING_SHARE = 0.5  # a margin line repeated on at least this share of pages is furniture
RUNNING_MIN_PAGES = 3
PARAGRAPH_GAP = 1.35  # a baseline step this many times the usual line step starts a paragraph

PAGE_NUMBER_RE = re.compile(
    r"^(?:(?:page|p\.|pg\.?|seite|página|стр\.?)\s*)?[-–—]?\s*(?:\d{1,4}|[ivxlcdm]{1,7})\s*[-–—]?"
    r"(?:\s*(?:of|/|von|de|из)\s*\d{1,4})?$",
    re.IGNORECASE,
)
NOTE_MARKER_RE = re.compile(r"^(?:\((\d{1,3})\)|\[(\d{1,3})\]|(\d{1,3})[.)]?|([*†‡§]+))\s+(?=\S)")
SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
LIGATURES = set("ﬀﬁﬂﬃﬄﬅﬆ")
HYPHENS = {"-", "\u00ad", "\u2010", "\x02"}  # PDFium reports a line-end hyphen it recognised as \x02
# Words that form genuine hyphenated compounds ("so-called", "self-help"); a line-end hyphen
# after one of them is kept unless the document itself writes the joined word.
COMPOUND_HEADS = {
    "so", "self", "well", "non", "ex", "anti", "cross", "pre", "post", "co", "multi", "inter",
    "long", "short", "high", "low", "full", "part", "first", "second", "third", "follow", "one",
    "two", "three", "four", "five", "ten", "all", "half", "child", "gender", "age", "state",
    "country", "law", "case", "sex", "labour", "labor", "decision", "policy", "time", "front",
    "mid", "semi", "sub", "vice", "quasi", "cost", "risk", "victim", "human", "rights",
}


@dataclass
class Glyph:
    char: str
    x0: float
    x1: float
    baseline: float
    top: float
    bottom: float
    size: float  # height of the font box (ascent to descent), in points
    space_before: bool


@dataclass
class Line:
    """One run of text on one baseline, not crossing a column gutter."""

    page: int
    x0: float
    x1: float
    top: float
    bottom: float
    baseline: float
    size: float
    text: str  # without superscripts (the words a reader quotes)
    marker: str = ""  # a leading superscript (a footnote's own number), if any

    @property
    def width(self) -> float:
        return self.x1 - self.x0


@dataclass
class Footnote:
    page: int
    marker: str
    text: str


@dataclass
class PdfPage:
    number: int
    height: float
    width: float
    lines: list[Line]
    rules: list[tuple[float, float, float]] = field(default_factory=list)  # short horizontal strokes: (x0, x1, y)


@dataclass
class PdfText:
    """What `extract_pdf` read: per page, the body text and the footnotes, plus the title."""

    title: str
    pages: list[str]
    footnotes: list[list[Footnote]]


# --- opening ------------------------------------------------------------------------------------
def _open(data: bytes):
    import pypdfium2 as pdfium

    if b"%%EOF" not in data[-2048:]:
        raise IngestError(
            "The PDF is damaged or incomplete (its end-of-file marker is missing: was the download or "
            "copy cut short?); re-export or re-download it and ingest again."
        )
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower() or "security" in str(exc).lower():
            raise IngestError("The PDF is encrypted with a password; save an unprotected copy and ingest that.") from exc
        raise IngestError(f"The PDF is damaged or not a PDF ({exc}); re-export it and ingest again.") from exc


# --- characters → lines -------------------------------------------------------------------------
def _glyphs(textpage) -> list[Glyph]:
    import pypdfium2.raw as raw

    handle = textpage.raw
    box = raw.FS_RECTF()
    x, y = ctypes.c_double(), ctypes.c_double()
    glyphs: list[Glyph] = []
    pending_space = False
    for index in range(textpage.count_chars()):
        code = raw.FPDFText_GetUnicode(handle, index)
        char = chr(code) if code else ""
        if not char or char.isspace() or raw.FPDFText_IsGenerated(handle, index) == 1:
            pending_space = True
            continue
        if char == "\ufffe" or char == "\x02":
            char = "-"
        if not raw.FPDFText_GetLooseCharBox(handle, index, box):
            continue
        raw.FPDFText_GetCharOrigin(handle, index, x, y)
        size = box.top - box.bottom
        if size <= 0:
            continue
        if char in LIGATURES:
            char = unicodedata.normalize("NFKC", char)
        glyphs.append(Glyph(char, box.left, box.right, y.value, box.top, box.bottom, size, pending_space))
        pending_space = False
    return glyphs


def _rows(glyphs: list[Glyph]) -> list[list[Glyph]]:
    """Glyphs grouped by baseline, top of the page first; a raised small glyph (a footnote
    reference) joins the row it is attached to rather than forming a row of its own."""
    rows: list[list[Glyph]] = []
    for glyph in sorted(glyphs, key=lambda g: -g.baseline):
        if rows and abs(rows[-1][0].baseline - glyph.baseline) <= 0.2 * min(rows[-1][0].size, glyph.size):
            rows[-1].append(glyph)
        else:
            rows.append([glyph])
    merged: list[list[Glyph]] = []
    for index, row in enumerate(rows):
        size = max(g.size for g in row)
        below = rows[index + 1] if index + 1 < len(rows) else None
        if below is not None:
            below_size = statistics.median(g.size for g in below)
            raised = below[0].baseline < row[0].baseline < below[0].baseline + 0.8 * below_size
            if size < SUPERSCRIPT_RATIO * below_size and raised and len(row) <= 8:
                below.extend(row)
                continue
        merged.append(row)
    return merged


def _segment_lines(page: int, row: list[Glyph]) -> list[Line]:
    row = sorted(row, key=lambda g: g.x0)
    body_size = statistics.median(g.size for g in row)
    baseline = statistics.median(g.baseline for g in row if g.size >= SUPERSCRIPT_RATIO * body_size)
    segments: list[list[Glyph]] = [[]]
    previous: Glyph | None = None
    for glyph in row:
        if previous is not None and glyph.x0 - previous.x1 > COLUMN_GAP * body_size:
            segments.append([])
        segments[-1].append(glyph)
        previous = glyph
    lines = []
    for segment in segments:
        normal = [g for g in segment if not _is_superscript(g, body_size, baseline)]
        if not normal:
            continue
        marker = ""
        for glyph in segment:
            if not _is_superscript(glyph, body_size, baseline):
                break
            marker += glyph.char
        lines.append(
            Line(
                page=page,
                x0=min(g.x0 for g in segment),
                x1=max(g.x1 for g in segment),
                top=max(g.top for g in normal),
                bottom=min(g.bottom for g in normal),
                baseline=baseline,
                size=statistics.median(g.size for g in normal),
                text=_spell(normal),
                marker=marker.translate(SUPERSCRIPT_DIGITS),
            )
        )
    return lines


def _is_superscript(glyph: Glyph, size: float, baseline: float) -> bool:
    return glyph.size < SUPERSCRIPT_RATIO * size and glyph.baseline > baseline + 0.15 * size


def _spell(glyphs: list[Glyph]) -> str:
    out: list[str] = []
    previous: Glyph | None = None
    for glyph in glyphs:
        if previous is not None and (glyph.space_before or glyph.x0 - previous.x1 > WORD_GAP * glyph.size):
            out.append(" ")
        out.append(glyph.char)
        previous = glyph
    return "".join(out).strip()


def _rules(page) -> list[tuple[float, float, float]]:
    """Short horizontal strokes (a footnote separator is one)."""
    import pypdfium2.raw as raw

    width = page.get_width()
    found = []
    for obj in page.get_objects(filter=[raw.FPDF_PAGEOBJ_PATH]):
        left, bottom, right, top = obj.get_bounds()
        if top - bottom <= 2.0 and 20.0 <= right - left <= 0.6 * width:
            found.append((left, right, (top + bottom) / 2))
    return found


def read_pages(data: bytes) -> tuple[list[PdfPage], str]:
    """Every page's lines (and short rules), and the document's metadata title."""
    document = _open(data)
    try:
        title = (document.get_metadata_dict().get("Title") or "").strip()
        pages = []
        for number in range(1, len(document) + 1):
            page = document[number - 1]
            textpage = page.get_textpage()
            lines = [line for row in _rows(_glyphs(textpage)) for line in _segment_lines(number, row)]
            pages.append(PdfPage(number, page.get_height(), page.get_width(), lines, _rules(page)))
            textpage.close()
            page.close()
        return pages, title
    except IngestError:
        raise
    except Exception as exc:  # PDFium surfaces low-level errors on corrupt pages
        raise IngestError(f"The PDF could not be read ({type(exc).__name__}: {exc}); re-export it and ingest again.") from exc
    finally:
        document.close()


# --- page furniture -----------------------------------------------------------------------------
def _furniture_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _margin_lines(page: PdfPage) -> tuple[list[Line], list[Line]]:
    """Candidates for running headers (top) and footers (bottom) of a page."""
    ordered = sorted(page.lines, key=lambda l: -l.baseline)
    # Segments of one row count as one line of the page's order.
    rows: list[float] = []
    for line in ordered:
        if not rows or abs(rows[-1] - line.baseline) > 1.0:
            rows.append(line.baseline)
    top_rows = set(rows[:MARGIN_LINES])
    bottom_rows = set(rows[-MARGIN_LINES:])
    zone = MARGIN_ZONE * page.height
    top = [l for l in ordered if _row_of(l, top_rows) and l.top >= page.height - zone]
    bottom = [l for l in ordered if _row_of(l, bottom_rows) and l.bottom <= zone]
    return top, bottom


def _row_of(line: Line, rows: set[float]) -> bool:
    return any(abs(line.baseline - r) <= 1.0 for r in rows)


def remove_furniture(pages: list[PdfPage]) -> None:
    """Drop running headers/footers and bare page numbers from every page, in place."""
    margins = [_margin_lines(page) for page in pages]
    seen: Counter[tuple[str, str]] = Counter()
    for top, bottom in margins:
        keys = {("top", _furniture_key(l.text)) for l in top} | {("bottom", _furniture_key(l.text)) for l in bottom}
        seen.update(keys)
    needed = max(RUNNING_MIN_PAGES, math.ceil(RUNNING_SHARE * len(pages)))
    running = {key for key, count in seen.items() if count >= needed}
    for page, (top, bottom) in zip(pages, margins):
        drop = set()
        for zone, lines in (("top", top), ("bottom", bottom)):
            for line in lines:
                if (zone, _furniture_key(line.text)) in running or PAGE_NUMBER_RE.match(line.text.strip()):
                    drop.add(id(line))
        page.lines = [l for l in page.lines if id(l) not in drop]


# --- footnotes ----------------------------------------------------------------------------------
def body_size(pages: list[PdfPage]) -> float:
    """The size most of the document's characters are set in, counting only lines above the
    bottom quarter of their page (where footnotes are) unless there are no others."""
    sizes: Counter[float] = Counter()
    fallback: Counter[float] = Counter()
    for page in pages:
        for line in page.lines:
            size = round(line.size * 2) / 2
            fallback[size] += len(line.text)
            if line.baseline > 0.25 * page.height:
                sizes[size] += len(line.text)
    chosen = sizes or fallback
    return chosen.most_common(1)[0][0] if chosen else 0.0


def _note_start(line: Line) -> tuple[str, str] | None:
    """(marker, text after it) when the line opens a footnote."""
    if line.marker:
        return line.marker, line.text
    match = NOTE_MARKER_RE.match(line.text)
    if match:
        marker = next(g for g in match.groups() if g)
        return marker, line.text[match.end() :]
    return None


def split_footnotes(page: PdfPage, size: float) -> list[Line]:
    """The page's footnote lines (removed from `page.lines`), top to bottom.

    A footnote block is either the lines under a short rule in the lower half of the page whose
    first line starts with a marker, or the run of lines in smaller type at the very bottom whose
    first line starts with a marker. Requiring the marker keeps small captions in the body.
    """
    ordered = sorted(page.lines, key=lambda l: (-l.baseline, l.x0))
    block: list[Line] = []
    for x0, x1, y in sorted(page.rules, key=lambda r: r[2]):
        if y > page.height / 2:
            continue
        below = [l for l in ordered if l.top <= y + 1.0]
        if below and _note_start(below[0]) and all(l.size < size * 1.02 for l in below):
            block = below
            break
    if not block:
        for line in reversed(ordered):
            if line.size >= SMALL_TYPE_RATIO * size:
                break
            block.insert(0, line)
        while block and not _note_start(block[0]):
            block.pop(0)
    if not block:
        return []
    chosen = {id(l) for l in block}
    page.lines = [l for l in page.lines if id(l) not in chosen]
    return block


def footnotes_from(lines: list[Line], vocabulary: "Vocabulary") -> list[Footnote]:
    notes: list[tuple[str, list[str], int]] = []
    for line in lines:
        start = _note_start(line)
        if start or not notes:
            marker, text = start or ("", line.text)
            notes.append((marker, [text], line.page))
        else:
            notes[-1][1].append(line.text)
    return [Footnote(page, marker, " ".join(join_hyphenated(parts, vocabulary).split("\n"))) for marker, parts, page in notes]


# --- reading order ------------------------------------------------------------------------------
def reading_order(lines: list[Line], size: float) -> list[list[Line]]:
    """The page's lines as blocks in reading order: full-width blocks as they come, and in a
    two-column stretch all of the left column before the right one."""
    ordered = sorted(lines, key=lambda l: (-l.baseline, l.x0))
    if not ordered:
        return []
    gutter = _gutter(ordered, size)
    if gutter is None:
        return [ordered]
    left_edge, right_edge = gutter
    blocks: list[list[Line]] = []
    full: list[Line] | None = None
    columns: tuple[list[Line], list[Line]] | None = None
    for line in ordered:
        if line.x0 < left_edge and line.x1 > right_edge:  # spans the gutter: a full-width line
            if columns is not None:
                blocks.extend(c for c in columns if c)
                columns = None
            if full is None:
                full = []
                blocks.append(full)
            full.append(line)
        else:
            full = None
            if columns is None:
                columns = ([], [])
            columns[0 if (line.x0 + line.x1) / 2 <= (left_edge + right_edge) / 2 else 1].append(line)
    if columns is not None:
        blocks.extend(c for c in columns if c)
    return blocks


def _gutter(lines: list[Line], size: float) -> tuple[float, float] | None:
    """(x where the left column ends, x where the right one starts) when the page has two columns."""
    left = min(l.x0 for l in lines)
    right = max(l.x1 for l in lines)
    width = right - left
    if width <= 0:
        return None
    narrow = [l for l in lines if l.width < 0.55 * width]
    if len(narrow) < 6:
        return None
    # Candidate gutter: the widest x-range in the middle half that no narrow line covers.
    lo, hi = left + 0.25 * width, left + 0.75 * width
    covered = sorted((max(l.x0, lo), min(l.x1, hi)) for l in narrow if l.x1 > lo and l.x0 < hi)
    best: tuple[float, float] | None = None
    cursor = lo
    for start, end in covered + [(hi, hi)]:
        if start > cursor and (best is None or start - cursor > best[1] - best[0]):
            best = (cursor, start)
        cursor = max(cursor, end)
    if best is None or best[1] - best[0] < 0.5 * size:
        return None
    gap_start, gap_end = best
    left_col = [l for l in narrow if l.x1 <= gap_start + 0.5]
    right_col = [l for l in narrow if l.x0 >= gap_end - 0.5]
    if len(left_col) < 3 or len(right_col) < 3:
        return None
    # Text columns have a common left edge and long lines; table cells and stray labels do not.
    edge = Counter(round(l.x0) for l in right_col).most_common(1)[0][1]
    long_enough = statistics.median(l.width for l in left_col) >= 0.25 * width and statistics.median(
        l.width for l in right_col
    ) >= 0.25 * width
    if edge < 3 or not long_enough:
        return None
    return gap_start, gap_end


# --- hyphenation --------------------------------------------------------------------------------
WORD_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


class Vocabulary:
    """The words a document writes (lower-cased), to tell a typesetter's hyphen from a real one."""

    def __init__(self, texts: list[str]):
        self.words: set[str] = set()
        for text in texts:
            for word in WORD_RE.findall(text.lower()):
                self.words.add(word)
                self.words.update(word.split("-"))

    def join(self, head: str, tail: str) -> bool:
        """Whether `head-` at a line end followed by `tail` is one word broken by the typesetter."""
        head, tail = head.lower(), tail.lower()
        if head + tail in self.words:
            return True
        if f"{head}-{tail}" in self.words:
            return False
        return head not in COMPOUND_HEADS


LINE_END_HYPHEN_RE = re.compile(r"([^\W\d_]+)[-\u00ad\u2010]$")
CONTINUATION_RE = re.compile(r"^([a-zà-ÿ][^\W\d_]*)(.*)$", re.DOTALL)


def join_hyphenated(lines: list[str], vocabulary: Vocabulary) -> str:
    """Lines joined with newlines, a word hyphenated across a line end made whole again
    (its second half moves up to the first line, so no line is merged)."""
    out = list(lines)
    for index in range(len(out) - 1):
        match = LINE_END_HYPHEN_RE.search(out[index])
        following = out[index + 1].lstrip()
        continuation = CONTINUATION_RE.match(following)
        if not match or not continuation:
            continue
        tail, rest = continuation.group(1), continuation.group(2)
        if vocabulary.join(match.group(1), tail):
            out[index] = out[index][: match.end(1)] + tail
        else:
            out[index] = out[index] + tail
        rest = rest.lstrip()
        # A trailing comma or full stop stays with the word it follows.
        punct = re.match(r"^[.,;:!?)\]»”’']+", rest)
        if punct:
            out[index] += punct.group(0)
            rest = rest[punct.end() :].lstrip()
        out[index + 1] = rest
    return "\n".join(out)


def _page_text(blocks: list[list[Line]], vocabulary: Vocabulary) -> str:
    """Body text of one page: a line per line, a blank line between paragraphs."""
    steps = [b.baseline - a.baseline for block in blocks for a, b in zip(block, block[1:])]
    usual = statistics.median([-s for s in steps if s < 0] or [0.0])
    paragraphs: list[list[str]] = [[]]
    for block in blocks:
        previous: Line | None = None
        for line in block:
            step = previous.baseline - line.baseline if previous is not None else 0.0
            if previous is not None and usual > 0 and step > PARAGRAPH_GAP * usual:
                paragraphs.append([])
            paragraphs[-1].append(line.text)
            previous = line
    texts = [join_hyphenated(p, vocabulary) for p in paragraphs if p]
    text = "\n\n".join(texts)
    text = re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+\n", "\n", text))
    return text.strip()


# --- the whole document -------------------------------------------------------------------------
def extract_pdf(data: bytes) -> PdfText:
    """The document's body text per page (furniture removed, columns in order, words whole)
    and its footnotes per page."""
    pages, title = read_pages(data)
    remove_furniture(pages)
    size = body_size(pages)
    note_lines = [split_footnotes(page, size) if size else [] for page in pages]
    vocabulary = Vocabulary([line.text for page in pages for line in page.lines] + [l.text for ls in note_lines for l in ls])
    texts = [_page_text(reading_order(page.lines, size), vocabulary) for page in pages]
    notes = [footnotes_from(lines, vocabulary) for lines in note_lines]
    return PdfText(title=title, pages=texts, footnotes=notes)
