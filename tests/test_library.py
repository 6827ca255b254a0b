"""The shipped default library (knowledge/) and the golden set that measures it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import library_catalogue, library_store

from assistant import Settings, build_assistant
from assistant.answering.timeline import DATE_NOTE
from evals.metrics import source_matches

REPO = Path(__file__).resolve().parents[1]
KNOWLEDGE = REPO / "knowledge"
SHARED = REPO.parent / "shared"
GOLDEN = REPO / "evals" / "golden.jsonl"
FRONT_MATTER = ("title", "issuing_body", "symbol", "year", "doc_type", "source_url", "as_of")
BRIEFS = sorted(KNOWLEDGE.glob("*.md"))


def front_matter(path: Path) -> dict:
    match = re.match(r"\A---\n(.*?)\n---\n", path.read_text(encoding="utf-8"), re.S)
    assert match, f"{path.name} has no front-matter block"
    return yaml.safe_load(match.group(1))


def golden() -> list[dict]:
    return [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]


def source_text(name: str) -> str | None:
    for folder in (KNOWLEDGE, SHARED / "seeds", SHARED / "corpus"):
        if (folder / name).is_file():
            return (folder / name).read_text(encoding="utf-8")
    return None


def test_there_are_20_to_30_briefs_each_with_its_front_matter():
    assert 20 <= len(BRIEFS) <= 30
    for brief in BRIEFS:
        meta = front_matter(brief)
        missing = [key for key in FRONT_MATTER if key not in meta]
        assert not missing, f"{brief.name} lacks {missing}"
        assert meta["title"] and meta["source_url"].startswith("https://"), brief.name
        assert re.fullmatch(r"\d{4}(-\d{2})?", str(meta["as_of"])), f"{brief.name}: as_of {meta['as_of']!r}"
        assert "## Sources" in brief.read_text(encoding="utf-8") or "## Source" in brief.read_text(encoding="utf-8"), f"{brief.name} names no sources"


def test_golden_set_size_languages_and_unanswerables():
    items = golden()
    assert len(items) >= 60 and len({i["id"] for i in items}) == len(items)
    assert sum(not i["answerable"] for i in items) >= 15
    assert {"fr", "de", "ru"} <= {i.get("lang") for i in items}


@pytest.mark.parametrize("item", [i for i in golden() if i["answerable"]], ids=lambda i: i["id"])
def test_every_expected_string_occurs_in_its_expected_source(item):
    texts = [source_text(name) for name in item["expected_sources"]]
    if any(t is None for t in texts) and not SHARED.exists():
        pytest.skip("../shared (seeds and corpus) is not next to this checkout")
    assert all(t is not None for t in texts), f"{item['id']}: an expected source is neither in knowledge/ nor ../shared"
    corpus = " ".join(" ".join(t.split()) for t in texts).lower()
    for expected in item["expected_answer_contains"]:
        if expected == DATE_NOTE:
            continue  # Beacon's own words flagging an amended text (items t01…), in no source
        assert " ".join(expected.split()).lower() in corpus, f"{item['id']}: {expected!r} is not in {item['expected_sources']}"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    beacon = build_assistant(Settings(data_dir=tmp_path_factory.mktemp("shipped")))
    reports = beacon.ingest([str(KNOWLEDGE)])
    return beacon, reports


def test_the_shipped_library_ingests_cleanly(shipped):
    beacon, reports = shipped
    assert len(reports) == len(BRIEFS)
    assert all(r.status == "added" and r.chunks > 0 for r in reports), [(r.source, r.status, r.error) for r in reports if r.status != "added"]
    documents = beacon.list_documents()
    assert all(d.title and d.url.startswith("https://") for d in documents), "each brief's citation links to its public source"


def test_golden_questions_about_the_briefs_retrieve_the_right_brief(shipped):
    beacon, _ = shipped
    about_briefs = [i for i in golden() if i["answerable"] and i.get("lang", "en") == "en" and all((KNOWLEDGE / s).is_file() for s in i["expected_sources"])]
    assert len(about_briefs) >= 30
    found = []
    for item in about_briefs:
        retrieval = beacon.retrieve(item["question"], 5)
        found.append(any(source_matches(s, h.source, h.url) for s in item["expected_sources"] for h in retrieval.hits))
    assert sum(found) / len(found) >= 0.9, [i["id"] for i, ok in zip(about_briefs, found) if not ok]


@pytest.mark.parametrize("item", [i for i in golden() if re.fullmatch(r"t\d+", i["id"])], ids=lambda i: i["id"])
def test_time_items_cite_the_text_of_their_time_and_flag_an_amended_one(shipped, item):
    """Golden items about versions (t…): the answer has every expected string and cites the
    first expected source (the current text, or the historical one asked about); when the
    item expects the date note, a cited text is flagged as amended or superseded."""
    beacon, _ = shipped
    answer = beacon.ask(item["question"])
    assert not answer.refused, answer.answer
    missing = [e for e in item["expected_answer_contains"] if e.lower() not in answer.answer.lower()]
    assert not missing, (missing, answer.answer)
    assert item["expected_sources"][0] in {Path(c.source).name for c in answer.citations}, [c.source for c in answer.citations]
    if DATE_NOTE in item["expected_answer_contains"]:
        assert any(c.newer for c in answer.citations)


@pytest.mark.parametrize(
    "question, brief",
    [
        ("What are the 3 Ps of the OSCE Action Plan?", "osce-action-plan-2003.md"),
        ("What does MC.DEC/6/17 ask of participating States?", "mc-decisions-2017-2018-supply-chains-children.md"),
        ("What did the 24th Alliance conference focus on?", "alliance-conference-24-2024.md"),
    ],
)
def test_typical_trainee_questions_are_answered_from_the_briefs(shipped, question, brief):
    beacon, _ = shipped
    answer = beacon.ask(question)
    assert not answer.refused, answer.answer
    assert any(Path(c.source).name == brief for c in answer.citations), [c.source for c in answer.citations]


def test_a_per_document_cap_leaves_room_for_other_sources(shipped, embedder):
    from collections import Counter

    from assistant.answering.retriever import HybridRetriever

    beacon, _ = shipped
    question = "What did the 24th Alliance conference focus on?"
    uncapped = Counter(h.doc_id for h in beacon.retrieve(question, 5).hits)
    assert max(uncapped.values()) > 2, "the premise: one brief fills most slots"
    store = library_store(beacon.settings, embedder)
    capped_retriever = HybridRetriever(store, library_catalogue(beacon.settings, store), embedder, max_per_document=2)
    capped = Counter(h.doc_id for h in capped_retriever.retrieve(question, 5).hits)
    assert max(capped.values()) == 2 and sum(capped.values()) == 5 and len(capped) >= 3
