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

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from assistant.domain.models import Answer, Citation, Hit, Referral, Retrieved

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
    return Citation(n=n, doc_id=hit.doc_id, title=hit.title, source=hit.source, locator=hit.locator, text=hit.text, score=hit.score, url=hit.url)


def retrieved_of(hits: list[Hit]) -> list[Retrieved]:
    """What an answer reports it looked at."""
    return [Retrieved(doc_id=h.doc_id, source=h.source, locator=h.locator, score=h.score, title=h.title) for h in hits]
