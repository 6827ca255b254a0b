"""Read a PDF's text as a reader would: the body in reading order, without the page furniture.

Text extraction that walks the content stream gives what is *printed*, not what is *written*:
running headers and footers and page numbers inside every other sentence, words split as
"traf-" / "ficking", footnotes glued to the body, and two columns interleaved line by line.
Quotes taken from such text are not what the document says, so this module rebuilds the text
from the position and size of every character (PDFium through pypdfium2):

1. characters → lines: grouped by baseline, split where a horizontal gap is a column gutter;
   small raised characters (footnote references) are kept apart from the words;
2. running headers/footers (the same line at the top or bottom of most pages, or a chapter's
   header whose number runs with the page) and page numbers ("3", "Page 3 of 12", "- 3 -")
   are dropped;
3. footnotes (numbered lines at the page bottom, in small type or under a short rule, that
   the body refers to) become their own units, citable as "p. 4, note 2";
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

from assistant.domain.errors import IngestError
from assistant.library.pdfium_lock import PDFIUM
from ingest.headings import ARTICLE_LINE_RE, looks_like_article_heading

# --- tuning constants (fractions of a line's font box height unless said otherwise) -----------
WORD_GAP = 0.15  # a gap wider than this between two characters is a space
COLUMN_GAP = 1.2  # a gap wider than this inside a row splits it into two segments
SUPERSCRIPT_RATIO = 0.8  # a character this much smaller than its row, raised, is a superscript
SMALL_TYPE_RATIO = 0.9  # footnote lines are set at most this fraction of the body size
MARGIN_ZONE = 0.2  # running headers/footers sit within this fraction of the page height
MARGIN_LINES = 3  # ... and among the first/last this many lines of a page
RUNNING_SHARE = 0.5  # a margin line repeated on at least this share of pages is furniture
RUNNING_MIN_PAGES = 2  # (a two-page leaflet with the same header on both pages counts)
PARAGRAPH_GAP = 1.35  # a baseline step this many times the usual line step starts a paragraph

PAGE_NUMBER_RE = re.compile(
    r"^(?:(?:page|p\.|pg\.?|seite|página|стр\.?)\s*)?[-–—]?\s*(?:\d{1,4}|[ivxlcdm]{1,7})\s*[-–—]?"
    r"(?:\s*(?:of|/|von|de|из)\s*\d{1,4})?$",
    re.IGNORECASE,
)
NOTE_MARKER_RE = re.compile(r"^(?:\((\d{1,3})\)|\[(\d{1,3})\]|(\d{1,3})[.)]?|([*†‡§]+))\s+(?=\S)")
SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
LIGATURES = set("ﬀﬁﬂﬃﬄﬅﬆ")
BOLD_NAME_RE = re.compile(r"bold|black|heavy|semibold|demi", re.IGNORECASE)
# Words that form genuine hyphenated compounds ("so-called", "self-help"); a line-end hyphen
# after one of them is kept unless the document itself writes the joined word.
COMPOUND_HEADS = {
    "so", "self", "well", "non", "ex", "anti", "cross", "pre", "post", "co", "multi", "inter",
    "long", "short", "high", "low", "full", "part", "first", "second", "third", "follow", "one",
    "two", "three", "four", "five", "ten", "all", "half", "child", "gender", "age", "state",
    "country", "law", "case", "sex", "labour", "labor", "decision", "policy", "time", "front",
    "mid", "semi", "sub", "vice", "quasi", "cost", "risk", "victim", "human", "rights",
}
# Endings that are never words of their own: after one of these, a line-end hyphen is the
# typesetter's even after a compound-forming head ("follow-" / "ing").
SUFFIXES = {
    "ing", "ings", "ed", "er", "ers", "est", "ly", "tion", "tions", "sion", "sions", "ment", "ments",
    "ness", "ity", "ities", "ive", "ives", "ance", "ances", "ence", "ences", "al", "ally", "ous", "able",
    "ible", "ful", "less", "ise", "ize", "ised", "ized", "ism", "ist", "ists", "ure", "ures", "age",
    "ages", "ship", "ial", "ian", "ic", "ics", "ish", "ary", "ory", "ant", "ants", "ent", "ents",
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
    turn: int | None = 0  # quarter turns of the text direction (None: at a slant, e.g. a watermark)
    bold: bool = False


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
    text: str  # without footnote references (the words a reader quotes)
    marker: str = ""  # a leading superscript (a footnote's own number), if any
    refs: list[str] = field(default_factory=list)  # footnote references (superscripts) in the line
    rtl: bool = False
    bold: bool = False

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
    """What `extract_pdf` read: per page, the body text, its headings (line text -> level, 1 the
    largest type), the footnotes and whether its last paragraph runs on to the next page; plus
    the title."""

    title: str
    pages: list[str]
    footnotes: list[list[Footnote]]
    headings: list[dict[str, int]] = field(default_factory=list)
    runs_on: list[bool] = field(default_factory=list)


# --- opening ------------------------------------------------------------------------------------
def _open(data: bytes):
    import pypdfium2 as pdfium

    if b"%%EOF" not in data[-65536:]:
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
    name = ctypes.create_string_buffer(128)
    flags = ctypes.c_int()
    glyphs: list[Glyph] = []
    pending_space = False
    for index in range(textpage.count_chars()):
        code = raw.FPDFText_GetUnicode(handle, index)
        char = chr(code) if code else ""
        if not char or char.isspace() or raw.FPDFText_IsGenerated(handle, index) == 1:
            pending_space = True
            continue
        if char in ("\ufffe", "\x02"):  # PDFium's mark for a line-end hyphen it recognised
            char = "-"
        if not raw.FPDFText_GetLooseCharBox(handle, index, box):
            continue
        raw.FPDFText_GetCharOrigin(handle, index, x, y)
        if box.top - box.bottom <= 0 and box.right - box.left <= 0:
            continue
        if char in LIGATURES:
            char = unicodedata.normalize("NFKC", char)
        raw.FPDFText_GetFontInfo(handle, index, name, len(name), flags)
        bold = raw.FPDFText_GetFontWeight(handle, index) >= 600 or bool(BOLD_NAME_RE.search(name.value.decode("latin-1")))
        glyphs.append(
            Glyph(char, box.left, box.right, y.value, box.top, box.bottom, box.top - box.bottom, pending_space,
                  _quarter_turns(raw.FPDFText_GetCharAngle(handle, index)), bold)
        )
        pending_space = False
    return glyphs


def _quarter_turns(angle: float) -> int | None:
    """0-3 for text running right, up, left or down; None for slanted text or no angle."""
    if angle < 0:
        return 0
    turns = math.degrees(angle) / 90
    nearest = round(turns)
    return nearest % 4 if abs(turns - nearest) < 0.06 else None


def _upright(glyphs: list[Glyph], width: float, height: float) -> tuple[list[Glyph], float, float]:
    """The glyphs of the page's main text direction, in coordinates where that text runs left to
    right (a landscape table set sideways reads like any page); slanted watermarks are dropped."""
    turns = Counter(g.turn for g in glyphs if g.turn is not None)
    if not turns:
        return [], width, height
    turn = turns.most_common(1)[0][0]
    kept = [g for g in glyphs if g.turn == turn]
    if turn == 0:
        return kept, width, height

    def rotate(px: float, py: float) -> tuple[float, float]:
        # PDFium measures the angle clockwise: one quarter turn is text running down the page.
        if turn == 1:
            return height - py, px
        if turn == 2:
            return width - px, height - py
        return py, width - px

    turned = []
    for g in kept:
        (ax, ay), (bx, by) = rotate(g.x0, g.bottom), rotate(g.x1, g.top)
        low, high = min(ay, by), max(ay, by)
        # The baseline sits about a fifth of the font box above its bottom (the descent).
        turned.append(Glyph(g.char, min(ax, bx), max(ax, bx), low + 0.2 * (high - low), high, low, high - low, g.space_before, 0, g.bold))
    new_width, new_height = (height, width) if turn % 2 else (width, height)
    return turned, new_width, new_height


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
            if size < SUPERSCRIPT_RATIO * below_size and raised and len(row) <= 12:
                below.extend(row)
                continue
        merged.append(row)
    return merged


NOTE_REF_CHARS = set("0123456789⁰¹²³⁴⁵⁶⁷⁸⁹*†‡§,")


def segment_lines(page: int, row: list[Glyph]) -> list[Line]:
    row = sorted(row, key=lambda g: g.x0)
    row_size = statistics.median(g.size for g in row)
    segments: list[list[Glyph]] = [[]]
    previous: Glyph | None = None
    for glyph in row:
        if previous is not None and glyph.x0 - previous.x1 > COLUMN_GAP * row_size:
            segments.append([])
        segments[-1].append(glyph)
        previous = glyph
    lines = []
    for segment in segments:
        # Size and baseline per segment: a heading in one column must not make the body text
        # beside it look like superscripts.
        body_size = statistics.median(g.size for g in segment)
        baseline = statistics.median(g.baseline for g in segment if g.size >= SUPERSCRIPT_RATIO * body_size)
        raised = [_is_superscript(g, body_size, baseline) for g in segment]
        marker = ""
        for glyph, up in zip(segment, raised):
            if not up:
                break
            marker += glyph.char
        # A raised number or symbol is a footnote reference: out of the words, kept as a ref.
        is_ref = [up and g.char in NOTE_REF_CHARS for g, up in zip(segment, raised)]
        words = [g for g, ref in zip(segment, is_ref) if not ref]
        if not words:
            continue
        refs = re.findall(r"[^,]+", "".join(g.char for g, ref in zip(segment, is_ref) if ref).translate(SUPERSCRIPT_DIGITS))
        rtl = _right_to_left(words)
        lines.append(
            Line(
                page=page,
                x0=min(g.x0 for g in segment),
                x1=max(g.x1 for g in segment),
                top=max(g.top for g in words),
                bottom=min(g.bottom for g in words),
                baseline=baseline,
                size=statistics.median(g.size for g in words),
                text=_spell(words[::-1] if rtl else words, rtl),
                marker=marker.translate(SUPERSCRIPT_DIGITS) if all(c in NOTE_REF_CHARS for c in marker) else "",
                refs=refs,
                rtl=rtl,
                bold=sum(g.bold for g in words) > len(words) / 2,
            )
        )
    return lines


def _right_to_left(glyphs: list[Glyph]) -> bool:
    """Whether most letters are Hebrew/Arabic (read right to left)."""
    letters = [unicodedata.bidirectional(g.char) for g in glyphs if g.char.isalpha()]
    return bool(letters) and sum(b in ("R", "AL") for b in letters) > len(letters) / 2


def _is_superscript(glyph: Glyph, size: float, baseline: float) -> bool:
    return glyph.size < SUPERSCRIPT_RATIO * size and glyph.baseline > baseline + 0.15 * size


def _spell(glyphs: list[Glyph], rtl: bool = False) -> str:
    """The glyphs (in reading order) as text, with a space where the gap is a word gap."""
    out: list[str] = []
    previous: Glyph | None = None
    for glyph in glyphs:
        if previous is not None:
            gap = previous.x0 - glyph.x1 if rtl else glyph.x0 - previous.x1
            if glyph.space_before or gap > WORD_GAP * glyph.size:
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
    """Every page's lines (and short rules), and the document's metadata title. PDFium is called
    under the process-wide lock (it is not thread-safe; the viewer renders pages meanwhile)."""
    with PDFIUM:
        return _read_pages(data)


def _read_pages(data: bytes) -> tuple[list[PdfPage], str]:
    document = _open(data)
    try:
        title = (document.get_metadata_dict().get("Title") or "").strip()
        pages = []
        for number in range(1, len(document) + 1):
            page = document[number - 1]
            textpage = page.get_textpage()
            left, bottom, right, top = page.get_bbox()  # media box within crop box (inherited ones too)
            glyphs = _glyphs(textpage)
            for g in glyphs:  # page coordinates from the media box's corner
                g.x0, g.x1, g.top, g.bottom, g.baseline = g.x0 - left, g.x1 - left, g.top - bottom, g.bottom - bottom, g.baseline - bottom
            # Text wholly off the page is never seen by a reader (and would stretch the layout).
            glyphs = [g for g in glyphs if g.x1 > 0 and g.x0 < right - left and g.top > 0 and g.bottom < top - bottom]
            glyphs, width, height = _upright(glyphs, right - left, top - bottom)
            lines = [line for row in _rows(glyphs) for line in segment_lines(number, row)]
            rules = _rules(page) if width == right - left else []  # no separators on a sideways page
            pages.append(PdfPage(number, height, width, lines, [(a - left, b - left, y - bottom) for a, b, y in rules]))
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
    """Exact text, case and spacing aside: masking digits would make 'Text of article 1' on
    page 1 and 'Text of article 2' on page 2 look like one running line."""
    return " ".join(text.lower().split())


def _page_rows(page: PdfPage) -> list[list[Line]]:
    """The page's lines grouped by row (segments on one baseline), top first."""
    rows: list[list[Line]] = []
    for line in sorted(page.lines, key=lambda ln: (-ln.baseline, ln.x0)):
        if rows and abs(rows[-1][0].baseline - line.baseline) <= 1.0:
            rows[-1].append(line)
        else:
            rows.append([line])
    return rows


def _margin_rows(page: PdfPage) -> tuple[list[list[Line]], list[list[Line]]]:
    """Candidates for running headers (top rows) and footers (bottom rows) of a page."""
    rows = _page_rows(page)
    zone = MARGIN_ZONE * page.height
    top = [r for r in rows[:MARGIN_LINES] if min(ln.top for ln in r) >= page.height - zone]
    bottom = [r for r in rows[-MARGIN_LINES:] if max(ln.bottom for ln in r) <= zone]
    return top, bottom


EDGE_NUMBER_RE = re.compile(r"^\s*(\d{1,4})\b(?![.,]\d)|\b(\d{1,4})\s*$")
NUMBERED_HEADING_RE = re.compile(r"^\s*(?:Article|Art\.|Chapter|Section|Part|Annex|Rule|Principle)\s+\d+\s*$", re.IGNORECASE)


def _edge_number(row: list[Line]) -> tuple[str, int, str] | None:
    """('start' or 'end', n, the rest of the row) when the row begins or ends with a number."""
    text = " ".join(ln.text for ln in row)
    if NUMBERED_HEADING_RE.match(text):
        return None
    match = EDGE_NUMBER_RE.search(text)
    if not match:
        return None
    rest = _furniture_key(text[: match.start()] + text[match.end() :])
    return ("start", int(match.group(1)), rest) if match.group(1) else ("end", int(match.group(2)), rest)


def remove_furniture(pages: list[PdfPage]) -> None:
    """Drop running headers/footers and page numbers from every page, in place.

    Three signs, each enough: a margin line repeated word for word on most pages; a page
    number ("3", "Page 3 of 12", "- 3 -") alone on the first or last row of the page, or beside
    a running line there; a margin row that starts or
    ends with a number that runs with the page number on a neighbouring page ("Chapter 2:
    Scope    14", a chapter's own running header).
    """
    margins = [_margin_rows(page) for page in pages]
    seen: Counter[tuple[str, str]] = Counter()
    for top, bottom in margins:
        keys = {("top", _furniture_key(ln.text)) for r in top for ln in r}
        keys |= {("bottom", _furniture_key(ln.text)) for r in bottom for ln in r}
        seen.update(keys)
    needed = max(RUNNING_MIN_PAGES, math.ceil(RUNNING_SHARE * len(pages)))
    running = {key for key, count in seen.items() if count >= needed}
    # (zone, side, number - page) of each page's outermost numbered margin row, and how many
    # pages have the rest of that row (a chapter's header recurs; a footnote's text does not)
    numbered: dict[int, set[tuple[str, str, int]]] = defaultdict(set)
    rests: Counter[tuple[str, str]] = Counter()
    for page, (top, bottom) in zip(pages, margins):
        for zone, rows in (("top", top[:1]), ("bottom", bottom[-1:])):
            for row in rows:
                edge = _edge_number(row)
                if edge:
                    numbered[page.number].add((zone, edge[0], edge[1] - page.number))
                    rests[(zone, edge[2])] += 1
    for page, (top, bottom) in zip(pages, margins):
        drop: set[int] = set()
        for zone, rows in (("top", top), ("bottom", bottom)):
            for position, row in enumerate(rows):
                outermost = position == 0 if zone == "top" else position == len(rows) - 1
                edge = _edge_number(row) if outermost else None
                if edge and (rests[(zone, edge[2])] >= 2 or not edge[2]):
                    key = (zone, edge[0], edge[1] - page.number)
                    if any(key in numbered.get(page.number + step, ()) for step in (-2, -1, 1, 2)):
                        drop.update(id(ln) for ln in row)
                for line in row:
                    if (zone, _furniture_key(line.text)) in running:
                        drop.add(id(line))
                # A bare page number stands on the outermost row, alone or beside running text
                # (a "124" in the first row of a table is a figure).
                numbers = [ln for ln in row if PAGE_NUMBER_RE.match(ln.text.strip())]
                if outermost and numbers and all(id(ln) in drop for ln in row if not any(ln is n for n in numbers)):
                    drop.update(id(ln) for ln in numbers)
        page.lines = [ln for ln in page.lines if id(ln) not in drop]


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


def _numbered_in_order(block: list[Line]) -> bool:
    """Footnote numbers in a block count up by one ("69", "74", "69" is a hex dump, not notes)."""
    numbers = [int(start[0]) for start in map(_note_start, block) if start and start[0].isdigit()]
    return all(b == a + 1 for a, b in zip(numbers, numbers[1:]))


def _referenced(block: list[Line], body: list[Line]) -> bool:
    """Whether the body refers to a note of the block: a raised reference number, or the
    note's symbol ('*', '†') in the text, or the note's own number set raised."""
    refs = {r for line in body for r in line.refs}
    body_text = " ".join(line.text for line in body)
    for line in block:
        start = _note_start(line)
        if not start:
            continue
        marker = start[0]
        raised = marker.translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
        if line.marker or marker in refs or (not marker.isdigit() and marker in body_text) or (marker.isdigit() and raised in body_text):
            return True
    return False


def split_footnotes(page: PdfPage, size: float) -> list[Line]:
    """The page's footnote lines (removed from `page.lines`), top to bottom.

    The candidate block is the lines under the lowest short rule in the lower half of the page
    that has a marker line under it, or else the run of lines in smaller type at the very
    bottom. It is taken as footnotes when a line starts with a marker, the numbers count up,
    and two of three signs agree: it is set small, it sits under a rule, the body refers to one
    of its notes. Lines before the first marker end a note from the page before. So captions
    and small print without a marker, a code listing, or a numbered table under a table's
    rule stay in the body.
    """
    ordered = sorted(page.lines, key=lambda ln: (-ln.baseline, ln.x0))
    block: list[Line] = []
    ruled = False
    for _x0, _x1, y in sorted(page.rules, key=lambda r: r[2]):
        if y > page.height / 2:
            continue
        below = [ln for ln in ordered if ln.top <= y + 1.0]
        if any(_note_start(ln) for ln in below):
            block, ruled = below, True
            break
    if not block:
        for line in reversed(ordered):
            if line.size >= SMALL_TYPE_RATIO * size:
                break
            block.insert(0, line)
    if not block or not any(_note_start(ln) for ln in block) or not _numbered_in_order(block):
        return []
    chosen = {id(ln) for ln in block}
    small = all(ln.size < SMALL_TYPE_RATIO * size for ln in block)
    referenced = _referenced(block, [ln for ln in ordered if id(ln) not in chosen])
    if small + ruled + referenced < 2:
        return []
    page.lines = [ln for ln in page.lines if id(ln) not in chosen]
    return block


def footnotes_from(lines: list[Line], vocabulary: "Vocabulary", carried: str = "") -> list[Footnote]:
    """The notes of one page's footnote lines; lines before the first marker continue the note
    `carried` (the last one of the page before)."""
    notes: list[tuple[str, list[str], int]] = []
    for line in lines:
        start = _note_start(line)
        if start or not notes:
            marker, text = start or (carried, line.text)
            notes.append((marker, [text], line.page))
        else:
            notes[-1][1].append(line.text)
    return [Footnote(page, marker, " ".join(join_hyphenated(parts, vocabulary).split("\n"))) for marker, parts, page in notes]


# --- reading order ------------------------------------------------------------------------------
def reading_order(lines: list[Line], size: float, depth: int = 0) -> list[list[Line]]:
    """The page's lines as blocks in reading order: full-width blocks as they come, and in a
    stretch of columns all of the first column before the next (right to left for Arabic or
    Hebrew); a column that is itself split (three columns) is read the same way."""
    ordered = sorted(lines, key=lambda ln: (-ln.baseline, ln.x0))
    if not ordered:
        return []
    gutter = _gutter(ordered, size) if depth < 3 else None
    if gutter is None:
        return [ordered]
    left_edge, right_edge = gutter
    rtl = sum(ln.rtl for ln in ordered) > len(ordered) / 2
    blocks: list[list[Line]] = []
    full: list[Line] | None = None
    columns: tuple[list[Line], list[Line]] | None = None

    def flush() -> None:
        for column in (columns[::-1] if rtl else columns) if columns else ():
            blocks.extend(reading_order(column, size, depth + 1))

    for line in ordered:
        if line.x0 < left_edge and line.x1 > right_edge:  # spans the gutter: a full-width line
            flush()
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
    flush()
    return [b for b in blocks if b]


def _gutter(lines: list[Line], size: float) -> tuple[float, float] | None:
    """(x where the left column ends, x where the right one starts) when the page has two columns."""
    left = min(ln.x0 for ln in lines)
    right = max(ln.x1 for ln in lines)
    width = right - left
    if width <= 0:
        return None
    narrow = [ln for ln in lines if ln.width < 0.55 * width]
    if len(narrow) < 6:
        return None
    # Candidate gutter: the widest x-range in the middle half that no narrow line covers.
    lo, hi = left + 0.25 * width, left + 0.75 * width
    covered = sorted((max(ln.x0, lo), min(ln.x1, hi)) for ln in narrow if ln.x1 > lo and ln.x0 < hi)
    best: tuple[float, float] | None = None
    cursor = lo
    for start, end in covered + [(hi, hi)]:
        if start > cursor and (best is None or start - cursor > best[1] - best[0]):
            best = (cursor, start)
        cursor = max(cursor, end)
    if best is None or best[1] - best[0] < 0.5 * size:
        return None
    gap_start, gap_end = best
    left_col = [ln for ln in narrow if ln.x1 <= gap_start + 0.5]
    right_col = [ln for ln in narrow if ln.x0 >= gap_end - 0.5]
    if len(left_col) < 3 or len(right_col) < 3:
        return None
    # Text columns have a common left edge and lines of many words (most as long as the
    # column); table cells and stray labels do not.
    edge = Counter(round(ln.x0) for ln in right_col).most_common(1)[0][1]

    def text_like(side: list[Line]) -> bool:
        middle = statistics.median(ln.width for ln in side)
        return middle >= 8 * size and middle >= 0.5 * max(ln.width for ln in side)

    if edge < 3 or not (text_like(left_col) and text_like(right_col)):
        return None
    return gap_start, gap_end


# --- hyphenation --------------------------------------------------------------------------------
WORD_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
LINE_END_HYPHEN_RE = re.compile(r"([^\W\d_]+)[-\u00ad\u2010]$")
CONTINUATION_RE = re.compile(r"^([^\W\d_]+)(.*)$", re.DOTALL)


class Vocabulary:
    """The words a document writes (lower-cased), to tell a typesetter's hyphen from a real one.

    Built from the lines in reading order, leaving out the halves of words broken at a line
    end ("traf-" / "ficking"), which are not words the document writes.
    """

    def __init__(self, lines: list[str]):
        self.words: set[str] = set()
        broken = False  # the previous line ended in a hyphen
        for line in lines:
            text = line.lower()
            if broken:
                text = CONTINUATION_RE.sub(r"\2", text.lstrip(), count=1)
            broken = bool(LINE_END_HYPHEN_RE.search(text))
            if broken:
                text = LINE_END_HYPHEN_RE.sub("", text)
            for word in WORD_RE.findall(text):
                self.words.add(word)
                self.words.update(word.split("-"))
        # Beginnings of the document's words, to tell 'pre-' / 'vention' (the document writes
        # 'prevent') from 'so-' / 'called' (no word starts 'soca').
        self.stems = {w[:n] for w in self.words for n in range(3, len(w))}

    def join(self, head: str, tail: str) -> bool:
        """Whether `head-` at a line end followed by `tail` is one word broken by the typesetter:
        yes when the document writes the joined word; no when it writes the hyphenated one, or
        when the head forms compounds ('so-', 'self-') and the tail is not a mere ending
        ('so-called', but 'follow-ing') unless the document writes a longer word that starts as
        the joined one does ('pre-' / 'vention' beside 'prevent'); otherwise yes."""
        head, tail = head.lower(), tail.lower()
        if head + tail in self.words:
            return True
        if f"{head}-{tail}" in self.words:
            return False
        if head in COMPOUND_HEADS and tail not in SUFFIXES:
            return head + tail[:2] in self.stems
        return True


# "pre- and post-trial": a hyphen left hanging before a conjunction is the author's.
SUSPENDED_BEFORE = {"and", "or", "nor", "to", "und", "oder", "bis", "et", "ou", "y", "o", "e", "и", "или"}


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
        # A capital after the hyphen starts a new word ('Anti-' / 'Slavery'), except inside a
        # word set in capitals ('WHER-' / 'EOF').
        capitals = len(match.group(1)) >= 3 and match.group(1).isupper() and tail.isupper()
        if not (tail[0].islower() or capitals) or tail in SUSPENDED_BEFORE:
            continue
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


HEADING_SIZE_RATIO = 1.12  # a line set this much larger than the body is a heading
HEADING_MAX_WORDS = 20


def _heading_style(line: Line, size: float, bold_body: bool) -> tuple[float, bool] | None:
    """(size, bold) when the line looks like a heading: larger than the body, or bold in a
    body that is not; short, not a sentence's end (a line in capitals may end in a full stop:
    'LEAGUE OF NATIONS.'), not starting lower-case."""
    text = line.text
    if not text or len(text.split()) > HEADING_MAX_WORDS or text[0].islower():
        return None
    if re.search(r"[,;:]$", text) or (text.endswith(".") and not (text.isupper() and len(text.split()) <= 8)):
        return None
    larger = line.size >= HEADING_SIZE_RATIO * size
    if larger or (line.bold and not bold_body and line.size >= 0.95 * size):
        return round(line.size * 2) / 2, line.bold
    return None


SENTENCE_END_RE = re.compile(r"[.!?:;][\"'”’»)\]]*$")
FULL_LINE_EMS = 3.0  # a line ending within this many body sizes of its block's right edge is full


def _ends_paragraph(text: str, line: Line, right: float, size: float) -> bool:
    """Whether a block's last line (at a column's or page's foot) ends its paragraph: it ends a
    sentence and stops short of the right edge. A full line, or one that ends mid-sentence,
    runs on at the top of the next column or page."""
    return bool(SENTENCE_END_RE.search(text)) and line.x1 < right - FULL_LINE_EMS * max(size, line.size)


def line_step(pages_blocks: list[list[list[Line]]], size: float) -> float:
    """The document's usual step from one line of body text to the next: a low quantile of
    the steps between body lines, since in a list of one-line paragraphs most steps are gaps
    (0 when there are too few lines to tell)."""
    steps = sorted(
        a.baseline - b.baseline
        for blocks in pages_blocks for block in blocks for a, b in zip(block, block[1:])
        if a.baseline > b.baseline and abs(a.size - size) <= 0.05 * size and abs(b.size - size) <= 0.05 * size
    )
    return steps[len(steps) // 5] if len(steps) >= 5 else 0.0


def _page_text(
    blocks: list[list[Line]], vocabulary: Vocabulary, size: float = 0.0, bold_body: bool = False, step_size: float = 0.0
) -> tuple[str, list[tuple[str, tuple[float, bool]]], bool]:
    """Body text of one page: a paragraph per line (a table row, a list item, an 'Article N'
    heading each on a line of its own), a blank line between paragraphs and around headings;
    the page's headings with their style; and whether its last paragraph runs on to the next
    page. Printed line breaks are not kept: they are the typesetter's, and a chunk split at one
    would cut a sentence. A paragraph runs on over a column break as over a page break."""
    steps = [b.baseline - a.baseline for block in blocks for a, b in zip(block, block[1:])]
    usual = step_size or statistics.median([-s for s in steps if s < 0] or [0.0])
    # Rows first: a table row's cells become one line (and never a heading).
    rows: list[tuple[Line, str, bool, bool]] = []  # (first segment, text, starts a block, several cells)
    rights: list[float] = []  # each row's block's right edge
    for block in blocks:
        previous: Line | None = None
        right = max(ln.x1 for ln in block)
        for line in block:
            if previous is not None and abs(previous.baseline - line.baseline) <= 1.0:
                first, text, starts, _ = rows[-1]
                rows[-1] = (first, f"{text} {line.text}", starts, True)
            else:
                rows.append((line, line.text, previous is None, False))
                rights.append(right)
            previous = line
    paragraphs: list[list[str]] = [[]]
    table_rows: set[str] = set()
    headings: list[tuple[str, tuple[float, bool]]] = []
    last_style: tuple[float, bool] | None = None
    previous_line: Line | None = None
    previous_text = ""
    for index, (line, text, starts_block, cells) in enumerate(rows):
        style = _heading_style(line, size, bold_body) if size and not cells else None
        step = previous_line.baseline - line.baseline if previous_line is not None and not starts_block else 0.0
        wrapped = (
            last_style is not None
            and (round(line.size * 2) / 2, line.bold) == last_style
            and 0 < step <= PARAGRAPH_GAP * max(usual, line.size)
            and len(f"{headings[-1][0]} {text}".split()) <= 2 * HEADING_MAX_WORDS
        )
        if wrapped:  # a heading's next line (it may start lower-case, or end a hyphenated word)
            whole = join_hyphenated([headings[-1][0], text], vocabulary).replace("\n", " ").strip()
            headings[-1] = (whole, last_style)
            paragraphs[-2][-1] = whole
            style = last_style
        elif style is not None:
            headings.append((text, style))
            paragraphs.extend([[text], []])
        else:
            # At a column's top a list item goes on in its list; other text starts a paragraph
            # when the column before ended one.
            closed = (
                starts_block and previous_line is not None and not LIST_ITEM_RE.match(text)
                and _ends_paragraph(previous_text, previous_line, rights[index - 1], size)
            )
            if last_style is not None or closed or (usual > 0 and step > PARAGRAPH_GAP * usual):
                paragraphs.append([])
            paragraphs[-1].append(text)
            if cells:
                table_rows.add(text)
        last_style = style
        previous_line, previous_text = line, text
    texts = [_flow(join_hyphenated(p, vocabulary).split("\n"), table_rows) for p in paragraphs if p]
    text = "\n\n".join(texts)
    text = re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+\n", "\n", text))
    runs_on = bool(rows) and last_style is None and not _ends_paragraph(previous_text, previous_line, rights[-1], size)
    return text.strip(), headings, runs_on


# A bullet, or a number, a letter or a roman numeral ('1.', '(a)', 'iv)'), not a word in brackets ('(Sea)').
LIST_ITEM_RE = re.compile(r"^\s*(?:[-*•▪◦–]|\(?(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})[).]|\d{1,3}(?=\s+[A-Z]))\s")


CLAUSE_END_RE = re.compile(r"(?:[.:;,!?)\]\-–—]|\b(?:and|or|und|oder|et|ou|и|или))$")


PATH_END_RE = re.compile(r"(?:^|\s)\S*/\S*/[\w./-]*[\w/-]$")  # a URL or path with two slashes, cut mid-word
PATH_START_RE = re.compile(r"^[\w.-]*[/.][\w/.-]")


def _breaks_a_path(line: str, following: str) -> bool:
    """Whether a line ends inside a URL or a file path that the next line goes on with
    ('.../etc/BW' / 'BV0006246/README.md'): a typesetter breaks one where the line is full,
    without a hyphen, and a space there would split it."""
    following = following.lstrip()
    return bool(PATH_END_RE.search(line)) and bool(PATH_START_RE.match(following)) and not re.match(r"(?:and|or)/", following)


def _flow(lines: list[str], own_lines: set[str]) -> str:
    """A paragraph's printed lines as running text, except that a list item, a table row or an
    'Article N' heading keeps a line of its own."""
    def alone(text: str) -> bool:
        article = ARTICLE_LINE_RE.match(text)
        return text in own_lines or bool(article and looks_like_article_heading(article.group(3)))

    out: list[str] = []
    for text in lines:
        if not text.strip():
            continue
        # A list item; one whose words start lower-case only where a clause ended ('...; and' /
        # 'b) the ...'), since mid-sentence it is a reference ('subparagraph' / 'a) have been used').
        marker = LIST_ITEM_RE.match(text)
        item = bool(marker) and (not text[marker.end():].lstrip()[:1].islower() or bool(out and CLAUSE_END_RE.search(out[-1])))
        if out and not alone(text) and not alone(out[-1]) and not item:
            out[-1] += ("" if _breaks_a_path(out[-1], text) else " ") + text.strip()
        else:
            out.append(text.strip())
    return "\n".join(out)


# --- the whole document -------------------------------------------------------------------------
def extract_pdf(data: bytes) -> PdfText:
    """The document's body text per page (furniture removed, columns in order, words whole)
    and its footnotes per page."""
    pages, title = read_pages(data)
    remove_furniture(pages)
    size = body_size(pages)
    note_lines = [split_footnotes(page, size) if size else [] for page in pages]
    ordered = [reading_order(page.lines, size) for page in pages]
    vocabulary = Vocabulary([ln.text for blocks in ordered for block in blocks for ln in block] + [ln.text for ls in note_lines for ln in ls])
    body_lines = [ln for page in pages for ln in page.lines if abs(ln.size - size) <= 0.05 * size]
    bold_body = sum(len(ln.text) for ln in body_lines if ln.bold) > 0.5 * sum(len(ln.text) for ln in body_lines)
    step = line_step(ordered, size)
    laid_out = [_page_text(blocks, vocabulary, size, bold_body, step) for blocks in ordered]
    texts = _join_across_pages([text for text, _, _ in laid_out], vocabulary)
    # Heading levels: the largest type is level 1; at one size, bold ranks above regular.
    styles = sorted({style for _, found, _ in laid_out for _, style in found}, key=lambda st: (-st[0], not st[1]))
    level = {style: min(index + 1, 6) for index, style in enumerate(styles)}
    headings = [{" ".join(text.split()): level[style] for text, style in found} for _, found, _ in laid_out]
    notes: list[list[Footnote]] = []
    carried = ""
    for lines in note_lines:
        notes.append(footnotes_from(lines, vocabulary, carried))
        if notes[-1]:
            carried = notes[-1][-1].marker
    return PdfText(title=title, pages=texts, footnotes=notes, headings=headings, runs_on=[runs_on for _, _, runs_on in laid_out])


def _join_across_pages(texts: list[str], vocabulary: Vocabulary) -> list[str]:
    """A word hyphenated at the foot of a page is made whole on that page (its second half
    leaves the next page), so each page's text stays citable on its own."""
    texts = list(texts)
    for index in range(len(texts) - 1):
        if not texts[index] or not texts[index + 1]:
            continue
        head, _, last = texts[index].rpartition("\n")
        first, newline, rest = texts[index + 1].partition("\n")
        joined = join_hyphenated([last, first], vocabulary).split("\n")
        if joined[0] != last:
            texts[index] = f"{head}\n{joined[0]}" if head else joined[0]
            remainder = joined[1] if len(joined) > 1 else ""
            texts[index + 1] = (remainder + newline + rest if remainder else rest).strip()
    return texts
