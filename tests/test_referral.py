"""Safety referral: disclosures of danger get the card first, questions about the topic do not."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from assistant.answering.referral import ReferralTable, discloses_danger, format_referral, referral_for

TABLE = Path(__file__).resolve().parents[1] / "assistant" / "answering" / "referrals.toml"

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

    from assistant.cli.main import app

    result = CliRunner().invoke(app, ["--data-dir", str(small_library.settings.data_dir), "ask", "Mein Arbeitgeber hat meinen Pass weggenommen"])
    assert result.exit_code == 0, result.output
    assert result.output.index("112") < result.output.index("library")


def test_chat_bubble_shows_the_card_above_the_answer(small_library):
    from assistant.web.presenters import format_answer

    html = format_answer(small_library.ask("Меня заставляют работать бесплатно"))
    assert html.startswith('<div class="beacon-referral"') and "112" in html


def test_a_broken_referral_table_is_a_clear_error(tmp_path):
    from assistant import Settings, build_assistant
    from assistant.domain.errors import ConfigError

    broken = tmp_path / "referrals.toml"
    broken.write_text("[default\nemergency = ", encoding="utf-8")
    beacon = build_assistant(Settings(data_dir=tmp_path / "data", referrals_file=broken))
    with pytest.raises(ConfigError, match="BEACON_REFERRALS_FILE"):
        beacon.referrals


def test_the_installed_package_carries_the_referral_table(tmp_path):
    """Safety content ships with the package: an installed wheel, run away from the repository,
    still gives national hotlines, not only the 112 default."""
    repo = tmp_path / "checkout"  # a copy, so the build leaves nothing in the working tree
    source = Path(__file__).resolve().parents[1]
    for name in ("assistant", "ingest", "evals"):
        shutil.copytree(source / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("ui.py", "pyproject.toml", "README.md"):
        shutil.copy2(source / name, repo / name)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(repo)],
                   check=True, capture_output=True)
    site = tmp_path / "site"
    with zipfile.ZipFile(next(wheels.glob("beacon_thb-*.whl"))) as wheel:
        wheel.extractall(site)
    probe = (
        "import assistant, json\n"
        "from assistant import Settings, build_assistant\n"
        f"table = build_assistant(Settings(data_dir={str(tmp_path / 'data')!r})).referrals\n"
        "print(json.dumps({'module': assistant.__file__, 'countries': sorted(table.countries)}))\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)},
                         check=True, capture_output=True, text=True)
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["module"].startswith(str(site))  # the wheel's code, not the checkout's
    assert found["countries"] == sorted(ReferralTable.load(TABLE).countries) and found["countries"]
