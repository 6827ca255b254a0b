"""Format invariance: the same library as Markdown and as realistic PDFs, the same questions.

    .venv/bin/python benchmarks/pdf_invariance.py [--limit N]

Every Markdown file of knowledge/ is typeset here as a PDF the way reports are: a running
header with the library's name, a footer "Page N of M", justified-width lines with long words
hyphenated at line ends, headings in bold, and every third document in two columns written row
by row (so text read in content-stream order would interleave the columns). Both libraries are
ingested into fresh stores and asked the golden questions (evals/golden.jsonl). Prints a table:
the share of questions with the same answer (same refusal decision and, when answered, the same
text once whitespace and citation markers are ignored), answer containment for each format, and
how many PDF answers quote header, footer or page-number text (should be 0).

Needs DejaVu Sans (Debian's fonts-dejavu-core) for the documents' non-Latin-1 characters.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
HEADER = "Reference library on trafficking in human beings"
FOOTER_RE = re.compile(r"Page \d+ of \d+")
BODY_PT, LINE_MM = 10.5, 5.0
STYLES = {"h1": ("B", 16.0, 8.0), "h2": ("B", 13.0, 6.5), "h3": ("B", BODY_PT, LINE_MM), "p": ("", BODY_PT, LINE_MM)}
TOP, BOTTOM, LEFT, WIDTH = 25.0, 272.0, 20.0, 170.0


@dataclass
class Placed:
    page: int
    column: int
    y: float
    style: str
    text: str


def blocks_of(markdown: str) -> tuple[str, list[tuple[str, str]]]:
    """(title, [(style, text)]) of a Markdown file: headings and paragraph lines, verbatim."""
    from ingest.loaders import split_front_matter

    meta, body = split_front_matter(markdown)
    blocks = []
    for line in body.splitlines():
        if not line.strip():
            continue
        heading = re.match(r"^(#{1,3})\s+(.*)$", line)
        blocks.append((f"h{len(heading.group(1))}", heading.group(2).strip()) if heading else ("p", line.strip()))
    title = str(meta.get("title") or next((t for s, t in blocks if s == "h1"), ""))
    return title, blocks


def wrap(pdf, text: str, width: float) -> list[str]:
    """Greedy line breaking; a long word that does not fit is hyphenated where it fits."""
    lines, line = [], ""
    words = text.split()
    index = 0
    while index < len(words):
        word = words[index]
        candidate = f"{line} {word}" if line else word
        if pdf.get_string_width(candidate) <= width:
            line, index = candidate, index + 1
            continue
        if line and len(word) >= 7 and word.isalpha():
            for cut in range(len(word) - 3, 2, -1):
                if pdf.get_string_width(f"{line} {word[:cut]}-") <= width:
                    lines.append(f"{line} {word[:cut]}-")
                    words[index] = word[cut:]
                    line = ""
                    break
            else:
                lines.append(line)
                line = ""
            continue
        if not line:  # a word wider than the line (a URL) is broken where it fills the line
            cut = max(1, max(n for n in range(1, len(word) + 1) if pdf.get_string_width(word[:n]) <= width))
            lines.append(word[:cut])
            words[index] = word[cut:]
            if not words[index]:
                index += 1
            continue
        lines.append(line)
        line = ""
    if line:
        lines.append(line)
    return lines


def typeset(markdown: str, two_columns: bool) -> bytes:
    from fpdf import FPDF

    title, blocks = blocks_of(markdown)

    class Report(FPDF):
        def header(self) -> None:
            self.set_font("body", "", 8)
            self.set_xy(LEFT, 10)
            self.cell(WIDTH, 4, HEADER)

        def footer(self) -> None:
            self.set_font("body", "", 8)
            self.set_xy(LEFT, 282)
            self.cell(WIDTH, 4, f"Page {self.page_no()} of {{nb}}", align="C")

    pdf = Report(format="A4")
    pdf.add_font("body", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("body", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(False)
    pdf.set_title(title)
    columns = 2 if two_columns else 1
    column_width = (WIDTH - 10) / 2 if two_columns else WIDTH
    placed: list[Placed] = []
    page, column, y = 1, 0, TOP
    for style, text in blocks:
        weight, size, height = STYLES[style]
        pdf.set_font("body", weight, size)
        y += 3.0 if style == "p" else 5.0
        for line in wrap(pdf, text, column_width):
            if y + height > BOTTOM:
                column += 1
                if column == columns:
                    page, column = page + 1, 0
                y = TOP
            placed.append(Placed(page, column, y, style, line))
            y += height
    for number in range(1, page + 1):
        pdf.add_page()
        for item in sorted((p for p in placed if p.page == number), key=lambda p: (p.y, p.column)):
            weight, size, height = STYLES[item.style]
            pdf.set_font("body", weight, size)
            pdf.set_xy(LEFT + item.column * (column_width + 10), item.y)
            pdf.cell(column_width, height, item.text)
    return bytes(pdf.output())


def flat_answer(answer) -> str:
    from evals.metrics import strip_markers

    return " ".join(strip_markers(answer.answer).split())


def main(limit: int | None) -> None:
    from assistant import Settings, build_assistant
    from evals.metrics import containment

    questions = [json.loads(line) for line in (ROOT / "evals" / "golden.jsonl").read_text().splitlines() if line.strip()]
    questions = questions[:limit] if limit else questions
    with tempfile.TemporaryDirectory() as tmp:
        folders = {"markdown": Path(tmp) / "md", "pdf": Path(tmp) / "pdf"}
        for folder in folders.values():
            folder.mkdir()
        sources = sorted((ROOT / "knowledge").glob("*.md"))
        for index, source in enumerate(sources):
            (folders["markdown"] / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
            (folders["pdf"] / f"{source.stem}.pdf").write_bytes(typeset(source.read_text(encoding="utf-8"), index % 3 == 2))
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
    same = differ = 0
    furniture = 0
    examples = []
    for q, md, pdf in zip(questions, answers["markdown"], answers["pdf"]):
        if md.refused == pdf.refused and (md.refused or flat_answer(md) == flat_answer(pdf)):
            same += 1
        else:
            differ += 1
            a, b = flat_answer(md), flat_answer(pdf)
            at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            examples.append((q["id"], f"Markdown: …{a[max(0, at - 60):at + 80]}", f"PDF:      …{b[max(0, at - 60):at + 80]}"))
        quoted = " ".join([pdf.answer] + [c.text for c in pdf.citations])
        if HEADER in quoted or FOOTER_RE.search(quoted):
            furniture += 1
    answerable = [i for i, q in enumerate(questions) if q.get("answerable", True) and q.get("expected_answer_contains")]

    def mean_containment(name: str) -> float:
        values = [containment(questions[i]["expected_answer_contains"], answers[name][i].answer) or 0.0 for i in answerable]
        return sum(values) / len(values) if values else float("nan")

    table = Table(title=f"Markdown vs typeset PDF, {len(questions)} golden questions, {len(sources)} documents")
    for column in ("measure", "value"):
        table.add_column(column)
    table.add_row("same answer", f"{same / len(questions):.3f} ({same}/{len(questions)})")
    table.add_row("answer containment, Markdown", f"{mean_containment('markdown'):.3f}")
    table.add_row("answer containment, PDF", f"{mean_containment('pdf'):.3f}")
    table.add_row("PDF answers quoting header/footer/page number", str(furniture))
    table.add_row("ingest + questions, Markdown / PDF (s)", f"{timings['markdown']:.0f} / {timings['pdf']:.0f}")
    Console().print(table)
    for example in examples[:10]:
        print("differs:", *example, sep="\n  ")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="ask only the first N golden questions")
    main(parser.parse_args().limit)
