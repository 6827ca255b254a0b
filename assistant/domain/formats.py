"""The document formats Beacon reads, by file extension and by HTTP content type."""

from __future__ import annotations

from pathlib import Path

from assistant.domain.errors import UnsupportedFormat

# Extension -> format name. Everything else is refused with UnsupportedFormat.
EXTENSIONS = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}
CONTENT_TYPES = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}


def format_for(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in EXTENSIONS:
        raise UnsupportedFormat(
            f"Unsupported file type {suffix or '(none)'!r}: Beacon reads {', '.join(sorted(EXTENSIONS))}. "
            "Convert the file to one of these (e.g. save as PDF or DOCX) and ingest it again."
        )
    return EXTENSIONS[suffix]
