"""Format invariance: the same library as Markdown and as realistic PDFs, the same questions.

    .venv/bin/python benchmarks/pdf_invariance.py [--set dev|golden] [--limit N] [--show N]

`--set dev` (the default) is the issue's measure: the development set's library
(../shared/corpus/*.md and ../shared/seeds/*.txt) asked the development questions
(../shared/devset/questions.jsonl). `--set golden` uses knowledge/*.md and evals/golden.jsonl.
Every Markdown file is typeset as a report PDF (benchmarks/typeset.py: running header, footer
"Page N of M", long words hyphenated at line ends, headings by type, every third document in
two columns); text files stay text in both libraries. Both libraries are ingested into fresh
stores and asked every question. Prints a table: the share of questions with the same answer
(same refusal decision and, when answered, the same text once whitespace and citation markers
are ignored), answer containment for each format, and how many PDF answers quote header,
footer or page-number text (should be 0); then where the first `--show` differing answers part.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.typeset import FOOTER_RE, HEADER, typeset  # noqa: E402

SHARED = ROOT.parent / "shared"
SETS = {
    "dev": ([SHARED / "corpus"], [SHARED / "seeds"], SHARED / "devset" / "questions.jsonl"),
    "golden": ([ROOT / "knowledge"], [], ROOT / "evals" / "golden.jsonl"),
}


def flat_answer(answer) -> str:
    from evals.metrics import strip_markers

    return " ".join(strip_markers(answer.answer).split())


def same_answer(a, b) -> bool:
    return a.refused == b.refused and (a.refused or flat_answer(a) == flat_answer(b))


def quotes_furniture(answer) -> bool:
    quoted = " ".join([answer.answer] + [c.text for c in answer.citations] + [s.quote or "" for s in answer.sentences])
    return HEADER in quoted or bool(FOOTER_RE.search(quoted))


def build_libraries(markdown_dirs: list[Path], text_dirs: list[Path], into: Path) -> dict[str, Path]:
    """Two folders under `into`: the Markdown files (and text files) as they are, and the same
    with each Markdown file typeset as a PDF (every third in two columns)."""
    folders = {"markdown": into / "md", "pdf": into / "pdf"}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(p for d in markdown_dirs for p in d.glob("*.md"))
    for index, source in enumerate(sources):
        text = source.read_text(encoding="utf-8")
        (folders["markdown"] / source.name).write_text(text, encoding="utf-8")
        (folders["pdf"] / f"{source.stem}.pdf").write_bytes(typeset(text, two_columns=index % 3 == 2))
    for path in sorted(p for d in text_dirs for p in d.glob("*.txt")):
        for folder in folders.values():
            (folder / path.name).write_bytes(path.read_bytes())
    return folders


def main(which: str, limit: int | None, show: int) -> None:
    from assistant import Settings, build_assistant
    from evals.metrics import containment

    markdown_dirs, text_dirs, question_file = SETS[which]
    questions = [json.loads(line) for line in question_file.read_text().splitlines() if line.strip()]
    questions = questions[:limit] if limit else questions
    with tempfile.TemporaryDirectory() as tmp:
        folders = build_libraries(markdown_dirs, text_dirs, Path(tmp))
        answers: dict[str, list] = {}
        timings = {}
        for name, folder in folders.items():
            started = time.perf_counter()
            beacon = build_assistant(Settings(data_dir=Path(tmp) / f"data-{name}"))
            reports = beacon.ingest([str(folder)])
            failed = [r for r in reports if r.error]
            if failed:
                raise SystemExit(f"{name}: {len(failed)} documents failed: {failed[0].error}")
            answers[name] = [beacon.ask(q["question"]) for q in questions]
            timings[name] = time.perf_counter() - started
            documents = len(reports)
    same = sum(same_answer(md, pdf) for md, pdf in zip(answers["markdown"], answers["pdf"]))
    furniture = sum(quotes_furniture(pdf) for pdf in answers["pdf"])
    answerable = [i for i, q in enumerate(questions) if q.get("answerable", True) and q.get("expected_answer_contains")]

    def mean_containment(name: str) -> float:
        values = [containment(questions[i]["expected_answer_contains"], answers[name][i].answer) or 0.0 for i in answerable]
        return sum(values) / len(values) if values else float("nan")

    table = Table(title=f"Markdown vs typeset PDF ({which}): {len(questions)} questions, {documents} documents")
    for column in ("measure", "value"):
        table.add_column(column)
    table.add_row("same answer", f"{same / len(questions):.3f} ({same}/{len(questions)})")
    table.add_row("answer containment, Markdown", f"{mean_containment('markdown'):.3f}")
    table.add_row("answer containment, PDF", f"{mean_containment('pdf'):.3f}")
    table.add_row("refused, Markdown / PDF", f"{sum(a.refused for a in answers['markdown'])} / {sum(a.refused for a in answers['pdf'])}")
    table.add_row("PDF answers quoting header/footer/page number", str(furniture))
    table.add_row("ingest + questions, Markdown / PDF (s)", f"{timings['markdown']:.0f} / {timings['pdf']:.0f}")
    Console().print(table)
    shown = 0
    for q, md, pdf in zip(questions, answers["markdown"], answers["pdf"]):
        if same_answer(md, pdf) or shown >= show:
            continue
        shown += 1
        a, b = flat_answer(md), flat_answer(pdf)
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        print(f"differs: {q['id']} {q['question']}")
        print(f"  Markdown{' (refused)' if md.refused else ''}: …{a[max(0, at - 80):at + 160]}")
        print(f"  PDF{' (refused)' if pdf.refused else ''}:      …{b[max(0, at - 80):at + 160]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="which", choices=sorted(SETS), default="dev", help="dev: corpus + seeds, devset questions; golden: knowledge/, golden.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="ask only the first N questions")
    parser.add_argument("--show", type=int, default=10, help="print where the first N differing answers part")
    args = parser.parse_args()
    main(args.which, args.limit, args.show)
