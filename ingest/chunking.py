"""Structure-aware chunking: never cross an article, heading or page; then split by size.

Every chunk keeps a human locator ("Article 13", "p. 4", "§ Prevention") so a citation can
point a reader to the exact place, and a deterministic id so re-ingest is idempotent.
"""

from __future__ import annotations

import hashlib
import re

from assistant.domain.models import Chunk
from ingest.loaders import LoadedDocument, Section

ARTICLE_RE = re.compile(r"^(?:Article|ARTICLE|Art\.)\s+(\d+[a-z]?|[IVXLC]+)\b", re.IGNORECASE)
NUMBERED_PART_RE = re.compile(r"^(Annex|Appendix|Chapter|Part|Section|Rule|Principle)\s+([\w.]+)", re.IGNORECASE)
CHUNKER_VERSION = "10"  # bump when loading, chunking or chunk metadata changes, so unchanged files are re-processed (10: faithful PDF text, text spans)
SECTION_GAP = "\n\n"  # between sections in a document's stored extracted text


def chunking_signature(chunk_size: int, overlap: int) -> str:
    return f"v{CHUNKER_VERSION}:{chunk_size}:{overlap}"


def locator_for(section: Section, title: str = "") -> str:
    """The most specific citable place: an article if any, else the innermost heading; plus page.

    The document title is usually the first heading; it says nothing about where we are, so it
    never becomes a "§" locator.
    """
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
    if section.page is not None:
        place = f"{place}, p. {section.page}" if place else f"p. {section.page}"
    if section.note:
        place = f"{place}, note {section.note}" if place else f"note {section.note}"
    return place


def _splitter(chunk_size: int, overlap: int):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=overlap,
        separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
        keep_separator="end",
        strip_whitespace=True,
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


def chunk_document(doc_id: str, document: LoadedDocument, chunk_size: int, overlap: int) -> list[Chunk]:
    splitter = _splitter(chunk_size, overlap)
    chunks: list[Chunk] = []
    _, starts = extracted_text(document)
    for section, section_start in zip(document.sections, starts):
        locator = locator_for(section, document.title)
        headings = [h for h in section.headings if h != document.title]
        heading = " › ".join(headings)
        section_text = keep_lists_together(section.text)
        cursor = 0
        for piece in splitter.split_text(section_text):
            piece = piece.strip()
            if not piece:
                continue
            found = section_text.find(piece, cursor)  # pieces overlap, so the next starts after this one's start
            if found >= 0:
                cursor = found + 1
            position = len(chunks)
            chunks.append(
                Chunk(
                    id=chunk_id(doc_id, position, f"{locator}\n{heading}\n{piece}"),
                    doc_id=doc_id,
                    position=position,
                    text=piece,
                    locator=locator,
                    heading=heading,
                    page=section.page,
                    char_start=section_start + found if found >= 0 else None,
                    char_end=section_start + found + len(piece) if found >= 0 else None,
                )
            )
    return chunks
