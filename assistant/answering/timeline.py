"""Answers that know the date: a cited text that a newer document in the library supersedes or
amends is flagged next to its citation, so a trainee is not handed an outdated commitment as
the current one. The relations come from the documents' metadata (`assistant.domain.versions`).
"""

from __future__ import annotations

import re

from assistant.domain.models import Answer
from assistant.domain.versions import as_list

DATE_NOTE = "Note on dates"  # how an answer starts saying that a text it quotes has a newer version
VERBS = (("supersedes", "superseded by"), ("amends", "amended or supplemented by"))


def reference_key(name: str) -> str:
    """A name as other documents may write it: "Directive 2011/36/EU", "2011/36/EU" and
    "directive 2011/36/eu" are one key; so are "PC.DEC/557" and "pc.dec/557"."""
    key = re.sub(r"\b(directive|\(eu\))", "", name.casefold())
    return re.sub(r"\s+", "", key)


def names_of(document: dict) -> set[str]:
    """How other documents may refer to this one: its doc id and its official symbols."""
    symbols = {s.strip() for s in (document.get("symbol") or "").replace(",", ";").split(";")}
    return {reference_key(n) for n in (document["doc_id"], *symbols) if n}


def newer_versions(doc_id: str, documents: dict[str, dict]) -> list[str]:
    """'amended by TITLE (DATE)' / 'superseded by …' for each document of the library that names
    this one in its `amends` / `supersedes`; 'marked superseded' when it is but none says by what."""
    document = documents.get(doc_id)
    if document is None:
        return []
    names = names_of(document)
    notes = []
    for other_id, other in documents.items():
        if other_id == doc_id:
            continue
        for field, verb in VERBS:
            if names & {reference_key(n) for n in as_list(other.get(field) or "")}:
                when = other.get("valid_from") or other.get("year") or "date unknown"
                notes.append(f"{verb} {other.get('title') or other_id} ({when})")
    if not notes and document.get("status") in ("superseded", "historical"):
        notes.append(f"marked {document['status']} in the library")
    return notes


def flag_outdated(answer: Answer, documents: dict[str, dict]) -> Answer:
    """Set each citation's `newer` notes and say them after the answer's text."""
    numbers: dict[str, list[int]] = {}
    for citation in answer.citations:
        citation.newer = newer_versions(citation.doc_id, documents)
        if citation.newer:
            numbers.setdefault(citation.doc_id, []).append(citation.n)
    lines = []
    for doc_id, cited in numbers.items():
        first = next(c for c in answer.citations if c.doc_id == doc_id)
        lines.append(f"[{', '.join(map(str, cited))}] {first.title} is " + "; ".join(first.newer) + ".")
    if lines and not answer.refused:
        answer.answer += f"\n\n{DATE_NOTE}: " + " ".join(lines)
    return answer
