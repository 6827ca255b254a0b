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
