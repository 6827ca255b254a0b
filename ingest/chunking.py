"""Structure-aware chunking: never cross an article or heading; then split by size.

A PDF's text runs on over page breaks as a Markdown file's does (so both are chunked alike);
each chunk keeps the page it starts on and where any later page starts inside it.

Every chunk keeps a human locator ("Article 13", "p. 4", "§ Prevention") so a citation can
point a reader to the exact place, and a deterministic id so re-ingest is idempotent.
"""

from __future__ import annotations

import hashlib
import re

from assistant.domain.models import Chunk, page_at
from ingest.loaders import LoadedDocument, Section

ARTICLE_RE = re.compile(r"^(?:Article|ARTICLE|Art\.)\s+(\d+[a-z]?|[IVXLC]+)\b", re.IGNORECASE)
NUMBERED_PART_RE = re.compile(r"^(Annex|Appendix|Chapter|Part|Section|Rule|Principle)\s+([\w.]+)", re.IGNORECASE)
CHUNKER_VERSION = "11"  # bump when loading, chunking or chunk metadata changes, so unchanged files are re-processed (10: faithful PDF text, text spans; 11: PDF text runs on over pages)
SECTION_GAP = "\n\n"  # between sections in a document's stored extracted text


def chunking_signature(chunk_size: int, overlap: int) -> str:
    return f"v{CHUNKER_VERSION}:{chunk_size}:{overlap}"


def locator_for(section: Section, title: str = "", page: int | None = None) -> str:
    """The most specific citable place: an article if any, else the innermost heading; plus the
    page (`page`, where a chunk of a section that runs over pages starts, else the section's).

    The document title is usually the first heading; it says nothing about where we are, so it
    never becomes a "§" locator.
    """
    page = section.page if page is None else page
    place = ""
    for heading in reversed(section.headings):
        match = ARTICLE_RE.match(heading)
        if match:
            place = f"Article {match.group(1)}"
            break
    if not place:
        for heading in reversed(section.headings):
            match = NUMBERED_PART_RE.match(heading)
            if match:
                place = f"{match.group(1).capitalize()} {match.group(2).rstrip('.')}"
                break
    inner = [h for h in section.headings if h != title]
    if not place and inner:
        place = f"§ {inner[-1]}"
    if page is not None:
        place = f"{place}, p. {page}" if place else f"p. {page}"
    if section.note:
        place = f"{place}, note {section.note}" if place else f"note {section.note}"
    return place


WHITESPACE_RE = re.compile(r"\s+")


def text_size(text: str) -> int:
    """A text's size as the splitter counts it: each run of whitespace as one character, so
    the same words are cut alike whatever a format's spacing ('1.   The' in a Markdown
    file, '1. The' in its PDF; a blank line or a line break)."""
    return len(WHITESPACE_RE.sub(" ", text))


def _splitter(chunk_size: int, overlap: int):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=overlap,
        separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
        keep_separator="end",
        strip_whitespace=True,
        length_function=text_size,
    )


LIST_GAP_RE = re.compile(r"(:|[;,]|\w)[ \t]*\n\s*\n(?=[ \t]*(?:[-*•▪◦]|\(?[a-z0-9]{1,3}[).])\s)")


def keep_lists_together(text: str) -> str:
    """Close blank lines between a lead-in ('... measures:') and its items, and between items,
    so the size splitter (which cuts at blank lines first) keeps a list with what introduces it."""
    return LIST_GAP_RE.sub(lambda m: m.group(1) + "\n", text)


def chunk_id(doc_id: str, position: int, text: str) -> str:
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]
    return f"{doc_id}:{position:04d}:{digest}"


def extracted_text(document: LoadedDocument) -> tuple[str, list[int]]:
    """The document's text as Beacon stores it (sections as chunked, in order) and where each
    section starts in it: chunk and quote spans index into this text."""
    texts = [keep_lists_together(s.text) for s in document.sections]
    starts, at = [], 0
    for text in texts:
        starts.append(at)
        at += len(text) + len(SECTION_GAP)
    return SECTION_GAP.join(texts), starts


def moved_offsets(before: str, after: str, offsets: list[int]) -> list[int]:
    """`offsets` into `before` as offsets into `after`, a copy of it with only whitespace taken
    out or changed (`keep_lists_together`): the same count of other characters precedes each."""
    wanted = [sum(not c.isspace() for c in before[:at]) for at in offsets]
    moved, seen, index = [], 0, 0
    for count in wanted:
        while index < len(after) and (seen < count or after[index].isspace()):
            seen += not after[index].isspace()
            index += 1
        moved.append(index)
    return moved


def chunk_document(doc_id: str, document: LoadedDocument, chunk_size: int, overlap: int) -> list[Chunk]:
    splitter = _splitter(chunk_size, overlap)
    chunks: list[Chunk] = []
    _, starts = extracted_text(document)
    for section, section_start in zip(document.sections, starts):
        headings = [h for h in section.headings if h != document.title]
        heading = " › ".join(headings)
        section_text = keep_lists_together(section.text)
        page_starts = list(zip(moved_offsets(section.text, section_text, [at for at, _ in section.page_starts]), [n for _, n in section.page_starts]))
        cursor = 0
        for piece in splitter.split_text(section_text):
            piece = piece.strip()
            if not piece:
                continue
            found = section_text.find(piece, cursor)  # pieces overlap, so the next starts after this one's start
            if found >= 0:
                cursor = found + 1
            page = page_at(section.page, page_starts, found) if found >= 0 else section.page
            inside = [(at - found, n) for at, n in page_starts if found < at < found + len(piece)] if found >= 0 else []
            locator = locator_for(section, document.title, page)
            position = len(chunks)
            chunks.append(
                Chunk(
                    id=chunk_id(doc_id, position, f"{locator}\n{heading}\n{piece}"),
                    doc_id=doc_id,
                    position=position,
                    text=piece,
                    locator=locator,
                    heading=heading,
                    page=page,
                    page_starts=inside,
                    char_start=section_start + found if found >= 0 else None,
                    char_end=section_start + found + len(piece) if found >= 0 else None,
                )
            )
    return chunks
