"""`beacon check-briefs`: the shipped briefs pass, and each wrong claim found by the 2024 fact
check (issue 14) is flagged again when it is put back into a copy of the briefs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli.main import app
from assistant.domain.errors import InvalidInput
from assistant.library.briefcheck import check_briefs, library_from_paths

REPO = Path(__file__).resolve().parents[1]
KNOWLEDGE = REPO / "knowledge"
SHARED = REPO.parent / "shared"
LIBRARY_DIRS = [SHARED / "corpus", SHARED / "seeds"]
REFERENCE = SHARED / "reference" / "thb-facts.md"
needs_corpus = pytest.mark.skipif(not (SHARED / "corpus").is_dir(), reason="../shared/corpus (the treaty texts) is not next to this checkout")
needs_seeds = pytest.mark.skipif(not (SHARED / "seeds").is_dir(), reason="../shared/seeds (the seed press releases) is not next to this checkout")
needs_reference = pytest.mark.skipif(not REFERENCE.is_file(), reason="../shared/reference/thb-facts.md is not next to this checkout")


def shared_library():
    return library_from_paths([d for d in LIBRARY_DIRS if d.is_dir()])


def findings_for(reports, name: str) -> list:
    return next(r for r in reports if Path(r.brief).name == name).findings


def test_the_shipped_briefs_pass_the_checker():
    reports = check_briefs([KNOWLEDGE], shared_library())
    assert len(reports) == len(list(KNOWLEDGE.glob("*.md")))
    flagged = {Path(r.brief).name: [(f.line, f.check, f.message) for f in r.findings] for r in reports if not r.ok}
    assert not flagged, json.dumps(flagged, indent=1)


# (brief, corrected wording now in the brief, the wrong wording it replaced, check that must flag it)
PUT_BACK = [
    ("eu-directive-2011-36-and-2024-revision.md", "in Strasbourg on 23 April 2024", "on 22 April 2024", "date"),
    ("mc-dec-8-07-labour-exploitation.md", "calls on participating States to develop programmes that curb fraudulent recruitment practices; this is a call to act, not only to consider", "asks participating States to consider measures against fraudulent recruitment practices", "strength"),
    ("prevention-labour-migration.md", "calls on States to set up programmes against fraudulent recruitment, to make sanctions effective when an employer or recruitment agency puts workers into debt bondage, and to make confidential complaint procedures available; only contractor accountability is left for States to consider", "asks States to consider measures against fraudulent recruitment, sanctions for debt bondage and confidential complaint procedures", "strength"),
    pytest.param("prevention-children.md", "ILO Convention No. 182 requires each Member to take effective and time-bound measures to prevent children from being engaged in the worst forms of child labour (C182, Art. 7(2)(a)). Free basic education is a separate measure with a narrower scope: C182 requires access to it for children who have been taken out of such work, as part of their rehabilitation, not as a prevention measure for all children (C182, Art. 7(2)(c)).", "ILO Convention No. 182 requires time-bound measures to prevent children's involvement in the worst forms of child labour, including access to free basic education (C182, Art. 7(2)).", "scope", marks=needs_corpus),
    pytest.param("ilo-forced-labour-conventions-c029-c182.md", "Article 7(2) of C182 requires each Member to take effective and time-bound measures, and each measure has its own scope.", "Article 7(2) of C182 requires time-bound measures to prevent children's engagement in the worst forms, remove and rehabilitate children, ensure free basic education, reach children at special risk and take account of the special situation of girls.", "scope", marks=needs_corpus),
    ("non-punishment-principle.md", 'The non-punishment principle concerns offences that victims of trafficking were compelled to commit as a result of being trafficked. Article 26 of the Council of Europe Convention on Action against Trafficking in Human Beings (CETS No. 197, 2005), the non-punishment provision of that treaty, requires each Party, "in accordance with the basic principles of its legal system", to "provide for the possibility of not imposing penalties on victims for their involvement in unlawful activities, to the extent that they have been compelled to do so". That is narrower than "victims are not punished".', 'The non-punishment principle means that victims of trafficking should not be punished for offences they were compelled to commit as a result of being trafficked. Article 26 of the Council of Europe Convention on Action against Trafficking in Human Beings (CETS No. 197, 2005) is the non-punishment provision of that treaty.', "modal"),
    pytest.param("palermo-protocol-2000.md", 'Article 6(1) of the Palermo Protocol requires each State Party to protect the privacy and identity of victims, with two qualifiers: "in appropriate cases and to the extent possible under its domestic law".', "Article 6 of the Palermo Protocol asks States Parties to protect the privacy and identity of victims.", "modal", marks=needs_corpus),
    pytest.param("palermo-protocol-2000.md", '- Article 9(1)(a)–(b) requires States Parties to establish comprehensive policies, programmes and other measures, both to prevent and combat trafficking and to protect victims from revictimization; the verb is "shall establish", an obligation, not a request.', "- Article 9(1) also asks for policies that protect victims from revictimization.", "modal", marks=needs_corpus),
    ("osr-cthb-office.md", "27.6 million people in forced labour, the ILO figure that the homepage calls victims; it is not a count of trafficking victims. The homepage also cites", "27.6 million victims of trafficking and", "figure"),
    ("ilo-forced-labour-conventions-c029-c182.md", 'as_of: "2024-12"', 'as_of: "2024-04"', "as_of"),
    ("national-referral-mechanisms.md", 'as_of: "2023-01"', 'as_of: "2022-01"', "as_of"),
    pytest.param("prevention-root-causes-vulnerabilities.md", "At the 24th Alliance conference (April 2024), OSCE leaders and experts called on participating States to go further than awareness-raising campaigns; aiming prevention at the vulnerabilities that traffickers exploit was a theme the conference explored, not a call it made", "The 24th Alliance conference (April 2024) urged participating States to move beyond awareness-raising campaigns and to target vulnerabilities and root causes directly", "source", marks=needs_seeds),
    pytest.param("palermo-protocol-2000.md", "- Article 9(4) requires measures", "- States Parties shall take or strengthen measures, including through bilateral or multilateral cooperation, to alleviate the factors that make persons vulnerable. Article 9(4) requires measures", "copied", marks=needs_corpus),
]


@pytest.mark.parametrize("brief, corrected, wrong, check", PUT_BACK, ids=lambda v: v if isinstance(v, str) and v.endswith(".md") else None)
def test_each_wrong_claim_is_flagged_when_put_back(tmp_path, brief, corrected, wrong, check):
    briefs = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, briefs)
    text = (briefs / brief).read_text(encoding="utf-8")
    assert corrected in text, "the corrected wording is in the shipped brief"
    (briefs / brief).write_text(text.replace(corrected, wrong), encoding="utf-8")
    findings = findings_for(check_briefs([briefs], shared_library()), brief)
    assert check in {f.check for f in findings}, [(f.check, f.message) for f in findings]


@needs_corpus
def test_a_modal_finding_shows_both_wordings(tmp_path):
    brief = tmp_path / "brief.md"
    brief.write_text('---\ntitle: "T"\nas_of: "2024-01"\n---\n\n## Prevention\n\nArticle 9(5) of the Palermo Protocol asks States Parties to discourage demand.\n', encoding="utf-8")
    [finding] = findings_for(check_briefs([brief], shared_library()), "brief.md")
    assert finding.check == "modal" and '"asks"' in finding.message and '"shall"' in finding.message and finding.line == 8


def test_quoted_wording_is_not_flagged_as_copied(tmp_path):
    source = tmp_path / "lib" / "source.txt"
    source.parent.mkdir()
    source.write_text("Frontline staff such as labour inspectors and border guards are often the first to meet victims.", encoding="utf-8")
    brief = tmp_path / "brief.md"
    brief.write_text('---\ntitle: "T"\nas_of: "2024-01"\n---\n\nThe note says "labour inspectors and border guards are often the first to meet victims" (p. 1).\n', encoding="utf-8")
    assert check_briefs([brief], library_from_paths([source.parent]))[0].ok
    brief.write_text(brief.read_text(encoding="utf-8").replace('"', ""), encoding="utf-8")
    [finding] = check_briefs([brief], library_from_paths([source.parent]))[0].findings
    assert finding.check == "copied" and finding.other == "source.txt"


def test_missing_paths_are_invalid_input(tmp_path):
    with pytest.raises(InvalidInput):
        check_briefs([tmp_path / "nope.md"], [])
    with pytest.raises(InvalidInput):
        library_from_paths([tmp_path / "nowhere"])


def test_cli_reports_per_brief_as_json_and_exits_1_when_flagged(tmp_path):
    briefs = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, briefs)
    ok = CliRunner().invoke(app, ["check-briefs", str(briefs), "--library", str(tmp_path / "knowledge"), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["flagged"] == 0
    stale = briefs / "national-referral-mechanisms.md"
    stale.write_text(stale.read_text(encoding="utf-8").replace('as_of: "2023-01"', 'as_of: "2022-01"'), encoding="utf-8")
    flagged = CliRunner().invoke(app, ["check-briefs", str(briefs), "--library", str(tmp_path / "knowledge"), "--json"])
    assert flagged.exit_code == 1
    report = json.loads(flagged.output)
    [nrm] = [b for b in report["briefs"] if b["brief"].endswith("national-referral-mechanisms.md")]
    assert [f["check"] for f in nrm["findings"]] == ["as_of"] and "January 2023" in nrm["findings"][0]["message"]
    text = CliRunner().invoke(app, ["check-briefs", str(stale), "--library", str(tmp_path / "knowledge")])
    assert text.exit_code == 1 and "as_of" in text.output


def test_one_brief_is_checked_with_its_sibling_briefs_but_not_for_wording_they_share(tmp_path):
    briefs = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, briefs)
    office = briefs / "osr-cthb-office.md"
    library = library_from_paths([briefs])  # as `beacon ingest knowledge/` would hold them
    assert check_briefs([office], library)[0].ok
    office.write_text(office.read_text(encoding="utf-8").replace("27.6 million people in forced labour,", "27.6 million victims of trafficking,"), encoding="utf-8")
    [report] = check_briefs([office], library)
    assert [f.check for f in report.findings] == ["figure"] and report.findings[0].other in {"alliance-conference-24-2024.md", "prevention-labour-migration.md"}


def test_the_shipped_briefs_pass_against_the_reference_facts():
    if not REFERENCE.is_file():
        pytest.skip("../shared/reference/thb-facts.md is not next to this checkout")
    reports = check_briefs([KNOWLEDGE], shared_library(), library_from_paths([REFERENCE]))
    flagged = {Path(r.brief).name: [(f.line, f.check, f.message) for f in r.findings] for r in reports if not r.ok}
    assert not flagged, json.dumps(flagged, indent=1)


def copy_with(tmp_path, brief: str, corrected: str, wrong: str) -> Path:
    """A copy of knowledge/ with one corrected claim replaced by the wrong one it corrected."""
    briefs = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, briefs)
    text = (briefs / brief).read_text(encoding="utf-8")
    assert corrected in text, "the corrected wording is in the shipped brief"
    (briefs / brief).write_text(text.replace(corrected, wrong), encoding="utf-8")
    return briefs


def write_documents(folder: Path, **texts: str) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return library_from_paths([folder])


COE_CORRECTED = 'Article 42(3) sets the date of entry into force precisely: once ten Signatories, at least eight of them Council of Europe member States, have consented to be bound, the Convention enters into force on "the first day of the month following the expiration of a period of three months" after that date, not simply three months later.'
COE_WRONG = "Under Article 42, CETS No. 197 enters into force three months after ten Signatories, at least eight of them Council of Europe member States, have consented to be bound."
COE_ARTICLES = """# Council of Europe Convention on Action against Trafficking in Human Beings

### Article 26

Each Party shall, in accordance with the basic principles of its legal system, provide for the possibility of not imposing penalties on victims for their involvement in unlawful activities, to the extent that they have been compelled to do so.

### Article 42

1. This Convention shall be open for signature by the member States of the Council of Europe, the non member States which have participated in its elaboration and the European Community.
2. This Convention is subject to ratification, acceptance or approval. Instruments of ratification, acceptance or approval shall be deposited with the Secretary General of the Council of Europe.
3. This Convention shall enter into force on the first day of the month following the expiration of a period of three months after the date on which 10 Signatories, including at least 8 member States of the Council of Europe, have expressed their consent to be bound by the Convention in accordance with the provisions of the preceding paragraph.
"""


def test_entry_into_force_three_months_after_is_flagged_against_the_article_text(tmp_path):
    library = shared_library() + write_documents(tmp_path / "lib", coe_convention_thb_2005=COE_ARTICLES)
    assert check_briefs([KNOWLEDGE / "coe-convention-2005-greta.md"], library)[0].ok
    briefs = copy_with(tmp_path, "coe-convention-2005-greta.md", COE_CORRECTED, COE_WRONG)
    [finding] = [f for f in findings_for(check_briefs([briefs], library), "coe-convention-2005-greta.md") if f.check == "timing"]
    assert "the first day of the following month" in finding.message and '"3 month"' in finding.message


def test_a_brief_quoting_an_article_is_the_reference_for_paraphrases_of_it(tmp_path):
    """No article text in the library: the shipped brief's quotation of Art. 42(3) is the reference."""
    briefs = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, briefs)
    new = briefs / "treaty-dates.md"
    new.write_text(f'---\ntitle: "Treaty dates"\nas_of: "2024-01"\n---\n\n## Council of Europe Convention\n\n{COE_WRONG}\n', encoding="utf-8")
    [finding] = check_briefs([new], shared_library())[0].findings
    assert finding.check == "timing" and finding.line == 8


MC617_CORRECTED = 'MC.DEC/6/17 is the 2017 OSCE Ministerial Council decision titled "Strengthening Efforts to Prevent Trafficking in Human Beings". MC.DEC/6/17 covers prevention of trafficking in general, and supply chains are one part of it, not its whole subject.'
MC617_WRONG = "MC.DEC/6/17 is a 2017 OSCE Ministerial Council decision that addresses trafficking in supply chains."


def test_a_decision_described_by_a_subject_its_title_does_not_name_is_flagged(tmp_path):
    briefs = copy_with(tmp_path, "mc-decisions-2017-2018-supply-chains-children.md", MC617_CORRECTED, MC617_WRONG)
    titles = write_documents(tmp_path / "ref", osce_mc_decisions_2017='Vienna, 8 December 2017: Ministerial Council Decision No. 6/17, "Strengthening Efforts to Prevent Trafficking in Human Beings".')
    assert check_briefs([KNOWLEDGE], shared_library(), titles)[0].ok
    findings = findings_for(check_briefs([briefs], shared_library(), titles), "mc-decisions-2017-2018-supply-chains-children.md")
    [finding] = [f for f in findings if f.check == "title"]
    assert "trafficking in supply chains" in finding.message and "Strengthening Efforts" in finding.message


def test_a_title_quoted_in_one_brief_is_the_reference_for_the_others(tmp_path):
    briefs = copy_with(tmp_path, "osr-model-guidelines-supply-chains-2018.md", "the supply-chain provisions of MC.DEC/6/17 (2017).", "MC.DEC/6/17 on preventing trafficking in supply chains.")
    [finding] = findings_for(check_briefs([briefs], shared_library()), "osr-model-guidelines-supply-chains-2018.md")
    assert finding.check == "title" and finding.other == "mc-decisions-2017-2018-supply-chains-children.md"


def test_a_call_attributed_to_an_event_whose_source_only_explored_the_theme_is_flagged(tmp_path):
    sources = write_documents(tmp_path / "lib", forum_press_release=(
        "VIENNA, 3 May 2023 - At the 5th Regional Forum on Labour Migration, ministers called on governments to license recruitment agencies.\n\n"
        "The need to protect domestic workers from debt bondage was also explored during the forum.\n"))
    brief = tmp_path / "brief.md"
    brief.write_text('---\ntitle: "T"\nas_of: "2023-06"\n---\n\n## Forum\n\nThe 5th Regional Forum urged governments to license recruitment agencies and to protect domestic workers from debt bondage (press release).\n', encoding="utf-8")
    [finding] = check_briefs([brief], sources)[0].findings
    assert finding.check == "source" and '"urged"' in finding.message and '"explored"' in finding.message
    assert "domestic workers from debt bondage" in finding.message and finding.other == "forum_press_release.txt"
    brief.write_text(brief.read_text(encoding="utf-8").replace(" and to protect domestic workers from debt bondage", ""), encoding="utf-8")
    assert check_briefs([brief], sources)[0].ok


MC807_SUMMARY = (
    "MC.DEC/8/07 (Madrid 2007) on combating trafficking in human beings for labour exploitation.\n\n"
    "The decision asks participating States to consider holding contractors accountable when they knowingly use subcontractors involved in trafficking. "
    "It calls on participating States to develop programmes that curb fraudulent recruitment practices, to ensure effective sanctions where employers or "
    "recruitment agencies create debt bondage, and to ensure confidential complaint procedures for workers.\n")
MC807_PUT_BACK = [p[:3] for p in PUT_BACK if len(p) == 4 and p[3] == "strength"]  # pytest.param entries have 3 fields


def test_a_softened_commitment_is_flagged_against_its_source_even_when_both_briefs_repeat_it(tmp_path):
    sources = write_documents(tmp_path / "ref", mc_dec_8_07_summary=MC807_SUMMARY)
    assert all(r.ok for r in check_briefs([KNOWLEDGE], shared_library(), sources))
    briefs = copy_with(tmp_path, *MC807_PUT_BACK[0])
    (brief, corrected, wrong) = MC807_PUT_BACK[1]
    (briefs / brief).write_text((briefs / brief).read_text(encoding="utf-8").replace(corrected, wrong), encoding="utf-8")
    reports = check_briefs([briefs], shared_library(), sources)
    for name, _, _ in MC807_PUT_BACK:
        sourced = [f for f in findings_for(reports, name) if f.check == "source"]
        assert sourced and all('"calls on"' in f.message and f.other == "mc_dec_8_07_summary.txt" for f in sourced)


EU_CORRECTED = "in Strasbourg on 23 April 2024"
EU_WRONG = "on 22 April 2024"


def test_a_date_is_flagged_against_a_source_when_no_other_brief_repeats_it(tmp_path):
    briefs = copy_with(tmp_path, "eu-directive-2011-36-and-2024-revision.md", EU_CORRECTED, EU_WRONG)
    demand = briefs / "prevention-demand.md"
    demand.write_text(demand.read_text(encoding="utf-8").replace("by the European Parliament on 23 April 2024", "by the European Parliament in April 2024"), encoding="utf-8")
    sources = write_documents(tmp_path / "ref", eucrim="The European Parliament adopted the revised directive on 23 April 2024 in Strasbourg, with 563 votes in favour.")
    findings = findings_for(check_briefs([briefs], shared_library(), sources), "eu-directive-2011-36-and-2024-revision.md")
    assert [f.other for f in findings if f.check == "date"] == ["eucrim.txt"]


@needs_reference
def test_the_reference_facts_catch_the_softened_commitments_and_the_date(tmp_path):
    briefs = copy_with(tmp_path, *MC807_PUT_BACK[0])
    for brief, corrected, wrong in MC807_PUT_BACK[1:] + [("eu-directive-2011-36-and-2024-revision.md", EU_CORRECTED, EU_WRONG), ("prevention-demand.md", "on 23 April 2024", "in April 2024")]:
        (briefs / brief).write_text((briefs / brief).read_text(encoding="utf-8").replace(corrected, wrong), encoding="utf-8")
    reports = check_briefs([briefs], shared_library(), library_from_paths([REFERENCE]))
    for name, check in [(MC807_PUT_BACK[0][0], "source"), (MC807_PUT_BACK[1][0], "source"), ("eu-directive-2011-36-and-2024-revision.md", "date")]:
        assert any(f.check == check and f.other == "thb-facts.md" for f in findings_for(reports, name)), name


def test_cli_reads_reference_facts_for_titles_but_not_for_copied_wording(tmp_path):
    briefs = copy_with(tmp_path, "mc-decisions-2017-2018-supply-chains-children.md", MC617_CORRECTED, MC617_WRONG)
    facts = tmp_path / "facts.md"
    facts.write_text('1. Ministerial Council Decision No. 6/17 (Vienna 2017), "Strengthening Efforts to Prevent Trafficking in Human Beings", covers prevention. — mc-dec-6-17.txt\n', encoding="utf-8")
    args = ["check-briefs", str(briefs / "mc-decisions-2017-2018-supply-chains-children.md"), "--library", str(tmp_path / "knowledge"), "--json"]
    assert CliRunner().invoke(app, args).exit_code == 0
    flagged = CliRunner().invoke(app, args + ["--reference", str(facts)])
    assert flagged.exit_code == 1, flagged.output
    [report] = json.loads(flagged.output)["briefs"]
    assert [f["check"] for f in report["findings"]] == ["title"] and report["findings"][0]["other"] == "facts.md"
