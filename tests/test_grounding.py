"""The grounding decision and answer selection (issue: answers that hold up on real documents).

Unit tests pin the normalisations the decision relies on; library tests pin one question per
failure class that made Beacon refuse what the library says, on the real treaty corpus.
"""

from __future__ import annotations

import json
import math

import pytest
from conftest import library_catalogue, library_store, multilingual_index

from assistant.answering.grounding import (
    FEATURES,
    RefusalModel,
    Signals,
    answer_type,
    key_terms,
    missing_specifics,
    shipped_model,
    split_case,
    states_type,
)
from assistant.answering.naming import document_names, named_documents
from assistant.domain.text import acronym_expanded, number_values, specific_mentioned, tokenize


# -- normalisations ------------------------------------------------------------------------------
def test_numbers_are_read_in_digits_and_in_words():
    assert number_values("persons under eighteen years") == {18}
    assert {21, 3, 15, 5} <= number_values("twenty-one days, the 3rd day, 15 years, the fifth")
    assert 182 in number_values("Convention, 1999 (No. 182)")


def _mentioned(specific: str, support: str) -> bool:
    return specific_mentioned(specific, support, support.lower(), number_values(support))


@pytest.mark.parametrize(
    "specific, support",
    [
        ("15", "children under fifteen years of age"),
        ("Europe's", "the Council of Europe Convention"),
        ("ILO's", "the ILO Governing Body"),
        ("CRC", "Convention on the Rights of the Child"),
        ("CEDAW", "Convention on the Elimination of All Forms of Discrimination against Women"),
        ("C182", "Worst Forms of Child Labour Convention, 1999 (No. 182)"),
    ],
)
def test_specifics_are_recognised_in_their_other_surface_forms(specific, support):
    assert _mentioned(specific, support)


@pytest.mark.parametrize("specific, support", [("Moldova", "the Council of Europe"), ("2019", "in 2023"), ("GRETA", "the Group of Experts")])
def test_specifics_the_support_does_not_state_stay_missing(specific, support):
    assert not _mentioned(specific, support)


def test_acronyms_need_capitalised_words_in_order():
    assert acronym_expanded("CRC", "the Convention on the Rights of the Child")
    assert not acronym_expanded("CRC", "the child rights convention")
    assert not acronym_expanded("TV", "The Vienna office")  # a function word does not start a name


def test_missing_specifics_separate_names_from_numbers():
    names, numbers = missing_specifics("Which hotline does Moldova run for 14-year-olds?", "children under fourteen years")
    assert names == ["Moldova"] and numbers == []


def test_question_phrasing_is_not_a_key_term():
    # "someone", "can't", "still" say how a trainee talks, not what the library must contain.
    assert tokenize("Can't someone still get a job abroad?") == ["job", "abroad"]
    terms = key_terms("Is someone still a minor if they can't prove their age?", lambda t: 1.0, lambda t: True)
    assert [t.word for t in terms] == ["minor", "prove", "age"]


@pytest.mark.parametrize(
    "question, kind",
    [
        ("How many countries have ratified it?", "quantity"),
        ("What share of victims are children?", "quantity"),
        ("How long is the reflection period?", "duration"),
        ("At what age may children do light work?", "duration"),
        ("When was the Protocol adopted?", "date"),
        ("What happens when a slave escapes to a ship?", None),
    ],
)
def test_the_value_a_question_asks_for(question, kind):
    assert answer_type(question) == kind


def test_when_introducing_a_case_asks_for_no_date():
    assert answer_type("When children are taken out of the worst kinds of work, what must the government make sure they get?") is None
    assert answer_type("When a widow is passed on to her late husband's brother, is that a practice similar to slavery?") is None
    assert answer_type("When should a birth be registered?") == "date"
    assert answer_type("Quel jour a lieu la Journée mondiale ?") == "date"


def test_the_age_of_the_person_asked_about_is_a_fact_of_the_case():
    support = "Worst Forms of Child Labour Convention, 1999 (No. 182): all persons under the age of 18"
    assert missing_specifics("A gang uses 14-year-olds to run drugs. Does C182 cover that?", support) == ([], [])
    assert missing_specifics("Darf ein 13-jähriges Kind Zeitungen austragen?", support, numbers_only=True) == ([], [])
    # a number the question asks about is still a specific the passages must state
    assert missing_specifics("How many children aged 14 work in mines under C182?", support) == ([], ["14"])


def test_a_case_described_before_the_question_is_told_apart_from_what_is_asked():
    asked, case = split_case("A woman in Manila is hired as a maid abroad. Does she need a written contract? Who signs it?")
    assert asked == "Does she need a written contract? Who signs it?"
    assert case == "A woman in Manila is hired as a maid abroad."
    assert split_case("What does General Recommendation No. 38 say about migration?") == ("What does General Recommendation No. 38 say about migration?", "")
    assert split_case("Tell me about Moldova.")[1] == ""


def test_a_place_in_the_case_is_not_a_specific_the_library_must_name(dev_library):
    case = dev_library.ask("A woman in Manila is hired as a maid for a family abroad. Does she have to get a written contract before she leaves?", min_confidence=0.0)
    assert case.grounding["missing_names"] == 0
    asked = dev_library.ask("Does a maid hired in Manila have to get a written contract before she leaves?", min_confidence=0.0)
    assert asked.grounding["missing_names"] == 1


def test_a_value_of_the_asked_kind_is_told_apart_from_references():
    assert not states_type("in accordance with Article 10 of Convention No. 189", "quantity", "How many days?")
    assert states_type("shall not exceed sixty days in any one period of twelve months", "duration", "How long?")
    assert not states_type("when two States have become Parties", "quantity", "How many countries have ratified it?")
    assert not states_type("workers recruited in one country for work in another", "quantity", "How many countries have ratified it?")
    assert states_type("ratified by 36 countries", "quantity", "How many countries have ratified it?")
    assert states_type("children make up 38% of detected victims", "quantity", "What share of victims are children?")


def test_a_question_naming_an_instrument_names_that_document():
    metas = [
        {"doc_id": "crc", "title": "Convention on the Rights of the Child (1989)", "source": "un-crc-1989.md", "year": 1989},
        {"doc_id": "c182", "title": "ILO Worst Forms of Child Labour Convention, 1999 (No. 182)", "source": "ilo-c182.md", "year": 1999},
        {"doc_id": "palermo", "title": "Protocol to Prevent Trafficking in Persons", "source": "un-palermo-protocol-2000.md", "year": 2000},
    ]
    names = document_names(metas)
    assert named_documents("Which CRC article covers the sale of children?", names).doc_ids == ["crc"]
    assert named_documents("Does C182 require monitoring?", names).doc_ids == ["c182"]
    named = named_documents("What does the Palermo Protocol say about carriers?", names)
    assert named.doc_ids == ["palermo"] and "Palermo" not in named.rest
    assert named_documents("What is forced labour?", names).doc_ids == []


def test_a_document_is_named_strongly_by_acronym_number_or_year_with_title_word_not_by_a_date():
    metas = [
        {"doc_id": "slavery", "title": "Supplementary Convention on the Abolition of Slavery (1956)", "source": "slavery-1956.md", "year": 1956},
        {"doc_id": "c189", "title": "Convention concerning Decent Work for Domestic Workers, ILO Convention No. 189 (2011)", "source": "c189.md", "year": 2011},
    ]
    names = document_names(metas)
    assert named_documents("Which part of the 1956 convention fits?", names).strong == {"slavery"}
    assert named_documents("Que dit la convention de 1956 ?", names).strong == {"slavery"}
    assert named_documents("What does C189 say about that?", names).strong == {"c189"}
    # a year as a date names a document weakly (one vote), not as the document to answer from
    dated = named_documents("What changed for domestic workers in 2011?", names)
    assert dated.doc_ids == ["c189"] and dated.strong == set()


def test_a_question_naming_its_treaty_is_answered_from_it_when_another_matches_its_words_better(dev_library):
    # The case's words ("16-year-old", "school") match the minimum-age convention (C138) better
    # than the one the trainee names; the named one must come first.
    retrieval = dev_library.retrieve("A 16-year-old live-in nanny says her employer won't let her go to school. What does C189 say about that?")
    assert "c189" in retrieval.hits[0].source


# -- the calibrated decision -----------------------------------------------------------------------
def test_the_shipped_model_weighs_every_signal_and_was_cross_validated():
    model = shipped_model()
    assert model.features == FEATURES
    assert 0 < model.threshold < 1
    assert any(abs(w) > 0 for w in model.coef)
    cv = model.info["cross_validated"]
    assert {"golden", "questions"} <= set(cv), "fitted on the golden and development sets together"


def test_confidence_rises_with_support_and_falls_with_missing_specifics():
    model = shipped_model()
    supported = Signals(best_chunk=0.7, best_sentence=0.7, coverage_exact=1.0, coverage_soft=1.0, answer_coverage=1.0, bm25_best=0.5)
    missing = Signals(**{**supported.__dict__, "missing_names": 2.0})
    assert model.confidence(supported) > model.threshold > model.confidence(missing)


def test_a_model_file_naming_unknown_signals_is_a_config_error():
    from assistant.domain.errors import ConfigError

    with pytest.raises(ConfigError, match="evals.calibrate"):
        RefusalModel(["no_such_signal"], [0.0], [1.0], [1.0], 0.0, 0.5)
    data = json.loads(json.dumps(shipped_model().to_dict()))
    assert RefusalModel.from_dict(data).confidence(Signals()) == pytest.approx(shipped_model().confidence(Signals()))
    assert math.isfinite(RefusalModel.from_dict(data).confidence(Signals(missing_names=1e9)))


# -- on the real treaties: one question per failure class ----------------------------------------------
def _cites(answer, fragment: str) -> bool:
    return any(fragment in c.source for c in answer.citations)


@pytest.mark.parametrize(
    "question, source",
    [
        # conversational words counted as key terms ("woman, go, abroad, job", "can't, minor")
        ("Can a woman go abroad for a live-in domestic job without any written contract?", "ilo-c189"),
        # surface forms of specifics: an acronym the document spells out, a possessive
        ("What does the CRC say about the sale of children?", "un-crc"),
        ("Under the ILO's 1930 convention, what does forced labour mean?", "ilo-c029"),
        # other languages: ranked by multilingual similarity, not by stray surface words
        ("Darf der Arbeitgeber den Pass einer Hausangestellten einbehalten?", "ilo-c189"),
        ("Selon la Convention relative aux droits de l'enfant, jusqu'à quel âge une personne est-elle un enfant ?", "un-crc"),
        # retrieved right, but the cross-lingual signals leave it below the threshold
        pytest.param(
            "Что такое долговая кабала?", "slavery-convention-1956",
            marks=pytest.mark.xfail(strict=True, reason="KNOWN LIMIT: cross-lingual confidence (README, Quality)"),
        ),
    ],
)
def test_questions_in_a_trainees_words_are_answered_from_the_right_treaty(dev_library, question, source):
    answer = dev_library.ask(question)
    assert not answer.refused, answer.refusal_reason
    assert _cites(answer, source), [c.source for c in answer.citations]


@pytest.mark.parametrize(
    "question, passage",
    [
        ("Selon la Convention relative aux droits de l'enfant, jusqu'à quel âge une personne est-elle un enfant ?", "below the age of eighteen"),
        ("Ab welchem Alter gilt man nach dem Übereinkommen über die Rechte des Kindes nicht mehr als Kind?", "below the age of eighteen"),
        ("Le salaire d'un travailleur domestique peut-il être versé en partie en nature, par exemple en logement ?", "in kind"),
    ],
)
def test_a_question_in_another_language_is_ranked_by_meaning_not_by_shared_words(dev_library, question, passage):
    """BM25 and key-term coverage match the question's own words; for a French or German
    question over an English library those are stray cognates and function words, and their votes
    pushed the answering article out of the top passages. They no longer vote for such questions."""
    hits = dev_library.retrieve(question, k=3).hits
    assert any(passage in h.text for h in hits), [(h.source, h.locator) for h in hits]


CODE = """# Seasonal Work Code

## Article 2 Use of terms

For the purposes of this Code, a seasonal worker means a person employed in agriculture for a period of less than six months in any year.

## Article 9 Protection

Each State shall protect seasonal workers against abusive recruitment and shall ensure that seasonal workers in agriculture have decent housing during the season.

## Article 10 Inspection

Labour inspectors shall visit farms employing seasonal workers at least once a season.
"""


def test_a_what_counts_as_question_is_answered_with_the_definition(beacon, tmp_path):
    """The obligation article shares more words with the question; the definition answers it."""
    (tmp_path / "code.md").write_text(CODE, encoding="utf-8")
    beacon.ingest([str(tmp_path / "code.md")])
    answer = beacon.ask("Who counts as a seasonal worker in agriculture?", min_confidence=0.0)
    assert answer.sentences[0].text.startswith("For the purposes of this Code"), answer.answer


def test_a_how_long_question_is_answered_with_the_duration(dev_library):
    answer = dev_library.ask("For how many days a year at most could a person be made to do forced labour under the 1930 convention?")
    assert not answer.refused, answer.refusal_reason
    assert "sixty days" in answer.answer


def test_the_part_the_library_does_not_cover_is_named(dev_library):
    # (asked as "How much weekly rest…?", the drafted sentence states no amount, and the decision
    # now refuses that draft: the partial path is shown with a question whose first part it answers)
    answer = dev_library.ask("Are domestic workers entitled to weekly rest under C189? And are they entitled to a company car?")
    assert not answer.refused, answer.refusal_reason
    assert answer.uncovered == ["And are they entitled to a company car?"]
    assert "Not covered by the passages quoted" in answer.answer
    assert all(s.citations for s in answer.sentences), "the quoted part stays cited"


@pytest.mark.parametrize(
    "question",
    [
        "What is the telephone number of the national anti-trafficking hotline in Moldova?",
        "How many countries have ratified the Domestic Workers Convention so far?",
        "What percentage of forced labour victims worldwide work in agriculture?",
    ],
)
def test_on_topic_questions_the_library_does_not_answer_are_still_refused(dev_library, question):
    answer = dev_library.ask(question)
    assert answer.refused, answer.answer
    assert answer.confidence is not None and answer.confidence < shipped_model().threshold


def test_min_confidence_zero_shows_what_would_have_been_said(dev_library):
    question = "What is the telephone number of the national anti-trafficking hotline in Moldova?"
    forced = dev_library.ask(question, min_confidence=0.0)
    assert not forced.refused and forced.citations
    assert forced.grounding["missing_names"] >= 1


# -- key terms across languages, and the term a question hinges on ------------------------------------
def test_words_of_another_language_are_translated_to_library_words(dev_library):
    settings = dev_library.settings
    index = multilingual_index(settings, library_catalogue(settings, library_store(settings)))
    translated = dict(zip(["arbeitgeber", "salaire", "enfant"], index.translate(["arbeitgeber", "salaire", "enfant"])))
    assert translated["arbeitgeber"][0] == "employer"
    assert translated["salaire"][0] == "wage"
    assert translated["enfant"][0] == "child"
    assert all(0.0 < similarity <= 1.0 for _w, similarity in translated.values())


def test_a_question_in_another_language_has_key_term_coverage(dev_library):
    answer = dev_library.ask("L'employeur peut-il payer le salaire de la travailleuse domestique en nature ?", min_confidence=0.0)
    assert answer.grounding["crosslingual"] == 1.0
    # employeur, salaire, domestique -> employer, wage, domestic: measured as for an English question
    assert answer.grounding["coverage_exact"] is not None and answer.grounding["coverage_exact"] > 0
    assert answer.grounding["coverage_soft"] > 0.5
    assert answer.grounding["unknown_terms"] is not None



def test_the_library_vocabulary_is_embedded_with_the_multilingual_index(beacon, tmp_path):
    """Built by `beacon ingest` and the server's background job, not by the first question."""
    (tmp_path / "code.md").write_text(CODE, encoding="utf-8")
    beacon.ingest([str(tmp_path / "code.md")])
    beacon.refresh_multilingual_index()
    assert list(beacon.settings.data_dir.rglob("words.npz"))
    settings = beacon.settings
    catalogue = library_catalogue(settings, library_store(settings))
    index = multilingual_index(settings, catalogue)
    assert index.translate(["saisonnier"])[0][0] == "seasonal"
    assert index.vocabulary_revision == catalogue.snapshot().revision, "loaded from what the build saved, for the current library"
