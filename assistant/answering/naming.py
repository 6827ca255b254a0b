"""Which library documents a question names: "under the CRC", "C182", "the 1956 convention",
"the Palermo Protocol".

Trainees name instruments by acronym, number or year far more often than by title, and
neither the embedding nor BM25 connects "CRC" with "Convention on the Rights of the Child".
A question that names a document should be answered from it, so the retriever gives the
named document's own best passages a vote of their own. Names are read from the library
itself (titles, file names, years), never from a list of known instruments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.domain.text import ALL_STOPWORDS, acronym_expanded

INSTRUMENT_NUMBER_RE = re.compile(r"\b(?:C|No\.?|Nos?\.?|Convention|Recommendation|R)\s?0*(\d{1,3})\b", re.IGNORECASE)
TITLE_NUMBER_RE = re.compile(r"\b(?:No\.?|C|R)\s?0*(\d{1,3})\b", re.IGNORECASE)
YEAR_RE = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
ACRONYM_RE = re.compile(r"\b[A-Z]{2,8}\b")
PROPER_RE = re.compile(r"(?<![.?!]\s)(?<!^)\b[A-Z][a-z]{3,}\b")
MAX_NAMED = 3  # a question naming more documents than this names none in particular


@dataclass(frozen=True)
class DocumentName:
    doc_id: str
    title: str
    numbers: frozenset[int]
    years: frozenset[int]
    words: frozenset[str]  # lower-cased words of the title and the file name


def document_names(metas: list[dict]) -> list[DocumentName]:
    """One entry per document of the library, from its chunks' metadata."""
    seen: dict[str, DocumentName] = {}
    for m in metas:
        doc_id = m.get("doc_id")
        if not doc_id or doc_id in seen:
            continue
        title = m.get("title", "") or ""
        stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", (m.get("source", "") or "").replace("\\", "/").rsplit("/", 1)[-1])
        names = f"{title} {m.get('symbol', '') or ''}"
        numbers = {int(n) for n in TITLE_NUMBER_RE.findall(names)} | {int(n) for n in re.findall(r"(?:^|[-_ ])c0*(\d{2,3})(?=[-_ ]|$)", stem, re.IGNORECASE)}
        years = {int(y) for y in YEAR_RE.findall(f"{title} {stem}")} | ({int(m["year"])} if str(m.get("year") or "").isdigit() else set())
        words = {w.lower() for w in re.findall(r"[A-Za-z]{3,}", f"{title} {stem.replace('-', ' ').replace('_', ' ')}")}
        seen[doc_id] = DocumentName(doc_id, title, frozenset(numbers), frozenset(years), frozenset(words))
    return list(seen.values())


@dataclass(frozen=True)
class Named:
    """The documents a question names, and the question without the words that named them
    (constant within those documents, so they would only pull up their title pages)."""

    doc_ids: list[str]
    rest: str
    strong: frozenset[str] = frozenset()  # named by acronym, instrument number or "the 1956 convention", not by a date or a common word


def named_documents(question: str, documents: list[DocumentName]) -> Named:
    """The doc ids a question names distinctively (by acronym, instrument number, year or a
    proper name that belongs to few documents); none when it names none or too many."""
    votes: dict[str, int] = {}
    naming: list[str] = []
    strong: set[str] = set()

    def vote(text: str, matches: list[DocumentName], is_name: bool = False) -> None:
        if 0 < len(matches) <= MAX_NAMED:
            naming.append(text)
            for d in matches:
                votes[d.doc_id] = votes.get(d.doc_id, 0) + 1
                if is_name:
                    strong.add(d.doc_id)

    for acronym in set(ACRONYM_RE.findall(question)):
        # Two letters ("UN") spell out too many things by chance; only a file name counts for them.
        vote(acronym, [d for d in documents if acronym.lower() in d.words or (len(acronym) > 2 and acronym_expanded(acronym, d.title))], is_name=True)
    for match in INSTRUMENT_NUMBER_RE.finditer(question):
        vote(match.group(0), [d for d in documents if int(match.group(1)) in d.numbers], is_name=True)
    for year in set(YEAR_RE.findall(question)):
        # "the 1956 convention", "the 2003 Action Plan", "la convention de 1956" name a
        # document (a word of its title next to the year); "in 2013" is a date.
        after = re.findall(rf"\b{year}\b\W{{0,2}}\s*(\w{{3,}})", question)
        before = re.findall(rf"(\w{{3,}})\s+(?:(?:of|de|du|des|von|vom)\s+)?{year}\b", question)
        matches = [d for d in documents if int(year) in d.years]
        vote(year, matches, is_name=any(w.lower() in d.words for w in after + before for d in matches))
    for word in {w for w in PROPER_RE.findall(question) if w.lower() not in ALL_STOPWORDS}:
        vote(word, [d for d in documents if word.lower() in d.words])
    if not votes or len(votes) > MAX_NAMED:
        return Named([], question)
    rest = question
    for text in naming:
        rest = re.sub(rf"\b{re.escape(text)}\b", " ", rest)
    return Named(sorted(votes, key=lambda doc_id: -votes[doc_id]), " ".join(rest.split()), frozenset(strong))
