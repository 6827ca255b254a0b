"""`beacon check-briefs`: the shipped briefs pass, and each wrong claim found by the 2024 fact
check (issue 14) is flagged again when it is put back into a copy of the briefs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.briefcheck import check_briefs, library_from_paths
from assistant.cli import app
from assistant.errors import InvalidInput

REPO = Path(__file__).resolve().parents[1]
KNOWLEDGE = REPO / "knowledge"
SHARED = REPO.parent / "shared"
LIBRARY_DIRS = [SHARED / "corpus", SHARED / "seeds"]
needs_corpus = pytest.mark.skipif(not (SHARED / "corpus").is_dir(), reason="../shared/corpus (the treaty texts) is not next to this checkout")


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
