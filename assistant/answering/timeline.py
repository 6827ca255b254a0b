"""Answers that know the date: a cited text that a newer document in the library supersedes or
amends is flagged next to its citation, so a trainee is not handed an outdated commitment as
the current one. The relations come from the documents' metadata (`assistant.domain.versions`).

Three mechanisms, none of them a rule for a particular question:
- `outdated_duplicates`: retrieval demotes a chunk of an amended or superseded text when a
  chunk of a newer version says the same thing (their vectors are that close), so the current
  wording ranks first and the old one, a near duplicate, drops out of the top k;
- `assistant.answering.newer.cite_newer`: an answer that quotes such a text also quotes,
  verbatim, the newer version's sentence on the same point, as its own citation;
- `flag_outdated`: the citation carries "amended by … (date)" and the answer says so.
A question about a time ("what did the 2003 plan say", "before 2013", "the original text")
turns the first two off (`asks_about_past`): the older texts it retrieves are kept and quoted
(still flagged), not replaced by the newest. (It does not steer retrieval towards them.)
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

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


# Asking about a time: a year (not one inside a symbol such as 2011/36/EU or MC.DEC/2/03), or
# words that point at an earlier text or state of things.
PAST_RE = re.compile(
    r"(?<![/\w])(?:1[89]|20)\d\d(?![/\w])|\b(?:before|until|prior to|originally|original|at the time|used to|previous(?:ly)?|formerly|"
    r"earlier (?:text|version|wording)|old(?:er)? (?:text|version|wording|plan|directive)|first version|as (?:first )?adopted|historical(?:ly)?)\b",
    re.IGNORECASE,
)
SAME_THING = 0.9  # cosine of two chunks' vectors above which they say the same thing (near-duplicate passages)
DEMOTION = 0.5  # an outdated duplicate's fused score: this share of its newer version's


def asks_about_past(question: str) -> bool:
    """Whether a question asks about a time or an earlier text, to be answered from the
    documents of that time rather than from the newest."""
    return bool(PAST_RE.search(question or ""))


def newer_documents(doc_id: str, documents: dict[str, dict]) -> list[tuple[str, str]]:
    """(doc id, verb) of each document of the library that names this one in its `supersedes`
    ('superseded by') or `amends` ('amended or supplemented by')."""
    return _newer(doc_id, documents, declared_relations(documents))


def declared_relations(documents: dict[str, dict]) -> list[tuple[str, str, set[str]]]:
    """(doc id, verb, reference keys) for each document that supersedes or amends others: few
    in any library, so the relations of many documents are read in one pass."""
    return [
        (other_id, verb, {reference_key(n) for n in as_list(other.get(field) or "")})
        for other_id, other in documents.items()
        for field, verb in VERBS
        if other.get(field)
    ]


def _newer(doc_id: str, documents: dict[str, dict], declared: list[tuple[str, str, set[str]]]) -> list[tuple[str, str]]:
    document = documents.get(doc_id)
    if document is None or not declared:
        return []
    names = names_of(document)
    return [(other_id, verb) for other_id, verb, keys in declared if other_id != doc_id and names & keys]


def newer_versions(doc_id: str, documents: dict[str, dict]) -> list[str]:
    """'amended by TITLE (DATE)' / 'superseded by …' for each document of the library that names
    this one in its `amends` / `supersedes`; 'marked superseded' when it is but none says by what."""
    document = documents.get(doc_id)
    if document is None:
        return []
    notes = []
    for other_id, verb in newer_documents(doc_id, documents):
        other = documents[other_id]
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


def outdated_duplicates(candidates: dict[str, str], documents: dict[str, dict], vectors: Callable[[list[str]], dict[str, np.ndarray]]) -> dict[str, str]:
    """Retrieval candidates (chunk id -> doc id) of an amended or superseded document that a
    candidate of a newer version of it repeats (cosine >= SAME_THING): old chunk -> newer chunk.
    `vectors` reads chunk vectors; it is called only when such a pair of documents is among
    the candidates."""
    declared = declared_relations(documents)
    if not declared:
        return {}
    newer = {doc: {other for other, _ in _newer(doc, documents, declared)} for doc in set(candidates.values())}
    pairs = [(old, new) for old, old_doc in candidates.items() for new, new_doc in candidates.items() if new_doc in newer.get(old_doc, ())]
    if not pairs:
        return {}
    found = vectors(list({cid for pair in pairs for cid in pair}))
    repeated: dict[str, str] = {}
    for old, new in pairs:
        if old in found and new in found and float(np.dot(found[old], found[new])) >= SAME_THING:
            if old not in repeated or float(np.dot(found[old], found[new])) > float(np.dot(found[old], found[repeated[old]])):
                repeated[old] = new
    return repeated
