"""Commitments change over time: status and relations in the metadata, answers that flag an
amended or superseded text next to its citation, and collections a question can be limited to."""

from __future__ import annotations

import json

import pytest
from conftest import library_embedder
from typer.testing import CliRunner

from assistant import InvalidInput, Settings, build_assistant
from assistant.answering import newer, timeline
from assistant.cli.main import app
from assistant.domain import versions

PLAN = """---
title: Regional Action Plan on Labour Exploitation
symbol: RAP/1
year: 2010
valid_from: "2010-03-01"
collections: ["Regional commitments"]
---
# Regional Action Plan on Labour Exploitation

States shall inspect recruitment agencies at least once every two years and publish the results.
"""
ADDENDUM = """---
title: Addendum to the Regional Action Plan
symbol: RAP/1/Add.1
year: 2019
amends: ["RAP/1"]
valid_from: "2019-05"
collections: ["Regional commitments"]
---
# Addendum to the Regional Action Plan

States shall inspect recruitment agencies every year and publish the results with the names of the agencies sanctioned.
"""
UNRELATED = """---
title: Shelter Standards
year: 2020
---
# Shelter Standards

Shelters for victims of trafficking must offer a private room, medical care and legal counselling.
"""
OLD_GUIDELINES = """---
title: Guidelines on Labour Inspection in Agriculture
symbol: GLI/2015
year: 2015
---
# Guidelines on Labour Inspection in Agriculture (2015)

## Inspections

Under the 2015 Guidelines, labour inspectors should visit farms that employ seasonal workers without prior notice.
Labour inspectors should visit each registered farm once a year.
Inspectors should interview workers in a language they understand and away from their employer.
"""
NEW_GUIDELINES = """---
title: Revised Guidelines on Labour Inspection in Agriculture
symbol: GLI/2021
year: 2021
supersedes: ["GLI/2015"]
valid_from: "2021-09"
---
# Revised Guidelines on Labour Inspection in Agriculture (2021)

## Inspections

Under the Revised Guidelines, labour inspectors should visit farms that employ seasonal workers without prior notice.
Labour inspectors should visit each registered farm at least twice a year, once during the harvest.
Inspectors should interview workers in a language they understand and away from their employer.
"""


@pytest.fixture()
def timeline_library(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in {"plan.md": PLAN, "addendum.md": ADDENDUM, "shelters.md": UNRELATED}.items():
        (folder / name).write_text(text, encoding="utf-8")
    beacon = build_assistant(Settings(data_dir=tmp_path / "data"))
    reports = beacon.ingest([str(folder)])
    assert all(r.status == "added" for r in reports), reports
    return beacon, folder, {r.source.rsplit("/", 1)[-1]: r.doc_id for r in reports}


def test_front_matter_relations_are_stored_and_listed(timeline_library):
    beacon, _, ids = timeline_library
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["--data-dir", str(beacon.settings.data_dir), "docs", "list", "--json"]).stdout)["documents"]
    by_id = {d["doc_id"]: d for d in listed}
    assert by_id[ids["addendum.md"]]["amends"] == ["RAP/1"] and by_id[ids["addendum.md"]]["valid_from"] == "2019-05"
    assert by_id[ids["plan.md"]]["status"] == "in_force" and by_id[ids["plan.md"]]["collections"] == ["Regional commitments"]
    assert by_id[ids["shelters.md"]]["collections"] == [] and by_id[ids["shelters.md"]]["amends"] == []


def test_an_answer_quoting_an_amended_text_says_so_next_to_the_citation(timeline_library):
    beacon, _, ids = timeline_library
    answer = beacon.ask("How often shall States inspect recruitment agencies under the Regional Action Plan?", filters={"doc_id": ids["plan.md"]})
    assert not answer.refused and answer.citations[0].doc_id == ids["plan.md"]
    assert answer.citations[0].newer == ["amended or supplemented by Addendum to the Regional Action Plan (2019-05)"]
    assert answer.citations[0].date == "2010-03-01"
    assert "Note on dates: [1] Regional Action Plan on Labour Exploitation is amended or supplemented by Addendum to the Regional Action Plan (2019-05)." in answer.answer
    current = beacon.ask("What must shelters for victims of trafficking offer?")
    assert not current.refused and all(not c.newer for c in current.citations) and "Note on dates" not in current.answer


def test_docs_set_validates_and_survives_reingest(timeline_library):
    beacon, folder, ids = timeline_library
    runner = CliRunner()
    base = ["--data-dir", str(beacon.settings.data_dir), "docs", "set"]
    bad = runner.invoke(app, [*base, ids["plan.md"], "--status", "obsolete"])
    assert bad.exit_code == 2 and "in_force, superseded, historical" in bad.output
    assert runner.invoke(app, [*base, ids["plan.md"], "--valid-from", "March 2010"]).exit_code == 2
    assert runner.invoke(app, [*base, ids["plan.md"]]).exit_code == 2, "nothing to set"
    plan = next(d for d in beacon.list_documents() if d.doc_id == ids["plan.md"])
    assert plan.status == "in_force" and plan.valid_from == "2010-03-01", "a rejected value stores nothing"

    done = runner.invoke(app, [*base, ids["shelters.md"], "--status", "historical", "--collection", "Archive", "--collection", "Regional commitments"])
    assert done.exit_code == 0, done.output
    (folder / "shelters.md").write_text(UNRELATED.replace("legal counselling", "legal and psychological counselling"), encoding="utf-8")
    assert beacon.ingest([str(folder / "shelters.md")])[0].status == "updated"
    shelters = next(d for d in beacon.list_documents() if d.doc_id == ids["shelters.md"])
    assert shelters.status == "historical" and shelters.collections == ["Archive", "Regional commitments"]
    answer = beacon.ask("What must shelters for victims of trafficking offer?")
    assert answer.citations[0].newer == ["marked historical in the library"]


def test_bad_front_matter_is_a_clear_ingest_error(tmp_path):
    beacon = build_assistant(Settings(data_dir=tmp_path / "data"))
    path = tmp_path / "bad.md"
    path.write_text(PLAN.replace('valid_from: "2010-03-01"', 'status: "expired"'), encoding="utf-8")
    report = beacon.ingest([str(path)])[0]
    assert report.status == "failed" and "status in the front matter" in report.error and "in_force" in report.error
    assert beacon.list_documents() == []
    with pytest.raises(InvalidInput):
        versions.checked({"supersedes": ["ok", "<script>"]})
    with pytest.raises(InvalidInput, match="Unknown document field"):
        versions.checked({"colour": "red"})


def test_a_question_can_be_limited_to_a_collection(timeline_library):
    beacon, _, ids = timeline_library
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["--data-dir", str(beacon.settings.data_dir), "docs", "collections", "--json"]).stdout)
    assert listed["collections"] == {"Regional commitments": sorted([ids["plan.md"], ids["addendum.md"]])}
    inside = beacon.ask("How often shall States inspect recruitment agencies?", filters={"collection": "Regional commitments"})
    assert {c.doc_id for c in inside.citations} <= {ids["plan.md"], ids["addendum.md"]} and not inside.refused
    outside = beacon.ask("What must shelters for victims of trafficking offer?", filters={"collection": "Regional commitments"})
    assert all(c.doc_id != ids["shelters.md"] for c in outside.citations) and all(r.doc_id != ids["shelters.md"] for r in outside.retrieved)
    with pytest.raises(InvalidInput, match="No collection"):
        beacon.ask("What must shelters offer?", filters={"collection": "Nope"})
    cli = runner.invoke(app, ["--data-dir", str(beacon.settings.data_dir), "ask", "What must shelters offer?", "--collection", "Nope"])
    assert cli.exit_code == 2


def test_questions_about_a_time_are_told_apart():
    for past in ("What did the 2003 OSCE Action Plan say about prevention?", "What applied before the revision?", "What did the original text say?"):
        assert timeline.asks_about_past(past), past
    for current in ("What must shelters offer?", "How often shall States inspect recruitment agencies?", "Which forms of exploitation does Directive 2011/36/EU list?"):
        assert not timeline.asks_about_past(current), current


def test_retrieval_prefers_the_current_version_of_a_repeated_passage(tmp_path):
    """Superseded and current guidelines repeat a passage: the current one ranks first and is
    cited; a question about the time of the old text still gets the old text."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "old.md").write_text(OLD_GUIDELINES, encoding="utf-8")
    (folder / "new.md").write_text(NEW_GUIDELINES, encoding="utf-8")
    beacon = build_assistant(Settings(data_dir=tmp_path / "data"))
    ids = {r.source.rsplit("/", 1)[-1]: r.doc_id for r in beacon.ingest([str(folder)])}
    question = "Should labour inspectors announce their visits to farms with seasonal workers?"
    hits = beacon.retrieve(question, 5).hits
    score = {h.doc_id: h.score for h in hits}
    assert hits[0].doc_id == ids["new.md"] and score.get(ids["old.md"], 0) <= score[ids["new.md"]] * timeline.DEMOTION + 1e-3, "the old chunk is demoted"
    again = {h.doc_id: h.score for h in beacon.retrieve("What did the 2015 Guidelines say about announcing visits to farms?", 5).hits}
    assert again[ids["old.md"]] > again[ids["new.md"]] * timeline.DEMOTION, "not when the question asks about its time"
    answer = beacon.ask(question)
    assert not answer.refused and {c.doc_id for c in answer.citations} == {ids["new.md"]} and "Note on dates" not in answer.answer

    past = beacon.ask("What did the 2015 Guidelines say about announcing visits to farms with seasonal workers?")
    assert not past.refused and past.citations[0].doc_id == ids["old.md"]
    assert past.citations[0].newer == ["superseded by Revised Guidelines on Labour Inspection in Agriculture (2021-09)"]
    assert all(c.doc_id != ids["new.md"] for c in past.citations), "a question about the old text is not rewritten to the newest"


def test_an_answer_quoting_an_amended_text_also_quotes_the_newer_text_on_the_point(timeline_library):
    beacon, _, ids = timeline_library
    question = "How often shall States inspect recruitment agencies?"
    answer = beacon.answer_from(beacon.retrieve(question, 3, {"doc_id": ids["plan.md"]}))
    assert [c.doc_id for c in answer.citations] == [ids["plan.md"]]
    documents = {d.doc_id: d.model_dump() for d in beacon.list_documents()}
    embedder = library_embedder(beacon.settings)
    newer.cite_newer(answer, documents, lambda text, doc_ids: beacon.retrieve(text, 3, {"doc_id": doc_ids}).hits, embedder.embed)
    assert [c.doc_id for c in answer.citations] == [ids["plan.md"], ids["addendum.md"]]
    added = answer.sentences[1]
    assert added.text == "States shall inspect recruitment agencies every year and publish the results with the names of the agencies sanctioned."
    assert added.citations == [2] and answer.answer.endswith(f"{added.text} [2]")
    quoted = beacon.passage(ids["addendum.md"], span=(added.char_start, added.char_end)).text
    assert " ".join(quoted.split()) == added.text, "quoted verbatim at its span"
    timeline.flag_outdated(answer, documents)
    assert answer.citations[0].newer and not answer.citations[1].newer

    asked = beacon.ask(question)  # through ask: the newer text is cited, the older flagged if quoted
    assert ids["addendum.md"] in {c.doc_id for c in asked.citations}
    assert all(c.newer for c in asked.citations if c.doc_id == ids["plan.md"])
