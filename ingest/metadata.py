"""Document metadata that filters and citations rely on: year, type and official symbol.

Front matter wins; otherwise the values are read from the title and the opening text, where
official documents state them.
"""

from __future__ import annotations

import re

SYMBOL_PATTERNS = [
    re.compile(r"\b(?:MC|PC|SEC|CIO)\.(?:DEC|DOC|DEL|GAL|JOUR)/\d+/\d+(?:/Corr\.\d+)?\b"),
    re.compile(r"\bPC\.DEC/\d+(?:/Corr\.\d+)?\b"),
    re.compile(r"\bDirective\s+(?:\(EU\)\s+)?(\d{4}/\d+(?:/EU)?)\b"),
    re.compile(r"\bCETS\s+No\.\s*\d+\b"),
    re.compile(r"\bA/RES/\d+/\d+\b"),
]
YEAR_RE = re.compile(r"\b(1[89]\d\d|20[0-4]\d)\b")

DOC_TYPE_RULES = [
    ("ministerial-decision", re.compile(r"\bMinisterial Council\b.*\bDecision\b|\bMC\.DEC/", re.I | re.S)),
    ("action-plan", re.compile(r"\bAction Plan\b", re.I)),
    ("addendum", re.compile(r"\bAddendum\b", re.I)),
    ("eu-law", re.compile(r"\bDirective\b.*\b(EU|European Parliament)\b", re.I | re.S)),
    ("treaty", re.compile(r"\b(Protocol|Convention)\b", re.I)),
    ("press-release", re.compile(r"\bpress release\b", re.I)),
    ("conference", re.compile(r"\bconference\b", re.I)),
    ("report", re.compile(r"\b(report|handbook|guidelines?)\b", re.I)),
]


def detect_symbol(text: str) -> str:
    for pattern in SYMBOL_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1) if match.groups() else match.group(0)
    return ""


def detect_year(title: str, text: str) -> int | None:
    for candidate in (title, text[:3000]):
        match = YEAR_RE.search(candidate)
        if match:
            return int(match.group(1))
    return None


def detect_doc_type(title: str, text: str) -> str:
    head = f"{title}\n{text[:1500]}"
    for name, pattern in DOC_TYPE_RULES:
        if pattern.search(title):
            return name
    for name, pattern in DOC_TYPE_RULES:
        if pattern.search(head):
            return name
    return ""


def document_metadata(title: str, text: str, front_matter: dict) -> dict:
    """year, doc_type, symbol and url for a document, preferring what its front matter states."""
    year = front_matter.get("year")
    try:
        year = int(year) if year not in (None, "") else detect_year(title, text)
    except (TypeError, ValueError):
        year = detect_year(title, text)
    return {
        "year": year,
        "doc_type": str(front_matter.get("doc_type") or detect_doc_type(title, text)),
        "symbol": str(front_matter.get("symbol") or detect_symbol(f"{title}\n{text[:3000]}")),
        "url": str(front_matter.get("source_url") or front_matter.get("url") or ""),
    }
