"""'Article N' lines, read the same way by every loader (Markdown, text, DOCX and PDF)."""

from __future__ import annotations

import re

ARTICLE_LINE_RE = re.compile(r"^\s*(Article|ARTICLE|Art\.)\s+(\d+[a-z]?|[IVXLC]+)\b\.?\s*(.{0,120})$")


def looks_like_article_heading(rest: str) -> bool:
    """'Article 5', 'Article 5. Criminalization' are headings; 'Article 5 shall apply to...' is text."""
    rest = rest.strip()
    if not rest:
        return True
    return len(rest) <= 80 and not re.search(r"[.;,:]$|\.\s", rest) and not re.match(r"(?:of|shall|and|or|to|in|the|as|above|below)\b", rest)
