"""Turn a file's bytes into structured text: sections with their heading path and page.

Each format has one loader; all return a `LoadedDocument`, so chunking never needs to know
where the text came from. Loaders raise `IngestError` with a message a trainer can act on.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Callable

import yaml

from assistant.domain.errors import IngestError
from ingest.headings import ARTICLE_LINE_RE, looks_like_article_heading
from ingest.html_nesting import cap_nesting, too_deep

MAX_DOCX_UNPACKED = 200 * 1024 * 1024  # a .docx that unpacks to more than this is treated as a zip bomb


@dataclass
class Section:
    """A run of text under one heading path. A PDF section runs on over page breaks as the
    text does: `page` is the page it starts on and `page_starts` says where in `text` each
    later page starts, as (offset, page). A PDF footnote is a section of its own, with its
    marker as `note`, so it is cited as "p. 4, note 2"."""

    headings: list[str]
    text: str
    page: int | None = None
    note: str | None = None
    page_starts: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class LoadedDocument:
    format: str
    title: str
    sections: list[Section]
    front_matter: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


def decode_text(data: bytes) -> str:
    """UTF-8 when it is, otherwise the encoding charset-normalizer finds most likely.

    Bytes with NULs are never taken as UTF-8: UTF-16/32 text without a byte-order mark is
    valid UTF-8 when it is mostly ASCII ("T\\x00h\\x00e\\x00"), but no document holds NULs.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" not in data:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or "\x00" in str(best):
        raise IngestError("The file is not readable text in any known encoding; save it as UTF-8 and ingest it again.")
    return str(best)


TITLE_MAX_CHARS = 160


def _first_line_title(text: str) -> str:
    """The first line, cut at a word boundary when it is a whole paragraph."""
    for line in text.splitlines():
        line = line.strip().strip("#").strip()
        if line:
            if len(line) <= TITLE_MAX_CHARS:
                return line
            cut = line[: TITLE_MAX_CHARS - 20].rsplit(" ", 1)[0]
            return cut + "…"
    return ""


# --- Markdown and plain text ----------------------------------------------------------------
HEADING_RE = re.compile(r"^(#{1,6})\s*(\S.*?)\s*#*\s*$")
FRONT_MATTER_RE = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


def split_front_matter(text: str) -> tuple[dict, str]:
    match = FRONT_MATTER_RE.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise IngestError(f"The front-matter block is not valid YAML ({exc}); fix it or remove it.") from exc
    if not isinstance(meta, dict):
        raise IngestError("The front-matter block must be a mapping of `key: value` lines.")
    return meta, text[match.end() :]


def sections_from_lines(
    text: str,
    markdown: bool,
    heading_level: Callable[[str], int | None] | None = None,
    stack: list[tuple[int, str]] | None = None,
) -> list[Section]:
    """Split on Markdown headings (when `markdown`), on lines `heading_level` gives a level (a
    PDF's headings, told by their type) and on 'Article N' lines (always). A `stack` of
    (level, heading) passed in is continued and left as the text ends (a PDF's next page)."""
    sections: list[Section] = []
    stack = [] if stack is None else stack
    buffer: list[str] = []

    def flush() -> None:
        body = "\n".join(buffer).strip()
        buffer.clear()
        if body:
            sections.append(Section(headings=[h for _, h in stack], text=body))

    for line in text.splitlines():
        heading = HEADING_RE.match(line) if markdown else None
        level = heading_level(" ".join(line.split())) if heading_level and not heading else None
        article = None if heading or level else ARTICLE_LINE_RE.match(line)
        if level:
            flush()
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, " ".join(line.split())))
        elif heading:
            flush()
            level, title = len(heading.group(1)), heading.group(2).strip()
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, " ".join(title.split())))
        elif article and looks_like_article_heading(article.group(3)):
            flush()
            level = 7  # below any Markdown heading
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, " ".join(line.split())))
        else:
            buffer.append(line)
    flush()
    return sections


BROKEN_PARAGRAPH_RE = re.compile(r"(?<=[a-z,])[ \t]*\n[ \t]*\n[ \t]*(?=[a-z])")


def mend_broken_paragraphs(text: str) -> str:
    """Join a sentence that a stray blank line split in two ('... the private\n\nsector, ...')."""
    return BROKEN_PARAGRAPH_RE.sub(" ", text)


def load_markdown(data: bytes) -> LoadedDocument:
    meta, body = split_front_matter(mend_broken_paragraphs(decode_text(data)))
    sections = sections_from_lines(body, markdown=True)
    first_heading = next((s.headings[0] for s in sections if s.headings), "")
    title = str(meta.get("title") or first_heading or _first_line_title(body))
    return LoadedDocument("markdown", title, sections, meta)


def load_text(data: bytes) -> LoadedDocument:
    text = mend_broken_paragraphs(decode_text(data))
    return LoadedDocument("text", _first_line_title(text), sections_from_lines(text, markdown=False))


# --- HTML -------------------------------------------------------------------------------------
HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


def _strip_hidden(html: str) -> str:
    """Drop scripts, styles and hidden elements before extraction: none of it is content.
    A page nested deeper than the parser goes is first rewritten with its nesting capped."""
    import lxml.html

    try:
        parser = lxml.html.HTMLParser()
        root = lxml.html.fromstring(html, parser=parser)
        if too_deep(parser.error_log):
            root = lxml.html.fromstring(cap_nesting(html))
    except Exception:  # lxml raises several types on junk
        return html
    for el in root.xpath("//script|//style|//noscript|//template|//*[@hidden]|//*[@aria-hidden='true']"):
        el.drop_tree()
    for el in root.xpath("//*[@style]"):
        if HIDDEN_STYLE_RE.search(el.get("style", "")):
            el.drop_tree()
    return lxml.html.tostring(root, encoding="unicode")


def load_html(data: bytes) -> LoadedDocument:
    import trafilatura

    html = _strip_hidden(decode_text(data))
    text = trafilatura.extract(html, output_format="txt", include_formatting=True, include_tables=True, favor_recall=True)
    if not text or not text.strip():
        raise IngestError("No readable text found in this HTML page (is it empty or built by JavaScript?).")
    meta = trafilatura.extract_metadata(html)
    # trafilatura writes Markdown: headings become sections first, then its backslash escapes
    # (\_, \<, \# ...) are undone, since Beacon stores and quotes plain text.
    sections = [
        Section([unescape_markdown(h) for h in s.headings], unescape_markdown(s.text), s.page)
        for s in sections_from_lines(text, markdown=True)
    ]
    first_heading = next((s.headings[0] for s in sections if s.headings), "")
    title = (meta.title if meta and meta.title else "") or first_heading or unescape_markdown(_first_line_title(text))
    return LoadedDocument("html", title, sections)


MARKDOWN_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")


def unescape_markdown(text: str) -> str:
    """Text with Markdown's backslash escapes of ASCII punctuation undone (`\\_` -> `_`)."""
    return MARKDOWN_ESCAPE_RE.sub(r"\1", text)


# --- PDF --------------------------------------------------------------------------------------
def load_pdf(data: bytes) -> LoadedDocument:
    """Body text (furniture removed, columns in order; see `ingest.pdf`), split at headings
    (told by their type) and 'Article N' lines, never at a page break: the text under one
    heading runs on from page to page as in a Markdown file, so a PDF is chunked as its other
    formats are, and each section records where its pages start. Each page's footnotes follow
    the section the page ends in, as sections of their own."""
    from ingest.pdf import LIST_ITEM_RE, extract_pdf

    extracted = extract_pdf(data)
    if not any(p.strip() for p in extracted.pages) and not any(extracted.footnotes):
        raise IngestError("The PDF has no extractable text (is it scanned images?); OCR is not enabled, so ingest a text PDF.")
    sections: list[Section] = []
    pending_notes: list[Section] = []  # footnotes of pages the open section has not left yet
    open_section: Section | None = None  # the body section the previous page ended in
    stack: list[tuple[int, str]] = []  # headings (and an article) run on over page breaks
    for number, (page_text, notes) in enumerate(zip(extracted.pages, extracted.footnotes), start=1):
        levels = extracted.headings[number - 1] if extracted.headings else {}
        runs_on = extracted.runs_on[number - 2] if number > 1 and extracted.runs_on else False
        page_text = mend_broken_paragraphs(page_text)  # as the text loaders do
        for index, section in enumerate(sections_from_lines(page_text, markdown=False, heading_level=levels.get, stack=stack)):
            continues = index == 0 and open_section is not None and section.headings == open_section.headings and page_text.lstrip().startswith(section.text)
            if continues:
                # A list item at the page's top goes on in its list, spaced as its items
                # were before; other text starts a paragraph unless the page before ended
                # mid-paragraph.
                if LIST_ITEM_RE.match(section.text):
                    joiner = _item_gap(open_section.text, section.text)
                else:
                    joiner = " " if runs_on else "\n\n"
                joiner = mend_broken_paragraphs(f"a{joiner}a")[1:-1] if open_section.text[-1:] in "abcdefghijklmnopqrstuvwxyz," else joiner
                open_section.page_starts.append((len(open_section.text) + len(joiner), number))
                open_section.text += joiner + section.text
                continue
            sections.extend(pending_notes)
            pending_notes.clear()
            open_section = Section(headings=section.headings, text=section.text, page=number)
            sections.append(open_section)
        for note in notes:
            pending_notes.append(Section(headings=[h for _, h in stack], text=note.text, page=number, note=note.marker or None))
    sections.extend(pending_notes)
    first_text = next((p for p in extracted.pages if p.strip()), "")
    title = extracted.title or _first_line_title(first_text)
    return LoadedDocument("pdf", title.strip(), sections)


def _item_gap(before: str, after: str) -> str:
    """How list items are spaced around a page break: a blank line or a line break before
    them, as before the last item of the text `before` it, or else the first item of the
    text `after` it, or else as `before` spaces its paragraphs."""
    from ingest.pdf import LIST_ITEM_RE

    def gaps(text: str) -> list[str]:
        return [m.group(0) for m in re.finditer(r"\n+", text) if LIST_ITEM_RE.match(text[m.end() : m.end() + 16])]

    seen = gaps(before)[-1:] or gaps(after)[:1]
    if seen:
        return "\n\n" if len(seen[0]) > 1 else "\n"
    return "\n\n" if "\n\n" in before else "\n"


# --- DOCX -------------------------------------------------------------------------------------
def _check_zip(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise IngestError("The file is not a valid .docx (not a zip archive); re-save it from Word or LibreOffice.") from exc
    if unpacked > MAX_DOCX_UNPACKED:
        raise IngestError(
            f"The .docx unpacks to {unpacked // (1024 * 1024)} MB, more than {MAX_DOCX_UNPACKED // (1024 * 1024)} MB; "
            "it looks like a zip bomb and was not opened."
        )


def load_docx(data: bytes) -> LoadedDocument:
    _check_zip(data)
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError/ValueError/PackageNotFoundError on junk
        raise IngestError(f"The .docx could not be opened ({type(exc).__name__}); re-save it from Word or LibreOffice.") from exc
    lines: list[str] = []
    title = (document.core_properties.title or "").strip()
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            lines.append("")
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        level = None
        if style == "Title":
            level = 1
            title = title or text
        elif style.startswith("Heading"):
            digits = style.split()[-1]
            level = int(digits) if digits.isdigit() else 2
        lines.append(f"{'#' * min(level, 6)} {text}" if level else text)
        lines.append("")
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                lines.append(" | ".join(cells))
        lines.append("")
    text = "\n".join(lines)
    if not text.strip():
        raise IngestError("The .docx contains no text.")
    sections = sections_from_lines(text, markdown=True)
    first_heading = next((s.headings[0] for s in sections if s.headings), "")
    return LoadedDocument("docx", title or first_heading or _first_line_title(text), sections)


LOADERS: dict[str, Callable[[bytes], LoadedDocument]] = {
    "text": load_text,
    "markdown": load_markdown,
    "html": load_html,
    "pdf": load_pdf,
    "docx": load_docx,
}


def load_bytes(data: bytes, fmt: str) -> LoadedDocument:
    if not data.strip():
        raise IngestError("The file is empty.")
    document = LOADERS[fmt](data)
    if not any(s.text.strip() for s in document.sections):
        raise IngestError("No text could be extracted from the file.")
    return document
