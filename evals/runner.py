"""Running an eval dataset against the library: ask, score, write results and reports, gate.

The runner ingests nothing: it measures the library as it is, so a score always describes
what users would get from the same data directory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from assistant.domain.errors import InvalidInput, NotFound
from assistant.domain.models import Answer
from evals.metrics import METRICS, METRICS_BY_NAME, QuestionScores, aggregate, operating_point, risk_coverage, score_answer
from evals.report import write_reports

if TYPE_CHECKING:
    from assistant.service import Assistant

AskFn = Callable[[str, int], Answer]

NOTES = (
    "All metrics are computed offline and deterministically from the answers; no model judges them. "
    "An LLM judge runs only where an LLM is configured (BEACON_ANSWERER=llamacpp or openai with BEACON_JUDGE=true), "
    "and then at answer time, checking each generated sentence against its source.",
    "Citation support is lexical (content-token coverage of the sentence by the cited chunk): exact for "
    "extractive answers, which copy sentences verbatim; a paraphrase that is still correct can score as unsupported.",
    "The assistant is warmed up (model and indexes loaded) before timing, so latencies exclude start-up; "
    "all systems share one embedding model and its sentence cache.",
)


class EvalItem(BaseModel):
    """One dataset line. Fields beyond these are kept (e.g. `lang`) and copied to the results."""

    model_config = ConfigDict(extra="allow")

    id: str
    question: str
    expected_sources: list[str] = Field(default_factory=list)
    expected_answer_contains: list[str] = Field(default_factory=list)
    answerable: StrictBool

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("id", "question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @property
    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def default_dataset() -> Path:
    """The golden dataset shipped next to this package."""
    return Path(__file__).resolve().parent / "golden.jsonl"


def load_dataset(path: Path) -> list[EvalItem]:
    """Parse a JSONL dataset; any bad line is an InvalidInput naming its line number."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"No dataset at {path}: give a JSONL file with one question per line.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot read the dataset {path}: {exc}; it must be a UTF-8 JSONL file.") from exc
    items: list[EvalItem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}, line {number}: not valid JSON ({exc.msg} at column {exc.colno}).") from None
        if not isinstance(data, dict):
            raise InvalidInput(f"{path}, line {number}: expected a JSON object with id, question and answerable.")
        try:
            item = EvalItem.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())
            raise InvalidInput(f"{path}, line {number}: {problems}.") from None
        if item.id in seen:
            raise InvalidInput(f"{path}, line {number}: id {item.id!r} is already used on line {seen[item.id]}; ids must be unique.")
        seen[item.id] = number
        items.append(item)
    if not items:
        raise InvalidInput(f"The dataset {path} has no questions.")
    return items


def result_row(item: EvalItem, answer: Answer, scores: QuestionScores) -> dict[str, Any]:
    """One results.jsonl line: the `ask --json` output, the expectations, and the scores."""
    row = answer.model_dump()
    row.update(
        id=item.id,
        expected_sources=item.expected_sources,
        expected_answer_contains=item.expected_answer_contains,
        answerable=item.answerable,
    )
    for key, value in item.extras.items():
        row.setdefault(key, value)
    row["scores"] = scores.to_dict()
    return row


def run_system(
    ask: AskFn, items: Sequence[EvalItem], k: int, doc_urls: dict[str, str], ask_unconditionally: AskFn | None = None,
    document_text: Callable[[str], str | None] | None = None,
) -> tuple[list[dict[str, Any]], list[QuestionScores]]:
    """Ask and score every item. With `ask_unconditionally` (a system with a confidence), a
    refused question is asked again without the refusal, for the risk-coverage curve."""
    rows, scores = [], []
    for item in items:
        try:
            answer = ask(item.question, k)
            unconditional = None
            if ask_unconditionally is not None:
                unconditional = ask_unconditionally(item.question, k) if answer.refused else answer
        except InvalidInput as exc:
            raise InvalidInput(f"Question {item.id!r}: {exc}") from exc
        score = score_answer(
            answer,
            answerable=item.answerable,
            expected_sources=item.expected_sources,
            expected_answer_contains=item.expected_answer_contains,
            k=k,
            doc_urls=doc_urls,
            unconditional=unconditional,
            document_text=document_text,
        )
        rows.append(result_row(item, answer, score))
        scores.append(score)
    return rows, scores


def by_language(items: Sequence[EvalItem], scores: Sequence[QuestionScores]) -> dict[str, dict[str, Any]]:
    """Beacon's metrics per `lang` field; empty when no line has one."""
    langs = [str(item.extras.get("lang") or "") for item in items]
    if not any(langs):
        return {}
    groups: dict[str, list[QuestionScores]] = {}
    for lang, score in zip(langs, scores):
        groups.setdefault(lang or "unspecified", []).append(score)
    return {lang: {"n_questions": len(group), **aggregate(group)} for lang, group in sorted(groups.items())}


def results_file(system: str) -> str:
    return "results.jsonl" if system == "beacon" else f"results-{system}.jsonl"


def run_eval(
    beacon: Assistant, dataset_path: Path, out_dir: Path, k: int | None = None, baselines: bool = False, collection: str | None = None
) -> dict[str, Any]:
    """Ask every dataset question (of Beacon, and of the baselines if asked), write the results
    and reports into `out_dir`, and return the report (what report.json holds)."""
    items = load_dataset(dataset_path)
    k = k or beacon.settings.top_k
    if not 1 <= k <= 50:
        raise InvalidInput(f"k must be between 1 and 50, not {k}.")
    if beacon.chunk_count() == 0:
        raise InvalidInput(
            f"The library at {beacon.library_location} is empty, so every answer would be a refusal; "
            "ingest the documents the dataset is about first (`beacon ingest PATH`)."
        )
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"Cannot write reports to {out_dir}: {exc}; choose another --out folder.") from exc

    beacon.warm_up(background=False)
    beacon.refresh_multilingual_index()  # before timing, and so answers do not depend on a background build's progress
    library = beacon.reader()
    library.embed(["warm-up"])  # first inference allocates buffers; that is start-up, not any question's latency
    doc_urls = {d.doc_id: d.url for d in beacon.list_documents() if d.url}
    texts: dict[str, str | None] = {}

    def stored_text(doc_id: str) -> str | None:
        """A document's stored extracted text (None when not kept), for quote exactness."""
        if doc_id not in texts:
            try:
                texts[doc_id] = beacon.document_text(doc_id)
            except NotFound:
                texts[doc_id] = None
        return texts[doc_id]

    if collection is not None and collection not in beacon.collections():
        raise InvalidInput(f"No collection {collection!r} in the library; `beacon docs collections` lists them.")
    scope = {"collection": collection} if collection else None
    systems: dict[str, AskFn] = {"beacon": lambda question, k: beacon.ask(question, k=k, filters=scope)}
    descriptions = {"beacon": f"Beacon as configured: hybrid BM25 + dense retrieval, `{beacon.answerer_name}` answerer with grounding checks."}
    if baselines:
        from evals.baselines import BM25Baseline, NaiveDenseBaseline

        bm25 = BM25Baseline(library)
        dense = NaiveDenseBaseline(library)
        dense.build()  # before timing: the tutorial pipeline indexes once, then answers
        systems.update({bm25.name: bm25.ask, dense.name: dense.ask})
        descriptions.update({bm25.name: bm25.describe(), dense.name: dense.describe()})

    started = time.perf_counter()
    results: dict[str, list[dict[str, Any]]] = {}
    metrics: dict[str, dict[str, float | None]] = {}
    beacon_scores: list[QuestionScores] = []
    unconditional = {"beacon": lambda question, k: beacon.ask(question, k=k, filters=scope, min_confidence=0.0)}
    for name, ask in systems.items():
        rows, scores = run_system(ask, items, k, doc_urls, unconditional.get(name), stored_text)
        results[name] = rows
        metrics[name] = aggregate(scores)
        if name == "beacon":
            beacon_scores = scores
        with open(out_dir / results_file(name), "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)

    report: dict[str, Any] = {
        "dataset": str(dataset_path),
        "k": k,
        "collection": collection,
        "n_questions": len(items),
        "n_answerable": sum(item.answerable for item in items),
        "n_unanswerable": sum(not item.answerable for item in items),
        "answerer": beacon.answerer_name,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 2),
        "systems": metrics,
        "system_descriptions": descriptions,
        "metric_definitions": {m.name: m.definition for m in METRICS},
        "by_language": by_language(items, beacon_scores),
        "failures": [item.id for item, score in zip(items, beacon_scores) if score.failed],
        "risk_coverage": {
            "points": [[round(a, 4), round(q, 4), round(t, 4)] for a, q, t in risk_coverage(beacon_scores)],
            "operating_point": operating_point(beacon_scores),
        },
        "results_files": {name: results_file(name) for name in systems},
        "notes": list(NOTES),
    }
    (out_dir / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_reports(report, results, out_dir)
    return report


# -- gates -----------------------------------------------------------------------------------
GATE_HELP = (
    "write metric=value, e.g. recall@k=0.7 (the metric must be at least 0.7) or false_refusal_rate=0.3 "
    "(at most 0.3 for false_refusal_rate, latency_p50_ms and latency_p95_ms, where lower is better)"
)


@dataclass(frozen=True)
class Gate:
    """A threshold on one of Beacon's metrics: a floor, or a ceiling where lower is better."""

    metric: str
    threshold: float

    def failure(self, value: float | None) -> str | None:
        """Why the gate fails for `value`, or None when it passes."""
        if value is None:
            return f"{self.metric} could not be measured on this dataset (no questions of the kind it needs), so the gate {self.metric}={self.threshold:g} cannot pass."
        if METRICS_BY_NAME[self.metric].higher_is_better:
            if value < self.threshold - 1e-9:
                return f"{self.metric} is {value:g}, below the required {self.threshold:g}."
        elif value > self.threshold + 1e-9:
            return f"{self.metric} is {value:g}, above the allowed {self.threshold:g}."
        return None


def parse_gate(spec: str) -> Gate:
    name, sep, raw = spec.partition("=")
    name, raw = name.strip(), raw.strip()
    if not sep or not name or not raw:
        raise InvalidInput(f"Bad gate {spec!r}: {GATE_HELP}.")
    if name not in METRICS_BY_NAME:
        hint = " (one syntax only: `=` means at least, or at most for lower-is-better metrics)" if name[-1:] in "<>!" else ""
        raise InvalidInput(f"Unknown metric {name!r} in gate {spec!r}{hint}; gateable metrics: {', '.join(METRICS_BY_NAME)}.")
    try:
        threshold = float(raw)
    except ValueError:
        raise InvalidInput(f"Bad gate {spec!r}: {raw!r} is not a number; {GATE_HELP}.") from None
    metric = METRICS_BY_NAME[name]
    if threshold != threshold or threshold < 0 or (metric.unit_interval and threshold > 1):
        limit = "between 0 and 1" if metric.unit_interval else "a number of milliseconds ≥ 0"
        raise InvalidInput(f"Bad gate {spec!r}: {name} is {limit}, not {raw}.")
    return Gate(name, threshold)


def check_gates(report: dict[str, Any], fail_under: Sequence[str]) -> list[str]:
    """Messages for every gate Beacon's metrics fail (empty: all pass). All specs are parsed
    before any is checked, so a typo is reported as such rather than as a failed gate."""
    gates = [parse_gate(spec) for spec in fail_under]
    metrics = report["systems"]["beacon"]
    return [message for gate in gates if (message := gate.failure(metrics.get(gate.metric))) is not None]
