"""Generative answers that keep Beacon's grounding, and follow-up questions made standalone.

`GenerativeAnswerer` has the extractive answerer's interface (`answer(retrieval) -> Answer`)
and runs the same refusal gates *before* the LLM is called, so a question the library cannot
answer costs no generation and gets the same refusal. The draft is then checked sentence by
sentence (`assistant.verify`); only sentences their cited source supports are kept, and when
none is, the answer is the refusal.

`FollowUpRewriter` turns "and for children?" into a question retrieval can use, from the
conversation so far: with the LLM when one is configured (kept only if it completes the
question with the conversation's own words), otherwise with a deterministic rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Generator
from typing import TypeVar

from langchain_core.language_models.chat_models import BaseChatModel

from assistant.answerer import EMPTY_LIBRARY, ExtractiveAnswerer
from assistant.errors import BeaconError, ConfigError
from assistant.llm import NOT_FOUND, answer_chain, format_sources, is_backend_error, rewrite_chain
from assistant.models import Answer
from assistant.retriever import Retrieval
from assistant.text import ALL_STOPWORDS, TOKEN_RE, normalize, tokenize, words
from assistant.verify import CitationVerifier

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

    def answer(self, retrieval: Retrieval) -> Answer:
        gated = self._gate(retrieval)
        if gated is not None:
            return gated
        inputs, hits = self._inputs(retrieval)
        draft = self._call(lambda: self.chain.invoke(inputs))
        return self.finish(retrieval, draft, len(hits))

    def stream(self, retrieval: Retrieval) -> Generator[str, None, Answer]:
        """Yield the draft as the model writes it; return the verified `Answer`.

        The draft is unverified: show it as provisional and replace it with the returned
        answer (`answer = yield from answerer.stream(retrieval)`). A refusal decided before
        generation is yielded whole.
        """
        gated = self._gate(retrieval)
        if gated is not None:
            yield gated.answer
            return gated
        inputs, hits = self._inputs(retrieval)
        parts: list[str] = []
        stream = self._call(lambda: self.chain.stream(inputs))
        while True:
            delta = self._call(lambda: next(stream, None))
            if delta is None:
                break
            if delta:
                parts.append(delta)
                yield delta
        return self.finish(retrieval, "".join(parts), len(hits))

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
            citations=[ExtractiveAnswerer._citation(n, hits[h]) for n, h in enumerate(verification.cited_hits, 1)],
            retrieved=ExtractiveAnswerer._retrieved(retrieval.hits),
            answerer=self.name,
            sentences=verification.sentences,
        )

    # -- parts -------------------------------------------------------------------------------
    def _gate(self, retrieval: Retrieval) -> Answer | None:
        """The extractive answerer's refusal, when its grounding gates already say no."""
        empty = not retrieval.hits and self.extractive.lexical.size == 0
        reason = EMPTY_LIBRARY if empty else self.extractive.refusal_reason(retrieval)
        return None if reason is None else self._refusal(retrieval, reason)

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


# -- follow-up questions ---------------------------------------------------------------------
CONNECTORS = (
    "and", "what about", "how about", "also", "or", "but", "same for", "what if",
    "und", "was ist mit", "et", "et pour", "qu'en est-il", "и", "а как", "а",
)
ANAPHORA = {
    "it", "its", "they", "them", "their", "this", "that", "these", "those", "there", "he", "she", "his", "her", "such", "same",
    "il", "elle", "ils", "elles", "leur", "leurs", "cela", "ça", "ce", "ces", "er", "sie", "es", "dies", "diese", "dieser", "dort",
    "он", "она", "оно", "они", "это", "этот", "эти", "там",
}
MAX_HISTORY_MESSAGES = 8
MAX_MESSAGE_CHARS = 400


def _known(term: str, vocabulary: set[str]) -> bool:
    """Whether a term was used, allowing inflections the stemmer keeps apart (child/children)."""
    return term in vocabulary or (len(term) >= 4 and any(v[:4] == term[:4] for v in vocabulary if len(v) >= 4))


def is_follow_up(question: str) -> bool:
    """Whether a question leans on the conversation: it opens with a connector ("and for
    children?", "what about Moldova?"), has fewer than two key terms ("Why?", "Which
    article?"), or points back with a pronoun while short ("Who signed it?")."""
    ws = words(question)
    text = " ".join(ws)
    if any(text == c or text.startswith(c + " ") for c in CONNECTORS):
        return True
    terms = tokenize(question)
    return len(terms) < 2 or (len(terms) < 5 and any(w in ANAPHORA for w in ws))


def key_words(question: str) -> list[str]:
    """The question's words that carry meaning, as written (capitals kept for names)."""
    found = TOKEN_RE.findall(unicodedata.normalize("NFKC", question))
    return list(dict.fromkeys(w for w in found if normalize(w) not in ALL_STOPWORDS))


def rewrite_deterministic(question: str, previous: str) -> str:
    """Prefix a follow-up with the previous question's key words it does not repeat."""
    if not previous or not is_follow_up(question):
        return question
    own = set(tokenize(question))
    carried = [w for w in key_words(previous) if not set(tokenize(w)) <= own]
    return f"{' '.join(carried)}: {question}" if carried else question


class FollowUpRewriter:
    """Standalone questions from a conversation; `model=None` uses the deterministic rule."""

    def __init__(self, model: BaseChatModel | None = None):
        self.chain = rewrite_chain(model) if model is not None else None

    def rewrite(self, question: str, history: list[dict] | None) -> str:
        turns = [m for m in history or [] if str(m.get("content", "")).strip()]
        if turns and turns[-1].get("role") == "user" and " ".join(turns[-1]["content"].split()) == question:
            turns.pop()  # the history already ends with the question being asked
        previous = ""
        for m in turns:  # earlier questions may be follow-ups themselves
            if m.get("role") == "user":
                previous = rewrite_deterministic(" ".join(m["content"].split()), previous)
        if not previous:
            return question
        if self.chain is not None and (is_follow_up(question) or ANAPHORA & set(words(question))):
            # A self-contained question is left alone: a small model "completing" it can only
            # add terms the user did not ask about.
            rewritten = self._rewrite_with_llm(question, turns)
            if rewritten:
                return rewritten
        return rewrite_deterministic(question, previous)

    def _rewrite_with_llm(self, question: str, history: list[dict]) -> str | None:
        """The LLM's standalone question, or None when it is not a faithful completion: it must
        keep every key term of the question, add one from the conversation and invent none."""
        lines = []
        for m in history[-MAX_HISTORY_MESSAGES:]:
            content = " ".join(str(m.get("content", "")).split())[:MAX_MESSAGE_CHARS]
            lines.append(f"{'User' if m.get('role') == 'user' else 'Assistant'}: {content}")
        try:
            out = self.chain.invoke({"conversation": "\n".join(lines), "question": question})
        except Exception as exc:  # a failed rewrite must not fail the question
            if isinstance(exc, BeaconError) or is_backend_error(exc):
                return None
            raise
        out = re.sub(r"^\s*(?:standalone question|question)\s*:\s*", "", " ".join(out.split()), flags=re.IGNORECASE).strip(" \"'")
        if not out or len(out) > 3 * len(question) + 200:
            return None
        own, said = set(tokenize(question)), set(tokenize(" ".join(lines)))
        terms = set(tokenize(out))
        if not own <= terms:
            return None  # it dropped or changed what the user asked
        if not terms - own:
            return None  # it resolved nothing from the conversation
        if any(not _known(t, own | said) for t in terms):
            return None  # it brought in words nobody used: the guess of a model, not the conversation
        return out
