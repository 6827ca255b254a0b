"""The extractive answerer: an answer made only of library sentences, each with its marker.

Grounding rules, in order (each one a reason to refuse rather than guess):
1. something was retrieved at all;
2. the best chunk is semantically close to the question (`min_similarity`);
3. every specific of the question (names, places, years, numbers, symbols) occurs in the
   retrieved passages: on-topic-sounding questions about a country's hotline or a 2023 figure
   score as similar as answerable ones, so similarity alone cannot decide;
4. the passages cover enough of the question's key terms, weighted by rarity (IDF);
5. at least one sentence both resembles the question and shares its key terms.

Sentences are scored by embedding similarity *and* IDF-weighted key-term overlap, because
similarity alone picks fluent but off-point sentences.
"""

from __future__ import annotations

import re

from assistant.crosslingual import CrossLingualIndex
from assistant.embedder import Embedder
from assistant.lexical import LexicalIndex
from assistant.models import Answer, AnswerSentence, Citation, Hit, Retrieved
from assistant.retriever import Retrieval, near_duplicate, _shingles
from assistant.text import is_list_item, mentions, normalize, question_specifics, split_sentences, tokenize

REFUSAL = "I can't answer this from the library: it does not contain enough support for this question."
EMPTY_LIBRARY = "The library is empty: add documents with `beacon ingest PATH` (or `make run`, which loads the default library)."

MIN_KEY_TERM_COVERAGE = 0.5
MIN_SENTENCE_WORDS = 4
SIMILARITY_WEIGHT = 0.5
KEY_TERM_WEIGHT = 0.5
CONTEXT_WEIGHT = 0.1
RANK_WEIGHT = 0.04
FOLLOWER_RATIO = 0.75
MAX_LIST_ITEMS = 8
MAX_EMBEDDED_UNITS = 12
MAX_UNIT_CHARS = 600
SIBLING_RATIO = 0.9
# Navigation text ("More information … can be found [here](#)", "click here") states nothing.
NAVIGATION_RE = re.compile(r"\[(?:here|link|more|read more)\]\(|\bclick here\b|\bcan be found here\b", re.IGNORECASE)


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        lexical: LexicalIndex,
        min_similarity: float = 0.3,
        max_sentences: int = 4,
        crosslingual: CrossLingualIndex | None = None,
        min_crosslingual_similarity: float = 0.85,
    ):
        self.embedder = embedder
        self.lexical = lexical
        self.min_similarity = min_similarity
        self.max_sentences = max_sentences
        self.crosslingual = crosslingual
        self.min_crosslingual_similarity = min_crosslingual_similarity
        # Switches for ablations (evals/ablations.py measures what each grounding rule buys).
        self.check_specifics = True
        self.check_key_terms = True
        self.key_term_weight = KEY_TERM_WEIGHT

    # -- grounding checks --------------------------------------------------------------------
    def refusal_reason(self, retrieval: Retrieval) -> str | None:
        hits = retrieval.hits
        if not hits:
            return "Nothing in the library matches this question."
        if retrieval.best_similarity < self._threshold(retrieval):
            return f"Nothing in the library is close to this question (best similarity {retrieval.best_similarity:.2f})."
        support = normalize(" ".join(f"{h.title} {h.locator} {h.text}" for h in hits))
        specifics = question_specifics(retrieval.question) if self.check_specifics else []
        if retrieval.crosslingual:  # names are spelled in the question's language; numbers and symbols are not
            specifics = [s for s in specifics if any(ch.isdigit() for ch in s)]
        missing = [s for s in specifics if not mentions(support, s)]
        if missing:
            return "The library does not mention " + ", ".join(f"“{m}”" for m in missing) + "."
        # Across languages the question's words cannot occur in the (English) passages.
        weights = self._term_weights(retrieval.question) if self.check_key_terms and not retrieval.crosslingual else {}
        if weights:
            support_tokens = set(tokenize(support))
            covered = sum(w for t, w in weights.items() if t in support_tokens) / sum(weights.values())
            if covered < MIN_KEY_TERM_COVERAGE:
                absent = [t for t in weights if t not in support_tokens]
                return "The passages found do not cover the question's key terms (" + ", ".join(absent[:5]) + ")."
        return None

    def _threshold(self, retrieval: Retrieval) -> float:
        return self.min_crosslingual_similarity if retrieval.crosslingual else self.min_similarity

    def _embed_units(self, retrieval: Retrieval, texts: list[str]):
        if retrieval.crosslingual and self.crosslingual is not None:
            return self.crosslingual.embed_passages(texts)
        return self.embedder.embed_cached(texts)

    def _term_weights(self, question: str) -> dict[str, float]:
        self.lexical.ensure_current()
        return {t: self.lexical.idf(t) for t in dict.fromkeys(tokenize(question))}

    # -- answering ---------------------------------------------------------------------------
    def answer(self, retrieval: Retrieval) -> Answer:
        reason = EMPTY_LIBRARY if not retrieval.hits and self.lexical.size == 0 else self.refusal_reason(retrieval)
        if reason is None:
            chosen = self._select_sentences(retrieval)
            if not chosen:
                reason = "No passage states an answer to this question directly."
        if reason is not None:
            return self.refusal(retrieval, reason)
        return self._compose(retrieval, chosen)

    def _candidates(self, retrieval: Retrieval) -> list[tuple[int, int, str, str]]:
        """(hit index, position, text, probe) of every answer unit; a lead-in ending in ':' carries
        its list. The probe is what is compared with the question: the lead-in of a list says what
        the list is about, while the items' own wording rarely resembles the question."""
        units: list[tuple[int, int, str, str]] = []
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
                        units.append((h, p, " ".join([text, *items]), text))
                        p += 1 + len(items)
                        continue
                if len(text.split()) >= MIN_SENTENCE_WORDS and len(text) <= MAX_UNIT_CHARS and not NAVIGATION_RE.search(text):
                    units.append((h, p, text, text))
                p += 1
        return units

    def _select_sentences(self, retrieval: Retrieval) -> list[tuple[int, int, str, float]]:
        """(hit index, position, sentence, score) of the sentences that answer the question."""
        weights = self._term_weights(retrieval.question)
        total = sum(weights.values()) or 1.0

        def cover(tokens: set[str]) -> float:
            return sum(w for t, w in weights.items() if t in tokens) / total

        context_cover = [cover(set(tokenize(f"{hit.title} {hit.locator}"))) for hit in retrieval.hits]
        units = []
        for h, p, text, probe in self._candidates(retrieval):
            tokens = set(tokenize(text))
            units.append((h, p, text, tokens, cover(tokens), probe))
        if not units:
            return []
        # Embedding every sentence is the answerer's main cost; only the lexically promising
        # ones (plus the opening of the best chunks) are worth it.
        units.sort(key=lambda u: (-(u[4] + RANK_WEIGHT / (1 + u[0])), u[0], u[1]))
        shortlist = units[:MAX_EMBEDDED_UNITS]
        shortlist += [u for u in units[MAX_EMBEDDED_UNITS:] if u[0] < 2 and u[1] < 2]
        similarity = self._embed_units(retrieval, [u[5] for u in shortlist]) @ retrieval.query_vector
        scored = []
        for (h, p, text, tokens, cov, _probe), sim in zip(shortlist, similarity):
            score = SIMILARITY_WEIGHT * float(sim) + self.key_term_weight * cov + CONTEXT_WEIGHT * context_cover[h] + RANK_WEIGHT / (1 + h)
            scored.append((score, h, p, text, float(sim), cov, tokens))
        scored.sort(key=lambda row: -row[0])
        best = scored[0]
        if best[4] < self._threshold(retrieval) and best[5] == 0:
            return []
        chosen = [best]
        covered_terms = {t for t in weights if t in best[6]}
        for row in scored[1:]:
            if len(chosen) >= self.max_sentences or row[0] < FOLLOWER_RATIO * best[0]:
                break
            if any(near_duplicate(_shingles(row[3]), _shingles(c[3]), 0.7) for c in chosen):
                continue
            new_terms = {t for t in weights if t in row[6]} - covered_terms
            if not new_terms and row[4] < best[4] and row[0] < SIBLING_RATIO * best[0]:
                continue  # adds no missing key term, no closer statement, and is not a sibling of the best
            chosen.append(row)
            covered_terms |= new_terms
        chosen.sort(key=lambda row: (row[1], row[2]))
        return [(h, p, sentence, round(score, 4)) for score, h, p, sentence, *_ in chosen]

    def _compose(self, retrieval: Retrieval, chosen: list[tuple[int, int, str, float]]) -> Answer:
        numbers: dict[int, int] = {}
        for h, *_ in chosen:
            numbers.setdefault(h, len(numbers) + 1)
        citations = [self._citation(numbers[h], retrieval.hits[h]) for h in numbers]
        sentences = [
            AnswerSentence(text=sentence, citations=[numbers[h]], supported=True, support_score=score)
            for h, _p, sentence, score in chosen
        ]
        text = " ".join(f"{s.text} [{s.citations[0]}]" for s in sentences)
        return Answer(
            question=retrieval.question,
            answer=text,
            refused=False,
            citations=citations,
            retrieved=self._retrieved(retrieval.hits),
            answerer=self.name,
            sentences=sentences,
        )

    def refusal(self, retrieval: Retrieval, reason: str) -> Answer:
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
            retrieved=self._retrieved(retrieval.hits),
            answerer=self.name,
            refusal_reason=reason,
        )

    @staticmethod
    def _citation(n: int, hit: Hit) -> Citation:
        return Citation(n=n, doc_id=hit.doc_id, title=hit.title, source=hit.source, locator=hit.locator, text=hit.text, score=hit.score, url=hit.url)

    @staticmethod
    def _retrieved(hits: list[Hit]) -> list[Retrieved]:
        return [Retrieved(doc_id=h.doc_id, source=h.source, locator=h.locator, score=h.score, title=h.title) for h in hits]

