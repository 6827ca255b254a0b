"""Presenting an eval report: a console table, Markdown, self-contained HTML and PNG plots.

Only formatting lives here; the numbers come from `evals.runner`. The HTML embeds its plots
as base64 so the file can be mailed or attached to a CI run on its own.
"""

from __future__ import annotations

import base64
import html
from io import BytesIO
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from evals.metrics import METRICS, METRICS_BY_NAME, missing_strings

PLOTS = {"metrics": "metrics.png", "latency": "latency.png", "risk_coverage": "risk-coverage.png"}
EXCERPT_CHARS = 300


def format_value(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f}" if not METRICS_BY_NAME[name].unit_interval else f"{value:.3f}"


def _label(name: str) -> str:
    return f"{name} {'↑' if METRICS_BY_NAME[name].higher_is_better else '↓'}"


def _systems(report: dict[str, Any]) -> list[str]:
    return list(report["systems"])


# -- console ---------------------------------------------------------------------------------
def render_console(report: dict[str, Any], console: Console) -> None:
    """The metrics table (one column per system) and the failing question ids."""
    systems = _systems(report)
    table = Table(title=f"{report['n_questions']} questions, k={report['k']} ({Path(report['dataset']).name})")
    table.add_column("metric")
    for system in systems:
        table.add_column(system, justify="right")
    for metric in METRICS:
        table.add_row(_label(metric.name), *(format_value(metric.name, report["systems"][s].get(metric.name)) for s in systems))
    console.print(table)
    failures = report.get("failures", [])
    if failures:
        console.print(f"[yellow]{len(failures)} beacon failures:[/] " + ", ".join(failures), highlight=False)
    else:
        console.print("[green]No beacon failures.[/]")


# -- plots -----------------------------------------------------------------------------------
def _png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def metrics_plot(report: dict[str, Any]) -> bytes:
    """Grouped bars of the [0, 1] metrics, one colour per system."""
    from matplotlib.figure import Figure

    names = [m.name for m in METRICS if m.unit_interval]
    systems = _systems(report)
    figure = Figure(figsize=(9, 4))
    axes = figure.add_subplot()
    width = 0.8 / max(len(systems), 1)
    for i, system in enumerate(systems):
        values = [report["systems"][system].get(n) for n in names]
        positions = [x + (i - (len(systems) - 1) / 2) * width for x in range(len(names))]
        axes.bar(positions, [v if v is not None else 0.0 for v in values], width, label=system)
    axes.set_xticks(range(len(names)), [_label(n) for n in names], rotation=30, ha="right")
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("score")
    axes.set_title("Metrics per system (n/a plotted as 0)")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def latency_plot(latencies: dict[str, list[float]]) -> bytes:
    """Histogram of per-question end-to-end latency for each system."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    every = [v for values in latencies.values() for v in values]
    low, high = (min(every), max(every)) if every else (0.0, 0.0)
    # Systems differ by orders of magnitude (BM25 alone takes ~1 ms), so spread bins logarithmically.
    logarithmic = low > 0 and high / low > 20
    if logarithmic:
        bins = [low * (high / low) ** (i / 30) for i in range(31)]
        axes.set_xscale("log")
    else:
        bins = 20 if high > low else 1
    for system, values in latencies.items():
        if values:
            axes.hist(values, bins=bins, alpha=0.55, label=system)
    axes.set_xlabel("latency per question (ms" + (", log scale)" if logarithmic else ")"))
    axes.set_ylabel("questions")
    axes.set_title("Latency")
    axes.legend()
    return _png(figure)


def risk_coverage_plot(report: dict[str, Any]) -> bytes | None:
    """Beacon's answer quality against the share of questions answered, over its refusal
    threshold, with the shipped operating point marked; None without a confidence."""
    curve = report.get("risk_coverage") or {}
    points = curve.get("points") or []
    if not points:
        return None
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    axes.plot([p[0] for p in points], [p[1] for p in points], label="beacon, every threshold")
    if curve.get("operating_point"):
        x, y = curve["operating_point"]
        axes.scatter([x], [y], color="crimson", zorder=3, label=f"as shipped ({x:.2f} answered, quality {y:.2f})")
    answerable = report["n_answerable"] / max(report["n_questions"], 1)
    axes.axvline(answerable, color="grey", linestyle=":", label=f"share answerable ({answerable:.2f})")
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("share of questions answered (coverage)")
    axes.set_ylabel("containment of the answered (unanswerable answered = 0)")
    area = report["systems"].get("beacon", {}).get("risk_coverage_area")
    axes.set_title("Risk-coverage" + (f" (area {area:.3f})" if area is not None else ""))
    axes.legend(loc="lower left", fontsize=8)
    axes.grid(alpha=0.3)
    return _png(figure)


# -- files -----------------------------------------------------------------------------------
def write_reports(report: dict[str, Any], results: dict[str, list[dict[str, Any]]], out_dir: Path) -> dict[str, Path]:
    """Write report.md, report.html and the PNG plots into `out_dir`; return their paths."""
    pngs = {
        "metrics": metrics_plot(report),
        "latency": latency_plot({s: [row["scores"]["latency_ms"] for row in rows] for s, rows in results.items()}),
        "risk_coverage": risk_coverage_plot(report),
    }
    pngs = {key: data for key, data in pngs.items() if data is not None}
    paths = {}
    for key, data in pngs.items():
        paths[key] = out_dir / PLOTS[key]
        paths[key].write_bytes(data)
    beacon_rows = {row["id"]: row for row in results.get("beacon", [])}
    paths["markdown"] = out_dir / "report.md"
    paths["markdown"].write_text(markdown(report, beacon_rows), encoding="utf-8")
    paths["html"] = out_dir / "report.html"
    paths["html"].write_text(html_report(report, beacon_rows, pngs), encoding="utf-8")
    return paths


def _failure_lines(report: dict[str, Any], rows: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(id, question, what went wrong) for each failing beacon question."""
    out = []
    for qid in report.get("failures", []):
        row = rows.get(qid, {})
        if not row.get("answerable", True):
            problem = "unanswerable but answered: " + _excerpt(row.get("answer", ""))
        elif row.get("refused"):
            problem = "answerable but refused: " + (row.get("refusal_reason") or "")
        else:
            missing = missing_strings(row.get("expected_answer_contains", []), row.get("answer", ""))
            problem = "missing " + ", ".join(f"“{w}”" for w in missing) + " in: " + _excerpt(row.get("answer", ""))
        out.append((qid, row.get("question", ""), problem))
    return out


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def markdown(report: dict[str, Any], rows: dict[str, dict[str, Any]]) -> str:
    systems = _systems(report)
    lines = [
        "# Beacon evaluation",
        "",
        f"Dataset `{report['dataset']}`: {report['n_questions']} questions ({report['n_answerable']} answerable, "
        f"{report['n_unanswerable']} unanswerable); k = {report['k']}; answerer `{report['answerer']}`.",
        "",
        "| metric | " + " | ".join(systems) + " |",
        "|---|" + "---:|" * len(systems),
    ]
    for metric in METRICS:
        lines.append(f"| {_label(metric.name)} | " + " | ".join(format_value(metric.name, report["systems"][s].get(metric.name)) for s in systems) + " |")
    lines += ["", f"![metrics]({PLOTS['metrics']})", f"![latency]({PLOTS['latency']})"]
    if (report.get("risk_coverage") or {}).get("points"):
        lines += [f"![risk-coverage]({PLOTS['risk_coverage']})"]
    lines += ["", "## Metrics", ""]
    lines += [f"- **{name}**: {definition}" for name, definition in report["metric_definitions"].items()]
    lines += ["", "## Systems", ""]
    lines += [f"- **{name}**: {description}" for name, description in report["system_descriptions"].items()]
    if report.get("by_language"):
        names = [m.name for m in METRICS]
        lines += ["", "## Beacon by language", "", "| lang | n | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
        for lang, values in report["by_language"].items():
            lines.append(f"| {lang} | {values['n_questions']} | " + " | ".join(format_value(n, values.get(n)) for n in names) + " |")
    lines += ["", f"## Beacon failures ({len(report.get('failures', []))})", ""]
    failures = _failure_lines(report, rows)
    lines += [f"- `{qid}` {question} — {problem}" for qid, question, problem in failures] or ["None."]
    lines += ["", "## Notes", ""] + [f"- {note}" for note in report.get("notes", [])]
    return "\n".join(lines) + "\n"


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
img { max-width: 100%; }
dt { font-weight: bold; margin-top: .5em; }
"""


def html_report(report: dict[str, Any], rows: dict[str, dict[str, Any]], pngs: dict[str, bytes]) -> str:
    esc = html.escape
    systems = _systems(report)
    head = "".join(f"<th>{esc(s)}</th>" for s in systems)
    body = "".join(
        f"<tr><td>{esc(_label(m.name))}</td>"
        + "".join(f'<td class="num">{format_value(m.name, report["systems"][s].get(m.name))}</td>' for s in systems)
        + "</tr>"
        for m in METRICS
    )
    images = "".join(f'<img alt="{key}" src="data:image/png;base64,{base64.b64encode(data).decode()}">' for key, data in pngs.items())
    definitions = "".join(f"<dt>{esc(n)}</dt><dd>{esc(d)}</dd>" for n, d in report["metric_definitions"].items())
    descriptions = "".join(f"<dt>{esc(n)}</dt><dd>{esc(d)}</dd>" for n, d in report["system_descriptions"].items())
    language = ""
    if report.get("by_language"):
        names = [m.name for m in METRICS]
        language = (
            "<h2>Beacon by language</h2><table><tr><th>lang</th><th>n</th>"
            + "".join(f"<th>{esc(n)}</th>" for n in names)
            + "</tr>"
            + "".join(
                f"<tr><td>{esc(lang)}</td><td class=\"num\">{v['n_questions']}</td>"
                + "".join(f'<td class="num">{format_value(n, v.get(n))}</td>' for n in names)
                + "</tr>"
                for lang, v in report["by_language"].items()
            )
            + "</table>"
        )
    failures = _failure_lines(report, rows)
    failure_items = "".join(f"<li><code>{esc(q)}</code> {esc(question)} — {esc(problem)}</li>" for q, question, problem in failures) or "<li>None.</li>"
    notes = "".join(f"<li>{esc(n)}</li>" for n in report.get("notes", []))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Beacon evaluation</title><style>{STYLE}</style></head>
<body>
<h1>Beacon evaluation</h1>
<p>Dataset <code>{esc(str(report['dataset']))}</code>: {report['n_questions']} questions ({report['n_answerable']} answerable,
{report['n_unanswerable']} unanswerable); k = {report['k']}; answerer <code>{esc(report['answerer'])}</code>.</p>
<table><tr><th>metric</th>{head}</tr>{body}</table>
{images}
<h2>Metrics</h2><dl>{definitions}</dl>
<h2>Systems</h2><dl>{descriptions}</dl>
{language}
<h2>Beacon failures ({len(failures)})</h2><ul>{failure_items}</ul>
<h2>Notes</h2><ul>{notes}</ul>
</body></html>
"""
