"""The newer text on the point: when an answer quotes a document that a newer one in the
library supersedes or amends, the newer one's sentence on the same point is quoted too,
verbatim with its span (so quote exactness holds), as its own citation. The relations and
the "asks about a time" test are `assistant.answering.timeline`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from assistant.answering.base import citation_of, quote_span
from assistant.answering.timeline import newer_documents
from assistant.domain.models import Answer, AnswerSentence, Hit
from assistant.domain.text import split_sentences

SAME_POINT = 0.65  # cosine of two sentences' vectors above which the newer one covers the quoted one's point
ON_QUESTION = 0.5  # ... and of the newer sentence and the question, above which it is about what was asked


def cite_newer(
    answer: Answer,
    documents: dict[str, dict],
    search: Callable[[str, list[str]], Sequence[Hit]],
    embed: Callable[[list[str]], np.ndarray],
    question: str | None = None,
) -> Answer:
    """When the answer quotes a document that a newer one in the library supersedes or amends,
    quote the newer one's sentence on the same point too (verbatim, with its span), as its own
    citation, after the sentence it updates: at most one sentence per newer document, close to
    the quoted sentence (cosine >= SAME_POINT) and to the question (>= ON_QUESTION), never a
    line of a document's source list. `search(text, doc_ids)` finds passages of the newer
    documents; `embed` gives normalised sentence vectors."""
    if answer.refused:
        return answer
    question = question or answer.question
    quoted_already = {" ".join(s.text.split()) for s in answer.sentences}
    best: dict[str, tuple[float, int, Hit, str, float]] = {}  # newer doc id -> (score, after which sentence, hit, sentence, similarity)
    for position, sentence in enumerate(answer.sentences):
        cited = [c for c in answer.citations if c.n in sentence.citations]
        newer_ids = sorted({other for c in cited for other, _ in newer_documents(c.doc_id, documents)} - {c.doc_id for c in cited})
        if not newer_ids:
            continue
        quote = sentence.quote or sentence.text
        options = [
            (hit, text) for hit in search(quote, newer_ids) for text in split_sentences(hit.text)
            if "://" not in text and " ".join(text.split()) not in quoted_already
        ]
        if not options:
            continue
        vectors = embed([quote, question] + [text for _, text in options])
        to_quote, to_question = vectors[2:] @ vectors[0], vectors[2:] @ vectors[1]
        for i, (hit, text) in enumerate(options):
            if to_quote[i] < SAME_POINT or to_question[i] < ON_QUESTION:
                continue
            score = float(to_quote[i] + to_question[i])
            if hit.doc_id not in best or score > best[hit.doc_id][0]:
                best[hit.doc_id] = (score, position, hit, text, float(to_quote[i]))
    added: list[tuple[int, AnswerSentence]] = []
    for _, position, hit, text, similarity in sorted(best.values(), key=lambda b: (b[1], -b[0])):
        n = len(answer.citations) + 1
        answer.citations.append(citation_of(n, hit))
        added.append((position, AnswerSentence(text=text, citations=[n], supported=True, support_score=round(similarity, 4), **quote_span(hit, text))))
    for position, new in reversed(added):
        answer.sentences.insert(position + 1, new)
    if added:
        answer.answer += " " + " ".join(f"{s.text} [{s.citations[0]}]" for _, s in added)
    return answer
