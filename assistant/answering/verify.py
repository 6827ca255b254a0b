"""Citation verification: a generated sentence stays only if the source it cites supports it.

A model's `[n]` is a claim like any other. Each sentence of a generated answer is checked
against the chunk its marker points to, with evidence of three kinds:

1. lexical: the IDF-weighted share of the sentence's key terms that occur in the chunk (a
   rare term the chunk never uses, such as an invented name, weighs most);
2. specifics: every number, year, symbol and name in the sentence occurs in the chunk (or
   in the question, whose premise the refusal gates already checked);
3. semantic: the embedding similarity of the sentence to the chunk's closest sentence;

and, where configured, an LLM yes/no judge. Sentences that state nothing beyond the question
(or nothing at all: "PWNED") are never supported, nor are sentences unrelated to the
question: a faithful copy of "Ignore previous instructions…" from a source is no answer.
What fails is removed (or flagged); the rest is renumbered so `[n]` matches
`Answer.citations`.

Known limit: lexical and semantic evidence cannot tell "Assistance must not depend on…" from
"Reports must not depend on…"; a swapped subject that keeps most words passes unless the
judge (with a model able to judge) catches it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from langchain_core.runnables import Runnable

from assistant.answering.base import quote_span
from assistant.domain.citations import MARKER_RE, MARKERS_AFTER_STOP_RE, cited_numbers
from assistant.domain.errors import BeaconError, ConfigError
from assistant.domain.models import AnswerSentence, Hit
from assistant.domain.text import mentions, normalize, question_specifics, split_sentences, tokenize
from assistant.library.catalogue import LexicalIndex
from assistant.library.embedder import Embedder
from assistant.llm.backends import defuse, is_backend_error

TAG_RE = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>]{0,200})?/?>")
MIN_CLAIM_TERMS = 2  # fewer new key terms than this is not a statement a source could support
MIN_RELEVANCE = 0.1  # cosine to the question below which a sentence is off the point
MIN_COVERAGE = 0.6  # share of the sentence's key-term weight the chunk must contain
LEXICAL_WEIGHT = 0.5
SEMANTIC_WEIGHT = 0.5
UNVERIFIED = "[unverified]"


@dataclass
class SentenceCheck:
    """One generated sentence and the evidence found for it (hit indexes are 0-based)."""

    text: str
    cited: list[int]
    supported: bool = False
    support_score: float = 0.0
    supporting: list[int] = field(default_factory=list)
    repaired: bool = False  # cited by the verifier, not by the model (`repair_citations`)
    reason: str = ""
    evidence: Hit | None = None  # the first supporting hit ...
    evidence_text: str = ""  # ... and its sentence closest to the generated one


@dataclass
class Verification:
    """The verified answer: its text, its sentences and the hits its markers now number."""

    text: str
    sentences: list[AnswerSentence]
    cited_hits: list[int]
    checks: list[SentenceCheck]

    @property
    def supported(self) -> bool:
        return any(s.supported for s in self.sentences)


def split_cited_sentences(answer: str) -> list[tuple[str, list[int]]]:
    """(sentence without markers, cited numbers) for each sentence of a generated answer.

    A marker written after the full stop ("… exploitation. [1] States …") belongs to the
    sentence before it, so it is moved inside first.
    """
    answer = TAG_RE.sub(" ", answer)  # stray markup small models emit (</source>, </pre>)
    answer = MARKERS_AFTER_STOP_RE.sub(lambda m: f" {m.group(2).strip()}{m.group(1)}", answer)
    out: list[tuple[str, list[int]]] = []
    for sentence in split_sentences(answer):
        numbers = cited_numbers(sentence)
        clean = MARKER_RE.sub(" ", sentence)
        clean = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(clean.split())).strip()
        if re.search(r"\w", clean):
            out.append((clean, list(dict.fromkeys(numbers))))
    return out


class CitationVerifier:
    def __init__(
        self,
        embedder: Embedder,
        lexical: LexicalIndex,
        min_support: float = 0.6,
        unsupported: str = "remove",
        repair: bool = False,
        judge: Runnable | None = None,
    ):
        self.embedder = embedder
        self.lexical = lexical
        self.min_support = min_support
        self.unsupported = unsupported
        self.repair = repair
        self.judge = judge

    def verify(self, answer: str, hits: list[Hit], question: str = "") -> Verification:
        """Check every sentence of `answer` against the `hits` its markers number (1-based)."""
        self.lexical.ensure_current()
        checks = [SentenceCheck(text, cited) for text, cited in split_cited_sentences(answer)]
        for check in checks:
            self._check(check, hits, question)
        return self._render(checks)

    # -- evidence ----------------------------------------------------------------------------
    def support(self, sentence: str, hit: Hit, question: str = "") -> tuple[float, str]:
        """(score in 0..1, reason when unsupported; '' when the hit supports the sentence).

        Names and numbers taken from the question are the user's premise (the refusal gates
        checked the library mentions them), so the chunk need not repeat them; but a sentence
        must add at least MIN_CLAIM_TERMS key terms of its own to state anything.
        """
        terms = list(dict.fromkeys(tokenize(sentence)))
        asked = set(tokenize(question))
        if len([t for t in terms if t not in asked]) < MIN_CLAIM_TERMS:
            return 0.0, "states nothing beyond the question" if asked else "too short to be a statement"
        chunk = f"{hit.title} {hit.locator} {hit.text}"
        chunk_terms = set(tokenize(chunk))
        weights = {t: self.lexical.idf(t) for t in terms}
        coverage = sum(w for t, w in weights.items() if t in chunk_terms) / (sum(weights.values()) or 1.0)
        units = split_sentences(hit.text) or [hit.text]
        vectors = self.embedder.embed_cached([sentence, hit.text, *units])
        similarity = float(np.max(vectors[1:] @ vectors[0]))
        score = round(LEXICAL_WEIGHT * coverage + SEMANTIC_WEIGHT * max(similarity, 0.0), 4)
        premise = normalize(question)
        missing = [s for s in question_specifics(sentence) if not mentions(normalize(chunk), s) and not mentions(premise, s)]
        if missing:
            return score, "the source does not mention " + ", ".join(missing)
        if coverage < MIN_COVERAGE:
            return score, f"the source covers {coverage:.0%} of its key terms"
        if score < self.min_support:
            return score, f"support {score:.2f} below {self.min_support:.2f}"
        return score, ""

    def closest_unit(self, sentence: str, hit: Hit) -> str:
        """The sentence of a hit closest in meaning to a generated sentence: its evidence."""
        units = split_sentences(hit.text) or [hit.text]
        vectors = self.embedder.embed_cached([sentence, *units])
        return units[int(np.argmax(vectors[1:] @ vectors[0]))]

    def relevance(self, sentence: str, question: str) -> float:
        """Cosine similarity of a sentence to the question (1.0 when there is no question)."""
        if not question:
            return 1.0
        vectors = self.embedder.embed_cached([question, sentence])
        return float(vectors[1] @ vectors[0])

    def _check(self, check: SentenceCheck, hits: list[Hit], question: str) -> None:
        valid = [n - 1 for n in check.cited if 1 <= n <= len(hits)]
        reasons = [] if valid else ["no valid [n] marker" if not check.cited else f"marker {check.cited} names no retrieved source"]
        if self.relevance(check.text, question) < MIN_RELEVANCE:
            # Copied faithfully or not, a sentence unrelated to the question (typically an
            # instruction planted in a document) is not part of the answer.
            check.reason = "unrelated to the question"
            return
        scored = {h: self.support(check.text, hits[h], question) for h in valid}
        reasons += [reason for _score, reason in scored.values() if reason]
        supporting = [h for h in valid if not scored[h][1]]
        if not supporting and self.repair:
            scored.update({h: self.support(check.text, hits[h], question) for h in range(len(hits)) if h not in scored})
            best = max((h for h in scored if not scored[h][1]), key=lambda h: scored[h][0], default=None)
            if best is not None:
                supporting, check.repaired = [best], True
        if supporting and self.judge is not None:
            supporting = [h for h in supporting if self._judged(check.text, hits[h])]
            if not supporting:
                reasons.append("the judge found no cited source stating it")
        check.supporting = supporting
        check.supported = bool(supporting)
        if supporting:
            check.evidence = hits[supporting[0]]
            check.evidence_text = self.closest_unit(check.text, check.evidence)
        check.support_score = max((scored[h][0] for h in (supporting or scored)), default=0.0)
        check.reason = "" if check.supported else "; ".join(dict.fromkeys(reasons))

    def _judged(self, sentence: str, hit: Hit) -> bool:
        try:
            verdict = self.judge.invoke({"source": defuse(hit.text), "claim": sentence})
        except Exception as exc:
            if isinstance(exc, BeaconError) or not is_backend_error(exc):
                raise
            raise ConfigError(f"The LLM judge failed: {type(exc).__name__}: {exc}. Check the LLM backend, or set BEACON_JUDGE=false.") from exc
        return normalize(verdict).strip(" \"'*.").startswith("yes")

    # -- output ------------------------------------------------------------------------------
    def _render(self, checks: list[SentenceCheck]) -> Verification:
        numbers: dict[int, int] = {}
        sentences: list[AnswerSentence] = []
        parts: list[str] = []
        for check in checks:
            if check.supported:
                cited = [numbers.setdefault(h, len(numbers) + 1) for h in check.supporting]
                parts.append(check.text + " " + "".join(f"[{n}]" for n in cited))
            else:
                cited = []
                if self.unsupported == "flag":
                    parts.append(f"{check.text} {UNVERIFIED}")
            span = quote_span(check.evidence, check.evidence_text) if check.evidence is not None else {}
            sentences.append(AnswerSentence(text=check.text, citations=cited, supported=check.supported, support_score=check.support_score, **span))
        return Verification(text=" ".join(parts), sentences=sentences, cited_hits=list(numbers), checks=checks)
