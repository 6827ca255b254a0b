"""What every answerer is: the `Answerer` protocol, the events a streamed answer is made of,
and the citation records all answerers build the same way.

A stream is a sequence of events ending with exactly one `Final`:

    for event in beacon.ask_stream(question):
        match event:
            case ReferralShown(referral): ...   # the safety card, before anything else
            case DraftDelta(text): ...          # unverified draft text (generative answerers)
            case Final(answer): ...             # the verified answer; always the last event
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from assistant.domain.models import Answer, Citation, Hit, Referral, Retrieved, page_at, parse_page_starts

if TYPE_CHECKING:
    from assistant.answering.retriever import Retrieval


@dataclass(frozen=True)
class ReferralShown:
    """The question discloses danger: show this card before the answer."""

    referral: Referral


@dataclass(frozen=True)
class DraftDelta:
    """A piece of the draft as the model writes it: unverified, to be shown as provisional."""

    text: str


@dataclass(frozen=True)
class Final:
    """The verified answer (or the refusal); always the last event of a stream."""

    answer: Answer


Event = ReferralShown | DraftDelta | Final


@runtime_checkable
class Answerer(Protocol):
    """Turns a retrieval into an answer; `stream` yields `DraftDelta`s, then one `Final`."""

    name: str

    def warm_up(self) -> None:
        """Load what the first answer would otherwise wait for (a local model)."""

    def answer(self, retrieval: Retrieval, min_confidence: float | None = None) -> Answer: ...

    def stream(self, retrieval: Retrieval, min_confidence: float | None = None) -> Iterator[DraftDelta | Final]: ...


def final_answer(events: Iterable[Event]) -> Answer:
    """Run a stream to its end and return the answer of its `Final` event."""
    final = None
    for event in events:
        if isinstance(event, Final):
            final = event.answer
    if final is None:
        raise RuntimeError("the answer stream ended without a Final event")
    return final


def citation_of(n: int, hit: Hit) -> Citation:
    """Citation [n] of an answer, quoting the hit it points at."""
    return Citation(
        n=n, doc_id=hit.doc_id, title=hit.title, source=hit.source, locator=hit.locator, text=hit.text, score=hit.score, url=hit.url,
        page=hit.page, char_start=hit.char_start, char_end=hit.char_end,
        date=hit.valid_from or (str(hit.year) if hit.year else ""), status=hit.status,
    )


def quote_span(hit: Hit, quote: str) -> dict:
    """Where `quote` (a sentence taken from the hit's chunk, perhaps with its whitespace
    changed) is in the document's stored text: doc_id, page (where the sentence starts, for a
    chunk that runs over a page break), locator, char_start, char_end for an `AnswerSentence`;
    no offsets when the chunk has none or the quote is not in it."""
    span: dict = {"doc_id": hit.doc_id, "page": hit.page, "locator": hit.locator or None, "quote": quote}
    found = find_quote(hit.text, quote)
    if found is not None:
        span["page"] = page_at(hit.page, parse_page_starts(hit.page_starts), found[0])
        if span["page"] != hit.page and span["locator"]:
            span["locator"] = re.sub(rf"\bp\. {hit.page}\b", f"p. {span['page']}", span["locator"])
    if found is not None and hit.char_start is not None:
        span.update(char_start=hit.char_start + found[0], char_end=hit.char_start + found[1])
    return span


def find_quote(text: str, quote: str) -> tuple[int, int] | None:
    """(start, end) of `quote` in `text`, matching any run of whitespace to any other."""
    words = quote.split()
    if not words:
        return None
    match = re.search(r"\s+".join(re.escape(w) for w in words), text)
    return (match.start(), match.end()) if match else None


def retrieved_of(hits: list[Hit]) -> list[Retrieved]:
    """What an answer reports it looked at."""
    return [Retrieved(doc_id=h.doc_id, source=h.source, locator=h.locator, score=h.score, title=h.title) for h in hits]
