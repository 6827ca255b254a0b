"""Safety referral: disclosures of danger get the card first, questions about the topic do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.referral import ReferralTable, discloses_danger, format_referral, referral_for

TABLE = Path(__file__).resolve().parents[1] / "knowledge" / "referrals.toml"

DISCLOSURES = [
    "My employer took my passport and won't let me leave",
    "I am forced to work 16 hours a day and they threaten my family",
    "My sister is locked in the apartment and can't go out",
    "They keep my documents and say I owe a debt I can never repay",
    "Mon patron a pris mon passeport et ne me laisse pas partir",
    "Je suis forcée à travailler sans salaire et on me menace",
    "Mein Arbeitgeber hat meinen Pass weggenommen und lässt mich nicht gehen",
    "Ich werde gezwungen, auf der Straße zu betteln",
    "Работодатель забрал мой паспорт и не отпускает меня",
    "Меня заставляют работать бесплатно",
]
NOT_DISCLOSURES = [
    "What is passport confiscation and is it an indicator of trafficking?",
    "Does the Palermo Protocol cover withholding of identity documents?",
    "How should employers audit supply chains for forced labour?",
    "What did the 24th Alliance conference focus on?",
    "Qu'est-ce que le travail forcé selon la Convention de l'OIT ?",
    "Was bedeutet Zwangsarbeit im Sinne der ILO-Konvention?",
    "Что такое торговля людьми по Палермскому протоколу?",
    "How do I bake bread?",
]


@pytest.mark.parametrize("question", DISCLOSURES)
def test_disclosures_trigger_the_referral(question):
    assert discloses_danger(question)


@pytest.mark.parametrize("question", NOT_DISCLOSURES)
def test_questions_about_the_topic_do_not(question):
    assert not discloses_danger(question)


def test_card_uses_the_country_named_in_the_question():
    table = ReferralTable.load(TABLE)
    card = referral_for("I'm in the UK and my boss took my passport", table)
    assert card is not None
    assert card.emergency == "999" and card.hotline == "08000 121 700"
    assert "999" in format_referral(card)


def test_card_defaults_to_112():
    card = referral_for("My employer took my passport and won't let me leave", ReferralTable.load(TABLE))
    assert card.emergency == "112" and card.hotline == ""
    assert "112" in format_referral(card) and card.what_to_do


def test_missing_table_still_gives_112(tmp_path):
    card = referral_for("They locked me in and took my papers", ReferralTable.load(tmp_path / "none.toml"))
    assert card.emergency == "112"


# --- wired into the assistant, the CLI and the chat ---------------------------------------
@pytest.fixture(scope="module")
def small_library(tmp_path_factory):
    from assistant import Settings, build_assistant

    beacon = build_assistant(Settings(data_dir=tmp_path_factory.mktemp("data")))
    beacon.ingest([str(Path(__file__).resolve().parents[1] / "knowledge" / "prevention-labour-migration.md")])
    return beacon


def test_a_disclosure_gets_the_card_before_whatever_the_library_says(small_library):
    answer = small_library.ask("My employer took my passport and won't let me leave. What can I do?")
    assert answer.referral is not None and answer.referral.emergency == "112"
    assert answer.model_dump()["referral"]["what_to_do"]


def test_a_country_in_the_disclosure_picks_its_numbers(small_library):
    answer = small_library.ask("I work in the United Kingdom and my boss keeps my passport")
    assert answer.referral.emergency == "999" and answer.referral.hotline


def test_a_question_about_the_topic_gets_no_card(small_library):
    assert small_library.ask("What does MC.DEC/8/07 say about labour exploitation?").referral is None


def test_cli_prints_the_card_first(small_library):
    from typer.testing import CliRunner

    from assistant.cli import app

    result = CliRunner().invoke(app, ["--data-dir", str(small_library.settings.data_dir), "ask", "Mein Arbeitgeber hat meinen Pass weggenommen"])
    assert result.exit_code == 0, result.output
    assert result.output.index("112") < result.output.index("library")


def test_chat_bubble_shows_the_card_above_the_answer(small_library):
    from assistant.web.presenters import format_answer

    html = format_answer(small_library.ask("Меня заставляют работать бесплатно"))
    assert html.startswith('<div class="beacon-referral"') and "112" in html


def test_a_broken_referral_table_is_a_clear_error(tmp_path):
    from assistant import Settings, build_assistant
    from assistant.errors import ConfigError

    broken = tmp_path / "referrals.toml"
    broken.write_text("[default\nemergency = ", encoding="utf-8")
    beacon = build_assistant(Settings(data_dir=tmp_path / "data", referrals_file=broken))
    with pytest.raises(ConfigError, match="BEACON_REFERRALS_FILE"):
        beacon.referrals
