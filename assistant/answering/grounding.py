"""Whether the library answers a question: signals of support, and one calibrated decision.

Stacked hand rules ("refuse if any specific is missing", "refuse below 50% key-term
coverage") fit the library they were tuned on and refused most questions worded differently
from it. Instead, each question gets a handful of signals that mean the same thing on any
library, and one logistic model turns them into a confidence that the retrieved passages
answer it. Its weights and threshold are fitted by `python -m evals.calibrate` on the
development and golden sets with grouped 5-fold cross-validation, and shipped as
`refusal_model.json` next to this module.

The signals:
- dense evidence: similarity of the best chunk and of the best answer sentence, and how far
  the best chunk stands out from the rest (MiniLM for English, multilingual-e5 otherwise;
  the two scales differ, so cross-lingual questions have their own features);
- key terms: the IDF-weighted share of the question's terms that the passages contain,
  exactly (stems) and by meaning (a term counts as covered by its closest passage word,
  e.g. "woman" by "women", "job" by "employment"); terms the whole library never uses are
  measured apart, since a trainee's phrasing ("shortest", "abroad") is as foreign to a
  treaty as a missing subject is; a question in another language is measured through the
  library words multilingual-e5 puts closest to its words ("salaire" -> "wage");
- specifics: names, acronyms, numbers and symbols of the question that the passages do not
  mention, after normalisation (possessives, number words, acronyms the passages spell out);
  the facts of a case the question describes first (the person's age, the town) are not
  what it asks about;
- answer type: a question asking "how many / how long / what age / when" expects a number
  or a date, and the sentences chosen to answer it should contain one.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from assistant.domain.errors import ConfigError
from assistant.domain.text import ALL_STOPWORDS, number_values, question_specifics, specific_mentioned, split_sentences, stem, words

MODEL_FILE = "refusal_model.json"
NA = float("nan")  # a signal not measured for this question (e.g. English similarities of a German question)


@dataclass
class Signals:
    """What the retrieved passages and the drafted answer say about a question's support.
    A signal that cannot be measured for a question is NaN; the model reads it as average."""

    crosslingual: float = 0.0  # 1 for a non-English question (searched with multilingual-e5)
    best_chunk: float = NA  # similarity of the best chunk (English questions, MiniLM)
    best_sentence: float = NA  # similarity of the best answer sentence (English questions)
    margin: float = NA  # best chunk similarity minus the mean of the next four
    best_chunk_x: float = NA  # the same three for other languages (multilingual-e5's scale)
    best_sentence_x: float = NA
    margin_x: float = NA
    coverage_exact: float = NA  # IDF-weighted share of known key terms present in the passages
    coverage_soft: float = NA  # the same, a term counted by its closest passage word
    answer_coverage: float = NA  # soft coverage by the chosen answer sentences only
    unknown_terms: float = NA  # share of the question's term weight the library never uses
    missing_names: float = 0.0  # 1 when a name / acronym / symbol of the question is not in the passages
    missing_numbers: float = 0.0  # 1 when a number or year of the question is not in the passages
    wants_value: float = 0.0  # the question asks for a quantity, a duration or age, or a date
    value_in_answer: float = 0.0  # ... and the chosen sentences state one of that kind
    value_in_passages: float = 0.0  # ... and the retrieved passages state one of that kind
    bm25_best: float = 0.0  # best BM25 score over the question's maximal score

    def vector(self, names: list[str]) -> np.ndarray:
        values = asdict(self)
        return np.array([values[n] if values[n] is not None else NA for n in names], dtype=np.float64)

    def rounded(self) -> dict[str, float | None]:
        """JSON-safe: unmeasured signals are None."""
        return {k: (None if v is None or math.isnan(v) else round(float(v), 4)) for k, v in asdict(self).items()}


FEATURES = list(Signals.__dataclass_fields__)


@dataclass(frozen=True)
class Decision:
    confidence: float
    answer: bool
    reason: str = ""


class RefusalModel:
    """A logistic model over `Signals`: confidence = sigmoid(w · standardised signals + b)."""

    def __init__(
        self,
        features: list[str],
        mean: list[float],
        scale: list[float],
        coef: list[float],
        intercept: float,
        threshold: float,
        info: dict | None = None,
        crosslingual_threshold: float | None = None,
    ):
        unknown = [f for f in features if f not in FEATURES]
        if unknown or not (len(features) == len(mean) == len(scale) == len(coef)):
            raise ConfigError(f"The refusal model names unknown signals {unknown} or has mismatched weights; refit it with `python -m evals.calibrate`.")
        self.features = features
        self.mean = np.array(mean, dtype=np.float64)
        self.scale = np.where(np.array(scale, dtype=np.float64) > 0, scale, 1.0)
        self.coef = np.array(coef, dtype=np.float64)
        self.intercept = float(intercept)
        self.threshold = float(threshold)
        # Questions in other languages have fewer signals (no key terms), so their confidences
        # are compressed: they get a threshold of their own, fitted the same way.
        self.crosslingual_threshold = float(threshold if crosslingual_threshold is None else crosslingual_threshold)
        self.info = info or {}

    def threshold_for(self, signals: Signals) -> float:
        return self.crosslingual_threshold if signals.crosslingual else self.threshold

    @classmethod
    def from_dict(cls, data: dict) -> "RefusalModel":
        try:
            return cls(
                data["features"], data["mean"], data["scale"], data["coef"], data["intercept"], data["threshold"], data.get("info"), data.get("crosslingual_threshold")
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"The refusal model is incomplete ({exc}); refit it with `python -m evals.calibrate`.") from exc

    def to_dict(self) -> dict:
        return {
            "features": self.features,
            "mean": self.mean.round(6).tolist(),
            "scale": self.scale.round(6).tolist(),
            "coef": self.coef.round(6).tolist(),
            "intercept": round(self.intercept, 6),
            "threshold": round(self.threshold, 4),
            "crosslingual_threshold": round(self.crosslingual_threshold, 4),
            "info": self.info,
        }

    def standardised(self, x: np.ndarray) -> np.ndarray:
        """Signals as z-scores; an unmeasured one (NaN) is taken as average (0)."""
        return np.nan_to_num((x - self.mean) / self.scale, nan=0.0)

    def confidence(self, signals: Signals) -> float:
        z = self.standardised(signals.vector(self.features))
        logit = float(z @ self.coef + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))

    def contributions(self, signals: Signals) -> dict[str, float]:
        """Each signal's share of the logit (positive: speaks for answering)."""
        z = self.standardised(signals.vector(self.features))
        return dict(zip(self.features, (z * self.coef).round(3).tolist()))


@lru_cache(maxsize=1)
def shipped_model() -> RefusalModel:
    """The model fitted by `evals.calibrate`, shipped as package data."""
    try:
        text = resources.files("assistant.answering").joinpath(MODEL_FILE).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise ConfigError(f"The refusal model ({MODEL_FILE}) is missing from the installed package; reinstall Beacon (`make install`).") from exc
    return RefusalModel.from_dict(json.loads(text))


# -- key terms ----------------------------------------------------------------------------------
@dataclass
class Term:
    word: str
    stem: str
    weight: float
    known: bool  # the library uses it somewhere


def key_terms(question: str, idf, knows) -> list[Term]:
    """The question's content words (stopwords dropped), one per stem, with their IDF."""
    terms: dict[str, Term] = {}
    for word in words(question):
        if word in ALL_STOPWORDS or len(word) < 2 and not word.isdigit():
            continue
        s = stem(word)
        if s not in terms:
            terms[s] = Term(word, s, idf(s), knows(s))
    return list(terms.values())


def soft_matches(terms: list[Term], support_words: list[str], embed) -> dict[str, float]:
    """For each term, 1.0 when its stem occurs in the support, else the cosine similarity of
    its word to the closest support word (0 when the support has no words)."""
    support_stems = {stem(w) for w in support_words}
    scores = {t.stem: 1.0 for t in terms if t.stem in support_stems}
    pending = [t for t in terms if t.stem not in scores]
    vocabulary = sorted({w for w in support_words if w not in ALL_STOPWORDS and not w.isdigit() and len(w) > 2})
    if pending and vocabulary:
        vectors = embed([t.word for t in pending] + vocabulary)
        similarity = vectors[: len(pending)] @ vectors[len(pending) :].T
        for t, row in zip(pending, similarity):
            scores[t.stem] = max(float(row.max()), 0.0)
    for t in pending:
        scores.setdefault(t.stem, 0.0)
    return scores


def weighted_share(terms: list[Term], scores: dict[str, float]) -> float:
    total = sum(t.weight for t in terms)
    return sum(t.weight * scores.get(t.stem, 0.0) for t in terms) / total if total else 1.0


# -- specifics ----------------------------------------------------------------------------------
# The age of the person a question is about ("a 13-year-old", "14-year-olds", "ein 13-jähriges
# Kind", "12-летняя девочка") is a fact of the case, not something the library must state: a
# treaty gives the age limits the case is measured against ("under fifteen years").
CASE_AGE_RE = re.compile(r"\b(\d{1,2})(?:[-\s]years?[-\s]olds?\b|-?jährig|-?летн)", re.IGNORECASE)


def case_ages(question: str) -> set[str]:
    return {m.group(1) for m in CASE_AGE_RE.finditer(question)}


def split_case(question: str) -> tuple[str, str]:
    """(what is asked, the case it is asked about): a question that first describes a case in
    statements ("A woman in Manila is hired as a maid. Does she need a contract?") asks only
    its questions; the case's names and places need not be in the library for the rule that
    answers it to be."""
    sentences = split_sentences(question)
    asked = [s for s in sentences if s.rstrip(" \"'”»").endswith("?")]
    if not asked or len(asked) == len(sentences):
        return question, ""
    return " ".join(asked), " ".join(s for s in sentences if s not in asked)


def missing_specifics(question: str, support: str, numbers_only: bool = False) -> tuple[list[str], list[str]]:
    """(names, numbers) of the question that the support text does not mention."""
    support_lower = support.replace("’", "'").lower()
    support_numbers = number_values(support)
    ages = case_ages(question)
    names, numbers = [], []
    for s in question_specifics(question):
        is_number = any(ch.isdigit() for ch in s) and not re.search(r"[/.][\w]", s.rstrip("."))
        if numbers_only and not any(ch.isdigit() for ch in s):
            continue
        if s in ages:
            continue
        if not specific_mentioned(s, support, support_lower, support_numbers):
            (numbers if is_number else names).append(s)
    return names, numbers


# -- answer types ---------------------------------------------------------------------------------
# What kind of value a question asks for, and whether a text states one. References are not
# values: "Article 7", "paragraph 2", "(No. 182)", "C189", list letters.
QUANTITY_Q = re.compile(r"\b(?:how many|how much|what (?:share|percentage|proportion|number|fraction)|roughly|number of|combien|wie viele|сколько)\b", re.IGNORECASE)
DURATION_Q = re.compile(r"\b(?:how (?:long|old|often)|what age|at what age|which age|minimum age|maximum (?:number|period|duration)|until what age|up to what age|quel âge|wie (?:lange|alt)|bis zu welchem alter|до какого возраста)\b", re.IGNORECASE)
# "When" asks for a date only as a question word ("when did / when is"); "When children are
# taken out of work, what must…" is a conjunction introducing the case.
DATE_Q = re.compile(
    r"\bwhen (?:did|was|were|is|are|will|does|do|has|have|had|can|could|should|must|may|might|would|shall)\b|\bwhen\s*\?|"
    r"\b(?:what|which) (?:year|date|day)\b|\bquand\b|\bquel(?:le)? (?:jour|date|année)\b|\bwann\b|\bwelche[mnr]? (?:jahr|tag|datum)\b|\bкогда\b|\bв каком году\b",
    re.IGNORECASE,
)
REFERENCE_RE = re.compile(
    r"\b(?:articles?|art\.|paragraphs?|para\.|sections?|no\.|nos\.|convention|recommendation|rule|annex|chapter|part|item|point)\s*\(?\d[\w.()-]*|"
    r"(?-i:\b[A-Z]{1,4}\s?\d+\b)|\(\d{1,3}\)|\b\d{1,3}\s?\([a-z]\)",  # "C189" is a reference, "by 36" is not
    re.IGNORECASE,
)
TIME_UNIT_RE = re.compile(r"\b(?:years?|months?|weeks?|days?|hours?|age|annually|yearly|monthly|weekly|daily)\b", re.IGNORECASE)
MONTH_RE = re.compile(r"\b(?:january|february|march|april|may|june|july|august|september|october|november|december)\b", re.IGNORECASE)
YEAR_IN_TEXT_RE = re.compile(r"\b(?:1[89]|20)\d\d\b")
COUNTED_RE = re.compile(r"\bhow many (?:of the )?([a-z]{3,})\b", re.IGNORECASE)
PERCENT_RE = re.compile(r"%|\bper ?cent\b|\bpercentage\b", re.IGNORECASE)


def answer_type(question: str) -> str | None:
    """"quantity", "duration", "date" or None: the value a question asks for."""
    if DURATION_Q.search(question):
        return "duration"
    if QUANTITY_Q.search(question):
        return "quantity"
    if DATE_Q.search(question):
        return "date"
    return None


def _values(text: str) -> str:
    """The text without references (article, paragraph and convention numbers)."""
    return REFERENCE_RE.sub(" ", text)


def states_type(text: str, kind: str | None, question: str = "") -> bool:
    """Whether a text states a value of the kind a question asks for."""
    if kind is None:
        return False
    plain = _values(text)
    if kind == "date":
        return bool(YEAR_IN_TEXT_RE.search(plain) or MONTH_RE.search(plain))
    numbers = number_values(YEAR_IN_TEXT_RE.sub(" ", plain))
    if kind == "duration":
        return bool(numbers) and bool(TIME_UNIT_RE.search(plain))
    if PERCENT_RE.search(question) or re.search(r"\b(?:share|proportion|fraction)\b", question, re.IGNORECASE):
        return bool(PERCENT_RE.search(plain)) or bool(re.search(r"\b(?:half|third|quarter|majority)\b", plain, re.IGNORECASE))
    counted = COUNTED_RE.search(question)
    if counted and numbers:  # "how many countries": a number counting countries (or States)
        noun = stem(counted.group(1).lower())
        tokens = words(plain)
        for i, token in enumerate(tokens):
            # "one" is as often a determiner ("in one country") as a count
            if token not in ("one", "1") and number_values(token) and any(stem(t) == noun for t in tokens[i + 1 : i + 4]):
                return True
        return False
    return bool(numbers)
