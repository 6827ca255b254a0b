"""Scoring one answer against its dataset line, and pooling scores into system metrics.

Everything here is offline and deterministic: no model is asked to judge. Citation quality is
measured ALCE-style with a lexical entailment stand-in (content-token coverage), which is
exact for extractive answers (their sentences are copied from the cited chunk) and a strict
lower bound for paraphrasing ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import urlsplit

from assistant.domain.citations import cited_numbers, strip_markers
from assistant.domain.models import Answer
from assistant.domain.text import normalize, split_sentences, tokenize
from ingest.sources import is_url, normalize_url

SUPPORT_THRESHOLD = 0.8


@dataclass(frozen=True)
class Metric:
    """A system-level metric: its report name, what it means, and which direction is good."""

    name: str
    definition: str
    higher_is_better: bool = True
    unit_interval: bool = True  # a share in [0, 1]; gates outside that range are mistakes


METRICS: tuple[Metric, ...] = (
    Metric(
        "recall@k",
        "Answerable questions with expected sources: share of the expected sources found among the k retrieved "
        "chunks (a source matches by file basename, or by exact URL when the expected source is a URL), averaged over questions.",
    ),
    Metric(
        "mrr",
        "Mean reciprocal rank: 1 / rank of the first retrieved chunk from an expected source (0 when none is in the top k), "
        "averaged over answerable questions with expected sources.",
    ),
    Metric(
        "answer_containment",
        "Answerable questions with expected strings: share of the expected strings found in the answer "
        "(case-insensitive, citation markers ignored; a refusal contains nothing), averaged over questions.",
    ),
    Metric("refusal_accuracy", "Share of unanswerable questions the system refused."),
    Metric(
        "source_cited",
        "Answered answerable questions with expected sources: share whose answer cites at least one expected source "
        "(the right document, not only the right words).",
    ),
    Metric(
        "risk_coverage_area",
        "Area under the curve of answer quality against the share of questions answered, as the refusal threshold on the "
        "system's confidence moves from answering nothing to answering everything: at each point the answered questions "
        "score their containment (an answered unanswerable question scores 0), averaged over the answered. 1.0: every answer "
        "complete and every confident answer right; only for systems that report a confidence.",
    ),
    Metric("false_refusal_rate", "Share of answerable questions the system refused (lower is better).", higher_is_better=False),
    Metric(
        "citation_precision",
        "Over all citations attached to answer sentences (refusals excluded): share whose chunk supports its sentence. "
        f"A chunk supports a sentence when at least {SUPPORT_THRESHOLD:.0%} of the sentence's distinct content tokens "
        "(stopwords removed, stemmed) occur in the chunk.",
    ),
    Metric(
        "citation_recall",
        "Over all answer sentences (refusals excluded): share with at least one supporting citation of their own.",
    ),
    Metric(
        "faithfulness",
        "Over all answer sentences (refusals excluded): share supported by some chunk the answer cites, whichever sentence cites it.",
    ),
    Metric(
        "quote_exactness",
        "Over all supported answer sentences (refusals excluded): share whose quoted passage (the sentence itself for the "
        "extractive answerer, the evidence sentence for an LLM's) equals the document's stored text at the recorded span, "
        "whitespace normalised. Only for systems that record spans.",
    ),
    Metric(
        "latency_p50_ms",
        "Median end-to-end time per question in ms (nearest-rank), from the system's own timings (lower is better).",
        higher_is_better=False,
        unit_interval=False,
    ),
    Metric(
        "latency_p95_ms",
        "95th-percentile end-to-end time per question in ms (nearest-rank; lower is better).",
        higher_is_better=False,
        unit_interval=False,
    ),
)
METRICS_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


# -- sources -------------------------------------------------------------------------------
def _basename(source: str) -> str:
    if is_url(source):
        return PurePosixPath(urlsplit(source).path).name.casefold()
    return PureWindowsPath(source).name.casefold()  # splits on both / and \


def source_matches(expected: str, source: str, url: str = "") -> bool:
    """Whether a retrieved chunk (its `source`, and its document's `url` if known) is from `expected`.

    A URL is compared exactly (after the same normalisation ingestion uses for ids); anything
    else by basename, so a dataset need not know where the library was ingested from.
    """
    expected = expected.strip()
    if not expected:
        return False
    if is_url(expected):
        wanted = normalize_url(expected)
        return any(is_url(s) and normalize_url(s) == wanted for s in (source, url) if s)
    name = _basename(expected)
    return any(_basename(s) == name for s in (source, url) if s)


def retrieval_scores(expected: Sequence[str], retrieved: Sequence[tuple[str, str]], k: int) -> tuple[float, float] | None:
    """(recall@k, reciprocal rank) for `retrieved` as (source, url) pairs, best first; None without expectations."""
    expected = [e for e in dict.fromkeys(e.strip() for e in expected) if e]
    if not expected:
        return None
    top = list(retrieved)[:k]
    found = sum(any(source_matches(e, s, u) for s, u in top) for e in expected)
    rank = next((i for i, (s, u) in enumerate(top, start=1) if any(source_matches(e, s, u) for e in expected)), None)
    return found / len(expected), (1.0 / rank if rank else 0.0)


# -- answer text ---------------------------------------------------------------------------
def _squash(text: str) -> str:
    return " ".join(normalize(text).split())


def missing_strings(expected: Sequence[str], answer: str) -> list[str]:
    """Expected strings the answer does not contain (case-insensitive, markers ignored)."""
    text = _squash(strip_markers(answer))
    return [w for w in expected if w.strip() and _squash(w) not in text]


def containment(expected: Sequence[str], answer: str) -> float | None:
    """Share of expected strings found in the answer; None when nothing is expected."""
    wanted = [w for w in expected if w.strip()]
    if not wanted:
        return None
    return 1 - len(missing_strings(wanted, answer)) / len(wanted)


# -- citations -----------------------------------------------------------------------------
def support(sentence_tokens: set[str], passage_tokens: set[str]) -> float:
    """Share of a sentence's content tokens that the passage contains."""
    if not sentence_tokens:
        return 0.0
    return len(sentence_tokens & passage_tokens) / len(sentence_tokens)


def answer_sentences(answer: Answer) -> list[tuple[str, list[int]]]:
    """(sentence, citation numbers) of an answer; parsed from its text if the answerer gave no sentences."""
    if answer.sentences:
        return [(strip_markers(s.text), list(s.citations)) for s in answer.sentences]
    pairs = []
    for sentence in split_sentences(answer.answer):
        numbers = cited_numbers(sentence)
        pairs.append((strip_markers(sentence), numbers))
    return pairs


@dataclass
class CitationCounts:
    citations: int = 0
    correct_citations: int = 0
    sentences: int = 0
    cited_sentences: int = 0  # with at least one supporting citation of their own
    faithful_sentences: int = 0  # supported by some chunk the answer cites


def citation_counts(answer: Answer) -> CitationCounts:
    """ALCE-style counts for one answer. Sentences without content tokens are left out: they assert nothing."""
    counts = CitationCounts()
    if answer.refused:
        return counts
    passages = {c.n: set(tokenize(c.text)) for c in answer.citations}
    for text, cited in answer_sentences(answer):
        tokens = set(tokenize(text))
        if not tokens:
            continue
        counts.sentences += 1
        correct = [n for n in cited if n in passages and support(tokens, passages[n]) >= SUPPORT_THRESHOLD]
        counts.citations += len(cited)
        counts.correct_citations += len(correct)
        counts.cited_sentences += bool(correct)
        counts.faithful_sentences += any(support(tokens, p) >= SUPPORT_THRESHOLD for p in passages.values())
    return counts


# -- one question ---------------------------------------------------------------------------
@dataclass
class QuestionScores:
    """What one answer scored; the `scores` object of a results.jsonl line."""

    answerable: bool
    refused: bool
    latency_ms: float
    confidence: float | None = None  # the system's confidence that it can answer (None: it reports none)
    unconditional_containment: float | None = None  # containment of the answer it gives when it may not refuse
    source_cited: bool | None = None  # answered and answerable: an expected source is among its citations
    recall: float | None = None
    reciprocal_rank: float | None = None
    containment: float | None = None
    citations: int = 0
    correct_citations: int = 0
    sentences: int = 0
    cited_sentences: int = 0
    faithful_sentences: int = 0
    quoted_sentences: int = 0  # supported sentences of an answered question
    spanned_sentences: int = 0  # of those, with a recorded span
    exact_quotes: int = 0  # of those, whose span holds exactly the quoted text

    @property
    def failed(self) -> bool:
        """Answerable but refused or incomplete, or unanswerable but answered."""
        if not self.answerable:
            return not self.refused
        return self.refused or (self.containment is not None and self.containment < 1)

    def to_dict(self) -> dict:
        return {**asdict(self), "failed": self.failed}


def score_answer(
    answer: Answer,
    *,
    answerable: bool,
    expected_sources: Sequence[str],
    expected_answer_contains: Sequence[str],
    k: int,
    doc_urls: Mapping[str, str],
    unconditional: Answer | None = None,
    document_text: Callable[[str], str | None] | None = None,
) -> QuestionScores:
    """Score one answer; `doc_urls` maps doc_id to the document's URL (retrieved chunks do not carry it).
    `unconditional` is the answer the system gives when it may not refuse (the same answer when
    it did not refuse): what a lower refusal threshold would have shown, for the risk-coverage curve."""
    scores = QuestionScores(answerable=answerable, refused=answer.refused, latency_ms=float(answer.timings_ms.get("total", 0.0)))
    if answerable:
        pairs = [(r.source, doc_urls.get(r.doc_id, "")) for r in answer.retrieved]
        retrieval = retrieval_scores(expected_sources, pairs, k)
        if retrieval is not None:
            scores.recall, scores.reciprocal_rank = retrieval
        found = containment(expected_answer_contains, answer.answer)
        if found is not None:
            scores.containment = 0.0 if answer.refused else found
        if expected_sources and not answer.refused:
            scores.source_cited = any(source_matches(e, c.source, c.url or doc_urls.get(c.doc_id, "")) for e in expected_sources for c in answer.citations)
    scores.confidence = answer.confidence
    if unconditional is not None:
        scores.unconditional_containment = containment(expected_answer_contains, unconditional.answer) if answerable and not unconditional.refused else 0.0
    counts = citation_counts(answer)
    for field, value in asdict(counts).items():
        setattr(scores, field, value)
    if not answer.refused and document_text is not None:
        scores.quoted_sentences, scores.spanned_sentences, scores.exact_quotes = quote_counts(answer, document_text)
    return scores


def quote_counts(answer: Answer, document_text: Callable[[str], str | None]) -> tuple[int, int, int]:
    """(supported sentences, those with a span, those whose span holds exactly their quote)."""
    quoted = spanned = exact = 0
    for sentence in answer.sentences:
        if not sentence.supported:
            continue
        quoted += 1
        if sentence.doc_id is None or sentence.char_start is None or sentence.char_end is None:
            continue
        spanned += 1
        text = document_text(sentence.doc_id)
        if text is not None and " ".join(text[sentence.char_start:sentence.char_end].split()) == " ".join((sentence.quote or sentence.text).split()):
            exact += 1
    return quoted, spanned, exact


# -- a whole system -------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def risk_coverage(scores: Sequence[QuestionScores]) -> list[tuple[float, float, float]]:
    """(share answered, mean quality of the answered, confidence threshold) for every threshold
    on the system's confidence, most confident first; empty when it reports no confidence."""
    rated = [s for s in scores if s.confidence is not None and s.unconditional_containment is not None]
    if not rated or len(rated) < len(scores):
        return []
    rated.sort(key=lambda s: -s.confidence)
    points, total = [], 0.0
    for n, s in enumerate(rated, start=1):
        total += s.unconditional_containment if s.answerable else 0.0
        points.append((n / len(rated), total / n, s.confidence))
    return points


def operating_point(scores: Sequence[QuestionScores]) -> list[float] | None:
    """(share answered, mean quality of the answered) where the system actually operates."""
    answered = [s for s in scores if not s.refused]
    if not scores:
        return None
    quality = _mean([(s.containment or 0.0) if s.answerable else 0.0 for s in answered])
    return [round(len(answered) / len(scores), 4), round(quality, 4) if quality is not None else 0.0]


def aggregate(scores: Sequence[QuestionScores]) -> dict[str, float | None]:
    """System metrics (named as in METRICS); None where the dataset gives nothing to measure."""
    answerable = [s for s in scores if s.answerable]
    unanswerable = [s for s in scores if not s.answerable]
    latencies = [s.latency_ms for s in scores]
    curve = risk_coverage(scores)
    cited = [s.source_cited for s in answerable if s.source_cited is not None]
    values: dict[str, float | None] = {
        "recall@k": _mean([s.recall for s in answerable if s.recall is not None]),
        "mrr": _mean([s.reciprocal_rank for s in answerable if s.reciprocal_rank is not None]),
        "answer_containment": _mean([s.containment for s in answerable if s.containment is not None]),
        "refusal_accuracy": _share(sum(s.refused for s in unanswerable), len(unanswerable)),
        "false_refusal_rate": _share(sum(s.refused for s in answerable), len(answerable)),
        "source_cited": _share(sum(cited), len(cited)),
        "risk_coverage_area": _mean([quality for _share_answered, quality, _t in curve]),
        "citation_precision": _share(sum(s.correct_citations for s in scores), sum(s.citations for s in scores)),
        "citation_recall": _share(sum(s.cited_sentences for s in scores), sum(s.sentences for s in scores)),
        "faithfulness": _share(sum(s.faithful_sentences for s in scores), sum(s.sentences for s in scores)),
        "quote_exactness": _share(sum(s.exact_quotes for s in scores), sum(s.quoted_sentences for s in scores)) if any(s.spanned_sentences for s in scores) else None,
        "latency_p50_ms": percentile(latencies, 0.5),
        "latency_p95_ms": percentile(latencies, 0.95),
    }
    return {name: (None if v is None else round(v, 1 if name.startswith("latency") else 4)) for name, v in values.items()}
