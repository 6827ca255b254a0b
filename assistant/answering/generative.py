"""Generative answers that keep Beacon's grounding.

`GenerativeAnswerer` has the extractive answerer's interface (`answer(retrieval) -> Answer`)
and runs the same refusal gates *before* the LLM is called, so a question the library cannot
answer costs no generation and gets the same refusal. The draft is then checked sentence by
sentence (`assistant.answering.verify`); only sentences their cited source supports are kept, and when
none is, the answer is the refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from langchain_core.language_models.chat_models import BaseChatModel

from assistant.answering.base import DraftDelta, Final, citation_of, retrieved_of
from assistant.answering.extractive import ExtractiveAnswerer
from assistant.answering.retriever import Retrieval
from assistant.answering.verify import CitationVerifier
from assistant.domain.errors import BeaconError, ConfigError
from assistant.domain.models import Answer
from assistant.domain.text import normalize
from assistant.llm.backends import NOT_FOUND, answer_chain, format_sources, is_backend_error

T = TypeVar("T")

NO_ANSWER_IN_SOURCES = "The retrieved passages do not state an answer (the model said so)."
NOTHING_SUPPORTED = "No sentence of the generated answer is supported by the passage it cites."


class GenerativeAnswerer:
    """An LLM writes the answer from numbered sources; the verifier decides what stays."""

    def __init__(
        self,
        name: str,
        extractive: ExtractiveAnswerer,
        model: BaseChatModel,
        verifier: CitationVerifier,
        source_chars: int | None = None,
    ):
        self.name = name
        self.extractive = extractive
        self.model = model
        self.chain = answer_chain(model)
        self.verifier = verifier
        self.source_chars = source_chars

    def warm_up(self) -> None:
        """Load a local model now (a server model is the server's business)."""
        load = getattr(self.model, "load", None)
        if callable(load):
            load()

    def answer(self, retrieval: Retrieval, min_confidence: float | None = None) -> Answer:
        gated = self._gate(retrieval, min_confidence)
        if gated is not None:
            return gated
        inputs, hits = self._inputs(retrieval)
        draft = self._call(lambda: self.chain.invoke(inputs))
        return self.finish(retrieval, draft, len(hits))

    def stream(self, retrieval: Retrieval, min_confidence: float | None = None) -> Iterator[DraftDelta | Final]:
        """The draft as the model writes it (`DraftDelta`s: unverified, show them as
        provisional), then the verified answer (`Final`). A refusal decided before generation
        is its text as one delta, then the `Final` refusal."""
        gated = self._gate(retrieval, min_confidence)
        if gated is not None:
            yield DraftDelta(gated.answer)
            yield Final(gated)
            return
        inputs, hits = self._inputs(retrieval)
        parts: list[str] = []
        stream = self._call(lambda: self.chain.stream(inputs))
        while True:
            delta = self._call(lambda: next(stream, None))
            if delta is None:
                break
            if delta:
                parts.append(delta)
                yield DraftDelta(delta)
        yield Final(self.finish(retrieval, "".join(parts), len(hits)))

    def finish(self, retrieval: Retrieval, draft: str, used: int) -> Answer:
        """Verify a draft written from the first `used` hits and build the Answer."""
        hits = retrieval.hits[:used]
        verification = self.verifier.verify(draft, hits, retrieval.question)
        if not verification.supported:
            said_not_found = normalize(NOT_FOUND).rstrip(".") in normalize(draft)
            refusal = self._refusal(retrieval, NO_ANSWER_IN_SOURCES if said_not_found else NOTHING_SUPPORTED)
            refusal.sentences = verification.sentences
            return refusal
        return Answer(
            question=retrieval.question,
            answer=verification.text,
            refused=False,
            citations=[citation_of(n, hits[h]) for n, h in enumerate(verification.cited_hits, 1)],
            retrieved=retrieved_of(retrieval.hits),
            answerer=self.name,
            sentences=verification.sentences,
        )

    # -- parts -------------------------------------------------------------------------------
    def _gate(self, retrieval: Retrieval, min_confidence: float | None = None) -> Answer | None:
        """The extractive answerer's refusal, when the grounding decision already says no: the
        same calibrated decision serves every answerer, before any generation is paid for."""
        gated = self.extractive.answer(retrieval, min_confidence)
        if not gated.refused:
            return None
        gated.answerer = self.name
        return gated

    def _refusal(self, retrieval: Retrieval, reason: str) -> Answer:
        refusal = self.extractive.refusal(retrieval, reason)
        refusal.answerer = self.name
        return refusal

    def _inputs(self, retrieval: Retrieval) -> tuple[dict, list]:
        sources, used = format_sources(retrieval.hits, self.source_chars)
        return {"sources": sources, "question": retrieval.question}, retrieval.hits[:used]

    def _call(self, fn: Callable[[], T]) -> T:
        """Run an LLM call, turning a backend failure into a ConfigError that says what to check."""
        try:
            return fn()
        except BeaconError:
            raise
        except Exception as exc:
            if not is_backend_error(exc):
                raise
            where = "the OpenAI-compatible server (BEACON_OPENAI_BASE_URL)" if self.name == "openai" else "the local model (BEACON_LLM_MODEL_PATH)"
            raise ConfigError(f"The {self.name} answerer failed: {type(exc).__name__}: {exc}. Check {where}, or set BEACON_ANSWERER=extractive.") from exc
