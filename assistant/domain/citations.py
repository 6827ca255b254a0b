"""Citation markers in answer text ("… exploitation [1]."), read one way by the answerers,
the verifier and the eval suite alike.

Extractive answers write `[n]`; language models also write `[1, 2]`, `[1; 2]` and
`[source 1]`, all of which are markers.
"""

from __future__ import annotations

import re

MARKER_RE = re.compile(r"\[\s*(?:sources?\s*)?(\d{1,2}(?:\s*[,;]\s*(?:sources?\s*)?\d{1,2})*)\s*\]", re.IGNORECASE)
# Markers written after the sentence's full stop ("… exploitation. [1] States …").
MARKERS_AFTER_STOP_RE = re.compile(r"([.!?]+)((?:\s*" + MARKER_RE.pattern + r")+)", re.IGNORECASE)
_WITH_SPACE_RE = re.compile(r"\s*" + MARKER_RE.pattern, re.IGNORECASE)


def parse_markers(numbers: str) -> list[int]:
    """The numbers inside one marker's brackets."""
    return [int(n) for n in re.findall(r"\d+", numbers)]


def cited_numbers(text: str) -> list[int]:
    """Every source number the markers of `text` cite, in order."""
    return [n for m in MARKER_RE.finditer(text) for n in parse_markers(m.group(1))]


def strip_markers(text: str) -> str:
    """`text` without its markers (and the space before each)."""
    return _WITH_SPACE_RE.sub("", text)
