"""The eval suite, end to end: a real library, real answers, real files, the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant import InvalidInput, Settings, build_assistant
from assistant.cli.main import app
from evals.metrics import METRICS, percentile, source_matches, support
from evals.runner import check_gates, default_dataset, load_dataset, run_eval

LIBRARY = {
    "northbridge-helpline.md": """# Northbridge Helpline Guide

## Contact

The phone number of the Northbridge anti-trafficking helpline is 0800 444 909; calls are free of charge, every day and every night.

Callers may stay anonymous, and interpreters are available in twelve languages.

## Referral

After a call, trained counsellors refer possible victims of trafficking to the Harbour Shelter within 24 hours.
""",
    "supply-chain-audits.md": """# Supply Chain Audit Handbook

## Audit frequency

Suppliers in high-risk sectors must be audited at least twice a year by an independent auditor.

Audits include confidential interviews with workers, held away from the factory floor and without managers present.

## Recruitment fees

Workers must never pay recruitment fees: the employer bears every cost of recruiting a worker.
""",
    "shelter-standards.md": """# Shelter Standards for Victims of Trafficking

## Reflection period

Victims housed in a shelter are granted a reflection period of 90 days to recover and to decide whether to cooperate with the authorities.

## Staffing

Every shelter must have at least one qualified social worker on duty at all times.
""",
}

QUESTIONS = [
    {"id": "helpline", "question": "What is the phone number of the Northbridge helpline?", "expected_sources": ["northbridge-helpline.md"], "expected_answer_contains": ["0800 444 909"], "answerable": True, "lang": "en"},
    {"id": "audits", "question": "How often must suppliers in high-risk sectors be audited?", "expected_sources": ["supply-chain-audits.md"], "expected_answer_contains": ["twice a year"], "answerable": True, "lang": "en"},
    {"id": "reflection", "question": "How long is the reflection period for victims in a shelter?", "expected_sources": ["shelter-standards.md"], "expected_answer_contains": ["90 days"], "answerable": True, "lang": "en", "notes": "kept and ignored"},
    {"id": "bread", "question": "How do I bake bread?", "expected_sources": [], "expected_answer_contains": [], "answerable": False, "lang": "en"},
    {"id": "pain", "question": "Comment faire du pain au levain ?", "answerable": False, "lang": "fr"},
]

UNIT_METRICS = [m.name for m in METRICS if m.unit_interval]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory) -> Path:
    """A data directory holding the three-document library, ingested once for the module."""
    root = tmp_path_factory.mktemp("evals")
    docs = root / "docs"
    docs.mkdir()
    for name, text in LIBRARY.items():
        (docs / name).write_text(text, encoding="utf-8")
    data_dir = root / "data"
    beacon = build_assistant(Settings(data_dir=data_dir))
    reports = beacon.ingest([str(docs)])
    assert [r.status for r in reports] == ["added"] * len(LIBRARY), reports
    beacon.set_trusted(str(docs))  # a trainer vouches for the helpline number (untrusted numbers are never quoted)
    return data_dir


@pytest.fixture(scope="module")
def beacon(library_dir):
    """An assistant over the ingested library (the model loads once per module)."""
    return build_assistant(Settings(data_dir=library_dir))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("dataset") / "tiny.jsonl", QUESTIONS)


@pytest.fixture(scope="module")
def evaluated(beacon, dataset, tmp_path_factory) -> tuple[dict, Path]:
    """(report, output folder) of one run with baselines."""
    out = tmp_path_factory.mktemp("out") / "eval"
    return run_eval(beacon, dataset, out, k=3, baselines=True), out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- a full run ------------------------------------------------------------------------------
def test_run_writes_every_file(evaluated):
    report, out = evaluated
    for name in ["results.jsonl", "results-bm25.jsonl", "results-naive-dense.jsonl", "report.json", "report.md", "report.html", "metrics.png", "latency.png"]:
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "report.json").read_text()) == report
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3  # metrics, latency, Beacon's risk-coverage curve
    assert (out / "risk-coverage.png").read_bytes().startswith(b"\x89PNG")
    assert "http://" not in page and "https://" not in page  # self-contained
    assert (out / "metrics.png").read_bytes().startswith(b"\x89PNG")
    markdown = (out / "report.md").read_text()
    assert "citation_precision" in markdown and "naive-dense" in markdown and "LLM judge" in markdown


def test_results_have_one_line_per_question_with_the_ask_output(evaluated):
    _report, out = evaluated
    for name in ["results.jsonl", "results-bm25.jsonl", "results-naive-dense.jsonl"]:
        rows = read_jsonl(out / name)
        assert [r["id"] for r in rows] == [q["id"] for q in QUESTIONS]
        for row in rows:
            assert {"question", "answer", "refused", "citations", "retrieved", "timings_ms", "answerer", "sentences", "refusal_reason"} <= set(row)
            assert {"expected_sources", "expected_answer_contains", "answerable", "scores"} <= set(row)
            assert len(row["retrieved"]) <= 3
    beacon = {r["id"]: r for r in read_jsonl(out / "results.jsonl")}
    assert beacon["reflection"]["notes"] == "kept and ignored"
    assert beacon["pain"]["expected_sources"] == [] and beacon["pain"]["lang"] == "fr"


def test_report_structure_and_metric_ranges(evaluated):
    report, _out = evaluated
    assert report["k"] == 3 and report["n_questions"] == 5
    assert (report["n_answerable"], report["n_unanswerable"]) == (3, 2)
    assert list(report["systems"]) == ["beacon", "bm25", "naive-dense"]
    assert set(report["metric_definitions"]) == {m.name for m in METRICS}
    for system, values in report["systems"].items():
        assert set(values) == {m.name for m in METRICS}, system
        for name in UNIT_METRICS:
            if name == "risk_coverage_area" and system != "beacon":
                assert values[name] is None  # the baselines report no confidence to move a threshold on
                continue
            if name == "quote_exactness" and system != "beacon":
                assert values[name] is None  # nor do they record where their sentences are in the documents
                continue
            assert values[name] is not None and 0 <= values[name] <= 1, (system, name, values[name])
        assert 0 <= values["latency_p50_ms"] <= values["latency_p95_ms"]


def test_known_answers_are_found_and_cited(evaluated):
    report, out = evaluated
    beacon = {r["id"]: r for r in read_jsonl(out / "results.jsonl")}
    helpline = beacon["helpline"]["scores"]
    assert helpline["recall"] == 1 and helpline["reciprocal_rank"] == 1 and helpline["containment"] == 1
    assert not beacon["helpline"]["refused"] and "0800 444 909" in beacon["helpline"]["answer"]
    metrics = report["systems"]["beacon"]
    assert metrics["recall@k"] == 1
    # Extractive sentences are copied from the chunk they cite, so every citation supports its sentence.
    assert metrics["citation_precision"] == 1 and metrics["citation_recall"] == 1 and metrics["faithfulness"] == 1


def test_refusals_and_failures(evaluated):
    report, out = evaluated
    beacon = {r["id"]: r for r in read_jsonl(out / "results.jsonl")}
    assert beacon["bread"]["refused"] and beacon["pain"]["refused"]
    assert report["systems"]["beacon"]["refusal_accuracy"] == 1
    # The baselines never refuse when something is retrieved: the dense one always retrieves.
    assert report["systems"]["naive-dense"]["refusal_accuracy"] == 0
    expected_failures = [r["id"] for r in beacon.values() if r["scores"]["failed"]]
    assert report["failures"] == expected_failures
    assert "bread" not in report["failures"]


def test_by_language(evaluated):
    report, _out = evaluated
    assert set(report["by_language"]) == {"en", "fr"}
    assert report["by_language"]["fr"]["n_questions"] == 1
    assert report["by_language"]["fr"]["refusal_accuracy"] == 1
    assert report["by_language"]["fr"]["recall@k"] is None  # nothing answerable in French here


def test_empty_library_is_refused(tmp_path, dataset):
    empty = build_assistant(Settings(data_dir=tmp_path / "empty"))
    with pytest.raises(InvalidInput, match="empty"):
        run_eval(empty, dataset, tmp_path / "out")


# -- gates -----------------------------------------------------------------------------------
def test_gates_pass_and_fail(evaluated):
    report, _out = evaluated
    assert check_gates(report, []) == []
    assert check_gates(report, ["recall@k=0.9", "refusal_accuracy=1", "false_refusal_rate=1", "latency_p95_ms=600000"]) == []
    failures = check_gates(report, ["recall@k=0.9", "latency_p50_ms=0", " faithfulness = 1 "])
    assert len(failures) == 1 and "latency_p50_ms" in failures[0] and "above" in failures[0]


def test_gates_on_unmeasurable_metric_fail():
    report = {"systems": {"beacon": {"refusal_accuracy": None, "recall@k": 0.5}}}
    assert "could not be measured" in check_gates(report, ["refusal_accuracy=0.5"])[0]
    assert "below" in check_gates(report, ["recall@k=0.6"])[0]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("recall@k", "metric=value"),
        ("=0.5", "metric=value"),
        ("precision=0.5", "Unknown metric 'precision'"),
        ("recall@k>=0.7", "one syntax only"),
        ("recall@k=high", "not a number"),
        ("recall@k=70", "between 0 and 1"),
        ("latency_p95_ms=-1", "milliseconds"),
    ],
)
def test_bad_gates_are_rejected(spec, message):
    report = {"systems": {"beacon": {"recall@k": 1.0}}}
    with pytest.raises(InvalidInput, match=message):
        check_gates(report, ["recall@k=0.5", spec])


# -- datasets --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad_line, message",
    [
        ('{"id": "x", "question": "Why?"', "line 2: not valid JSON"),
        ('["not", "an", "object"]', "line 2: expected a JSON object"),
        ('{"id": "x", "question": "Why?"}', "line 2: answerable"),
        ('{"id": "x", "question": "Why?", "answerable": "yes"}', "line 2: answerable"),
        ('{"id": "x", "question": "  ", "answerable": true}', "line 2: question"),
        ('{"id": "x", "question": "Why?", "answerable": true, "expected_sources": "a.md"}', "line 2: expected_sources"),
        ('{"id": "ok", "question": "Why?", "answerable": true}', "line 2: id 'ok' is already used on line 1"),
    ],
)
def test_bad_dataset_lines_name_their_line(tmp_path, bad_line, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"id": "ok", "question": "What?", "answerable": True}, bad_line])
    with pytest.raises(InvalidInput, match=message):
        load_dataset(path)


def test_dataset_edge_cases(tmp_path):
    with pytest.raises(InvalidInput, match="No dataset"):
        load_dataset(tmp_path / "missing.jsonl")
    with pytest.raises(InvalidInput, match="no questions"):
        load_dataset(write_jsonl(tmp_path / "blank.jsonl", ["", "  "]))
    items = load_dataset(write_jsonl(tmp_path / "ok.jsonl", [{"id": 7, "question": " What? ", "answerable": False, "lang": "de"}, ""]))
    assert items[0].id == "7" and items[0].question == "What?" and items[0].extras == {"lang": "de"}
    assert default_dataset() == Path(__file__).resolve().parents[1] / "evals" / "golden.jsonl"


# -- metric helpers --------------------------------------------------------------------------
def test_sources_match_by_basename_or_exact_url():
    assert source_matches("shelter-standards.md", "/data/library/shelter-standards.md")
    assert source_matches("report.pdf", "https://example.org/files/report.pdf")
    assert not source_matches("shelter-standards.md", "/data/library/shelter-standards.md.bak")
    assert source_matches("https://Example.org/a/report", "https://example.org/a/report#top")
    assert not source_matches("https://example.org/a/report", "https://example.org/b/report")
    assert source_matches("https://example.org/a/report", "/tmp/report.md", url="https://example.org/a/report")


def test_percentile_and_support():
    assert percentile([], 0.5) is None
    assert percentile([30.0, 10.0, 20.0, 40.0], 0.5) == 20.0
    assert percentile(list(map(float, range(1, 101))), 0.95) == 95.0
    assert support({"a", "b", "c", "d", "e"}, {"a", "b", "c", "d"}) == 0.8
    assert support(set(), {"a"}) == 0.0


# -- the CLI ---------------------------------------------------------------------------------
def test_cli_eval_gates_set_the_exit_code(library_dir, dataset, tmp_path):
    out = tmp_path / "cli-out"
    result = CliRunner().invoke(
        app,
        ["--data-dir", str(library_dir), "eval", str(dataset), "--out", str(out), "--k", "3", "--json",
         "--fail-under", "recall@k=0.5", "--fail-under", "latency_p50_ms=0"],
    )
    assert result.exit_code == 1, result.output
    assert "latency_p50_ms" in result.stderr and "recall@k" not in result.stderr
    report = json.loads(result.stdout)
    assert report["systems"]["beacon"]["recall@k"] == 1 and list(report["systems"]) == ["beacon"]
    assert len(read_jsonl(out / "results.jsonl")) == len(QUESTIONS)

    bad = CliRunner().invoke(app, ["--data-dir", str(library_dir), "eval", str(dataset), "--out", str(out), "--fail-under", "recall=0.5"])
    assert bad.exit_code == 2 and "Unknown metric 'recall'" in bad.stderr


def test_ablations_show_what_the_grounding_decision_buys(library_dir, tmp_path, monkeypatch):
    """An on-topic question about a helpline the library does not hold is refused only thanks to
    the grounding decision; the never-refuse variant must answer it."""
    from evals import ablations

    rows = [
        QUESTIONS[0],
        {"id": "southbridge", "question": "What is the phone number of the Southbridge helpline?", "expected_sources": [], "expected_answer_contains": [], "answerable": False},
    ]
    dataset = write_jsonl(tmp_path / "ablation.jsonl", rows)
    monkeypatch.setenv("BEACON_DATA_DIR", str(library_dir))
    ablations.main([str(dataset), "--out", str(tmp_path / "out")])
    metrics = {v: json.loads((tmp_path / "out" / v / "report.json").read_text())["systems"]["beacon"] for v in ablations.VARIANTS}
    assert metrics["beacon"]["refusal_accuracy"] == 1.0 and metrics["beacon"]["false_refusal_rate"] == 0.0
    assert metrics["never-refuse"]["refusal_accuracy"] == 0.0
    assert metrics["strict"]["false_refusal_rate"] >= metrics["beacon"]["false_refusal_rate"]
