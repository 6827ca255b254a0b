"""The extractive answerer: an answer made only of library sentences, each with its marker.

It drafts first, then decides. The draft picks the sentences (or lists, with their lead-in)
of the retrieved chunks that best answer the question, scored by embedding similarity,
IDF-weighted key-term coverage (a term also counts through a passage word of close meaning),
the context of their chunk (title, article) and, where the question asks for it, a number
or a definition. The decision (`assistant.answering.grounding`) weighs the signals of support with one
calibrated model and refuses below its threshold: a wrong claim about a legal commitment is
worse than no answer, and a refusal of what the library says is a failure too.

When the library covers part of a question, the answer says which part it does not cover:
a name, number or acronym the passages never mention, or one of several questions asked
together that no chosen sentence addresses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from assistant.answering.base import Final, citation_of, quote_span, retrieved_of
from assistant.answering.grounding import (
    Decision,
    RefusalModel,
    Signals,
    Term,
    answer_type,
    key_terms,
    missing_specifics,
    shipped_model,
    soft_matches,
    split_case,
    states_type,
    weighted_share,
)
from assistant.answering.retriever import Retrieval, near_duplicate, shingles
from assistant.domain.models import Answer, AnswerSentence
from assistant.domain.text import is_list_item, split_sentences, stem, words
from assistant.library.catalogue import LexicalIndex
from assistant.library.crosslingual import CrossLingualIndex
from assistant.library.embedder import Embedder

REFUSAL = "I can't answer this from the library: it does not contain enough support for this question."
EMPTY_LIBRARY = "The library is empty: add documents with `beacon ingest PATH` (or `make run`, which loads the default library)."

MIN_SENTENCE_WORDS = 4
SIMILARITY_WEIGHT = 0.5
KEY_TERM_WEIGHT = 0.5
CONTEXT_WEIGHT = 0.1
RANK_WEIGHT = 0.04
TYPE_WEIGHT = 0.08  # a number for "how many / how long", a definition for "what is / what counts as"
FOLLOWER_RATIO = 0.5  # a follower scores at least this share of the best (0.75: dev containment 0.729, 0.5: 0.767; golden 0.909 -> 0.932)
MAX_LIST_ITEMS = 8
MAX_EMBEDDED_UNITS = 24
MAX_EMBEDDED_UNITS_CROSSLINGUAL = 12
MAX_UNIT_CHARS = 600
SIBLING_RATIO = 0.9
SOFT_MATCH = 0.55  # a passage word this close to a question term (cosine) stands in for it
PART_COVERED = 0.5  # one of several questions asked together counts as answered above this coverage
# Navigation text ("More information … can be found [here](#)", "click here") states nothing.
NAVIGATION_RE = re.compile(r"\[(?:here|link|more|read more)\]\(|\bclick here\b|\bcan be found here\b", re.IGNORECASE)
DEFINITION_QUESTION_RE = re.compile(
    r"\b(?:what (?:is|are|does|do|counts?|constitutes?|qualif\w*)|define[sd]?|definition|meaning|mean by|considered|counts? as|"
    r"qu'est-ce|définit|définition|was (?:ist|sind|gilt)|definiert|что (?:такое|считается)|определ)",
    re.IGNORECASE,
)
DEFINITION_RE = re.compile(
    r"\b(?:shall mean|means|for the purposes? of|the terms? [\"“]|shall (?:be deemed|include|be considered)|refers? to|is defined as)\b",
    re.IGNORECASE,
)


@dataclass
class Unit:
    """A candidate answer unit: a sentence, or a list with its lead-in."""

    hit: int
    position: int
    text: str
    probe: str  # what is compared with the question (a list's lead-in)
    words: list[str]
    cover: float = 0.0
    similarity: float = 0.0
    score: float = 0.0


@dataclass
class Draft:
    """The best answer the passages allow, and the signals the decision weighs."""

    chosen: list[Unit]
    signals: Signals
    terms: list[Term]
    missing_names: list[str] = field(default_factory=list)
    missing_numbers: list[str] = field(default_factory=list)
    uncovered_parts: list[str] = field(default_factory=list)
    term_scores: dict[str, float] = field(default_factory=dict)


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        lexical: LexicalIndex,
        max_sentences: int = 4,
        crosslingual: CrossLingualIndex | None = None,
        model: RefusalModel | None = None,
        min_confidence: float | None = None,
    ):
        self.embedder = embedder
        self.lexical = lexical
        self.max_sentences = max_sentences
        self.crosslingual = crosslingual
        self._model = model
        self.min_confidence = min_confidence

    @property
    def model(self) -> RefusalModel:
        if self._model is None:
            self._model = shipped_model()
        return self._model

    def threshold(self, signals: Signals) -> float:
        """The confidence needed to answer: BEACON_MIN_CONFIDENCE, else the fitted threshold."""
        return self.model.threshold_for(signals) if self.min_confidence is None else self.min_confidence

    # -- the decision ------------------------------------------------------------------------
    def decide(self, draft: Draft, min_confidence: float | None = None) -> Decision:
        threshold = self.threshold(draft.signals) if min_confidence is None else min_confidence
        confidence = self.model.confidence(draft.signals)
        if not draft.chosen:
            return Decision(confidence, False, "No passage states an answer to this question directly.")
        if confidence >= threshold:
            return Decision(confidence, True)
        return Decision(confidence, False, self._why(draft, confidence))

    def _why(self, draft: Draft, confidence: float) -> str:
        """The refusal's reason, from the signals that spoke most against answering."""
        missing = draft.missing_names + draft.missing_numbers
        if missing:
            return "The library does not mention " + ", ".join(f"“{m}”" for m in missing) + "."
        weak = [t.word for t in sorted(draft.terms, key=lambda t: -t.weight) if draft.term_scores.get(t.stem, 0.0) < SOFT_MATCH]
        if weak and draft.signals.crosslingual == 0:
            return "The passages found do not cover the question's key terms (" + ", ".join(weak[:5]) + ")."
        return f"Nothing in the library is close enough to this question (confidence {confidence:.2f})."

    def refusal_reason(self, retrieval: Retrieval) -> str | None:
        """Why the library cannot answer (None when it can): the same decision for every answerer."""
        if not retrieval.hits:
            return EMPTY_LIBRARY if self.lexical.size == 0 else "Nothing in the library matches this question."
        decision = self.decide(self.draft(retrieval))
        return None if decision.answer else decision.reason

    # -- answering ---------------------------------------------------------------------------
    def answer(self, retrieval: Retrieval, min_confidence: float | None = None) -> Answer:
        """The extractive answer, or the refusal; `min_confidence` overrides the model's
        threshold (0: answer whatever the confidence, as the eval's risk-coverage curve needs)."""
        if not retrieval.hits:
            return self.refusal(retrieval, EMPTY_LIBRARY if self.lexical.size == 0 else "Nothing in the library matches this question.")
        draft = self.draft(retrieval)
        decision = self.decide(draft, min_confidence)
        if not decision.answer:
            answer = self.refusal(retrieval, decision.reason)
        else:
            answer = self._compose(retrieval, [(u.hit, u.position, u.text, round(u.score, 4)) for u in draft.chosen])
            answer.uncovered = draft.missing_names + draft.missing_numbers + draft.uncovered_parts
            if answer.uncovered:
                answer.answer += "\n\n" + partial_note(answer.uncovered)
        answer.confidence = round(decision.confidence, 4)
        answer.grounding = draft.signals.rounded()
        return answer

    def _embed_units(self, retrieval: Retrieval, texts: list[str]):
        if retrieval.crosslingual and self.crosslingual is not None:
            return self.crosslingual.embed_sentences(texts)
        return self.embedder.embed_cached(texts)

    def _candidates(self, retrieval: Retrieval) -> list[Unit]:
        """Every answer unit of the hits; a lead-in ending in ':' carries its list. The probe is
        what is compared with the question: the lead-in of a list says what the list is about,
        while the items' own wording rarely resembles the question."""
        units: list[Unit] = []
        for h, hit in enumerate(retrieval.hits):
            sentences = split_sentences(hit.text)
            p = 0
            while p < len(sentences):
                text = sentences[p]
                if text.endswith(":"):
                    items = []
                    while p + 1 + len(items) < len(sentences) and is_list_item(sentences[p + 1 + len(items)]) and len(items) < MAX_LIST_ITEMS:
                        items.append(sentences[p + 1 + len(items)])
                    if items:
                        whole = " ".join([text, *items])
                        units.append(Unit(h, p, whole, text, words(whole)))
                        p += 1 + len(items)
                        continue
                if len(text.split()) >= MIN_SENTENCE_WORDS and len(text) <= MAX_UNIT_CHARS and not NAVIGATION_RE.search(text):
                    units.append(Unit(h, p, text, text, words(text)))
                p += 1
        return units

    def draft(self, retrieval: Retrieval) -> Draft:
        """Pick the answer sentences and measure how well the passages support the question."""
        self.lexical.ensure_current()
        question = retrieval.question
        crosslingual = retrieval.crosslingual
        untranslated = None
        if not crosslingual:
            terms = key_terms(question, self.lexical.idf, self.lexical.knows)
        elif self.crosslingual is not None:
            terms, untranslated = self._translated_terms(question)
        else:
            terms = []
        known = [t for t in terms if t.known]
        hits = retrieval.hits
        support_text = " ".join(f"{h.title} {h.locator} {h.text}" for h in hits)
        support_words = words(support_text)
        # How each question term is met in the passages: exactly (1.0) or by its closest word.
        term_scores = soft_matches(terms, support_words, self.embedder.embed_cached) if terms else {}
        word_match = self._word_matches(terms, support_words, term_scores)

        def cover(unit_words: list[str]) -> float:
            if not known:
                return 0.0
            best: dict[str, float] = {}
            for w in unit_words:
                for s, value in word_match.get(w, ()):
                    if value > best.get(s, 0.0):
                        best[s] = value
            return weighted_share(known, best)

        context_cover = [cover(words(f"{hit.title} {hit.locator}")) for hit in hits]
        units = self._candidates(retrieval)
        for u in units:
            u.cover = cover(u.words)
        # Embedding every sentence is the answerer's main cost; only the lexically promising
        # ones (plus the opening of the best chunks) are worth it.
        units.sort(key=lambda u: (-(u.cover + RANK_WEIGHT / (1 + u.hit)), u.hit, u.position))
        # Across languages no unit covers a key term, so the order is the chunks' rank; e5 is slow.
        limit = MAX_EMBEDDED_UNITS_CROSSLINGUAL if crosslingual else MAX_EMBEDDED_UNITS
        shortlist = units[:limit] + [u for u in units[limit:] if u.hit < 2 and u.position < 2]
        if shortlist:
            sims = self._embed_units(retrieval, [u.probe for u in shortlist]) @ retrieval.query_vector
        kind = answer_type(question)
        definitional = bool(DEFINITION_QUESTION_RE.search(question))
        for u, sim in zip(shortlist, sims if shortlist else []):
            u.similarity = float(sim)
            fits = states_type(u.text, kind, question) or (definitional and bool(DEFINITION_RE.search(u.text)))
            u.score = (
                SIMILARITY_WEIGHT * u.similarity
                + KEY_TERM_WEIGHT * u.cover
                + CONTEXT_WEIGHT * context_cover[u.hit]
                + RANK_WEIGHT / (1 + u.hit)
                + TYPE_WEIGHT * fits
            )
        chosen = self._choose(sorted(shortlist, key=lambda u: -u.score), known, word_match)
        names, numbers = missing_specifics(question, support_text, numbers_only=crosslingual)
        asked, case = split_case(question)
        if case:  # a name or place of the case described before the question is not what it asks
            # about; numbers there still count ("Recommendation No. 190", "he says he's 16")
            asked_names = {n.lower() for n in missing_specifics(asked, support_text, numbers_only=crosslingual)[0]}
            names = [n for n in names if n.lower() in asked_names]
        signals = self._signals(retrieval, chosen, terms, known, term_scores, names, numbers, kind, cover, untranslated)
        parts = [] if crosslingual else self._uncovered_parts(question, chosen, cover)
        return Draft(chosen, signals, terms, names, numbers, parts, term_scores)

    def _word_matches(self, terms: list[Term], support_words: list[str], term_scores: dict[str, float]) -> dict[str, list[tuple[str, float]]]:
        """passage word -> [(term stem, strength)] for exact stems and close neighbours."""
        matches: dict[str, list[tuple[str, float]]] = {}
        by_stem = {t.stem: t for t in terms}
        vocabulary = sorted(set(support_words))
        for w in vocabulary:
            s = stem(w)
            if s in by_stem:
                matches.setdefault(w, []).append((s, 1.0))
        pending = [t for t in terms if term_scores.get(t.stem, 0.0) < 1.0 and term_scores.get(t.stem, 0.0) >= SOFT_MATCH]
        if pending:
            content = [w for w in vocabulary if len(w) > 2 and not w.isdigit()]
            vectors = self.embedder.embed_cached([t.word for t in pending] + content)
            similarity = vectors[: len(pending)] @ vectors[len(pending) :].T
            for t, row in zip(pending, similarity):
                for i in (row >= SOFT_MATCH).nonzero()[0]:
                    matches.setdefault(content[i], []).append((t.stem, float(row[i])))
        return matches

    def _choose(self, scored: list[Unit], known: list[Term], word_match) -> list[Unit]:
        if not scored:
            return []
        best = scored[0]
        chosen = [best]
        covered = {s for w in best.words for s, _v in word_match.get(w, ())}
        for u in scored[1:]:
            if len(chosen) >= self.max_sentences or u.score < FOLLOWER_RATIO * best.score:
                break
            if any(near_duplicate(shingles(u.text), shingles(c.text), 0.7) for c in chosen):
                continue
            new_terms = {s for w in u.words for s, _v in word_match.get(w, ())} - covered
            if not new_terms and u.similarity < best.similarity and u.score < SIBLING_RATIO * best.score:
                continue  # adds no missing key term, no closer statement, and is not a sibling of the best
            chosen.append(u)
            covered |= new_terms
        chosen.sort(key=lambda u: (u.hit, u.position))
        return chosen

    def _translated_terms(self, question: str) -> tuple[list[Term], float | None]:
        """Key terms of a question in another language, as the library words multilingual-e5
        puts closest to its words (kept when close enough to be a translation), and the share
        of its words with no library word near them (the library's counterpart of terms it
        never uses)."""
        english, untranslated = self.crosslingual.translate_question(question)
        if untranslated is None:
            return [], None
        return key_terms(" ".join(english), self.lexical.idf, self.lexical.knows), untranslated

    def _signals(self, retrieval, chosen, terms, known, term_scores, names, numbers, kind, cover, untranslated=None) -> Signals:
        top = retrieval.dense_top or [0.0]
        margin = top[0] - (sum(top[1:]) / len(top[1:]) if len(top) > 1 else 0.0)
        best_sentence = max((u.similarity for u in chosen), default=0.0)
        total = sum(t.weight for t in terms)
        signals = Signals(
            # Whether any is missing, not how many: one name the library lacks ("the Southbridge
            # helpline") already says it answers about something else (CV: dev containment
            # 0.659 -> 0.664, refusal accuracy 0.757 -> 0.770; within the spread of shuffles).
            missing_names=float(bool(names)),
            missing_numbers=float(bool(numbers)),
            wants_value=float(kind is not None),
            value_in_answer=float(any(states_type(u.text, kind, retrieval.question) for u in chosen)),
            value_in_passages=float(any(states_type(h.text, kind, retrieval.question) for h in retrieval.hits)),
            bm25_best=min(retrieval.lexical_best, 3.0),
        )
        if retrieval.crosslingual:  # similarities on multilingual-e5's scale; key terms through translations
            signals.crosslingual, signals.best_chunk_x, signals.best_sentence_x, signals.margin_x = 1.0, top[0], best_sentence, margin
            if known:  # key terms through their library translations (no IDF mass is unknown there)
                signals.coverage_exact = weighted_share(known, {s: 1.0 for s, v in term_scores.items() if v >= 1.0})
                signals.coverage_soft = weighted_share(known, term_scores)
                signals.answer_coverage = cover([w for u in chosen for w in u.words])
            if untranslated is not None:
                signals.unknown_terms = untranslated
            return signals
        signals.best_chunk, signals.best_sentence, signals.margin = top[0], best_sentence, margin
        if terms:
            signals.coverage_exact = weighted_share(known, {s: 1.0 for s, v in term_scores.items() if v >= 1.0}) if known else 0.0
            signals.coverage_soft = weighted_share(known, term_scores) if known else 0.0
            signals.answer_coverage = cover([w for u in chosen for w in u.words])
            signals.unknown_terms = sum(t.weight for t in terms if not t.known) / total if total else 0.0
        return signals

    def _uncovered_parts(self, question: str, chosen: list[Unit], cover) -> list[str]:
        """Of several questions asked together, those no chosen sentence addresses."""
        parts = [p.strip() for p in re.split(r"(?<=\?)\s+", question) if p.strip()]
        if len(parts) < 2:
            return []
        answer_words = [w for u in chosen for w in u.words]
        uncovered = []
        for part in parts:
            part_terms = [t for t in key_terms(part, self.lexical.idf, self.lexical.knows) if t.known]
            if len(part_terms) < 2:
                continue
            scores = {}
            for w in answer_words:
                for s, value in self._part_word_match(w, part_terms):
                    scores[s] = max(scores.get(s, 0.0), value)
            if weighted_share(part_terms, scores) < PART_COVERED:
                uncovered.append(part)
        return uncovered if len(uncovered) < len(parts) else []

    @staticmethod
    def _part_word_match(word: str, part_terms: list[Term]):
        s = stem(word)
        return [(t.stem, 1.0) for t in part_terms if t.stem == s]

    def _compose(self, retrieval: Retrieval, chosen: list[tuple[int, int, str, float]]) -> Answer:
        numbers: dict[int, int] = {}
        for h, *_ in chosen:
            numbers.setdefault(h, len(numbers) + 1)
        citations = [citation_of(numbers[h], retrieval.hits[h]) for h in numbers]
        sentences = [
            AnswerSentence(text=sentence, citations=[numbers[h]], supported=True, support_score=score, **quote_span(retrieval.hits[h], sentence))
            for h, _p, sentence, score in chosen
        ]
        text = " ".join(f"{s.text} [{s.citations[0]}]" for s in sentences)
        return Answer(
            question=retrieval.question,
            answer=text,
            refused=False,
            citations=citations,
            retrieved=retrieved_of(retrieval.hits),
            answerer=self.name,
            sentences=sentences,
        )

    def refusal(self, retrieval: Retrieval, reason: str) -> Answer:
        """The fixed refusal with its reason and the closest documents."""
        closest = []
        seen = set()
        for hit in retrieval.hits:
            if hit.doc_id not in seen:
                seen.add(hit.doc_id)
                closest.append(f"- {hit.title}" + (f" ({hit.locator})" if hit.locator else ""))
        text = REFUSAL if reason == REFUSAL else f"{REFUSAL} {reason}"
        if closest:
            text += "\n\nClosest documents in the library:\n" + "\n".join(closest[:3])
        return Answer(
            question=retrieval.question,
            answer=text,
            refused=True,
            retrieved=retrieved_of(retrieval.hits),
            answerer=self.name,
            refusal_reason=reason,
        )

    def warm_up(self) -> None:
        """Nothing to load beyond the embedding model the Assistant already warms."""

    def stream(self, retrieval: Retrieval, min_confidence: float | None = None) -> Iterator[Final]:
        """The extractive answer has no draft: its stream is the one `Final` event."""
        yield Final(self.answer(retrieval, min_confidence))



def partial_note(uncovered: list[str]) -> str:
    """What an answer says about the parts of the question the library does not cover."""
    named = ", ".join(f"“{u}”" for u in uncovered)
    return f"Not covered by the passages quoted: {named}. The library may not say anything about this part of the question."
