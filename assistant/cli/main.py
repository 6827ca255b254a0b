"""`beacon`: a thin command line over the Python API. It parses, calls the core, formats.

Exit codes: 0 success, 1 some documents failed to ingest or an eval gate failed,
2 usage or configuration error, 3 store error (mismatch, lock, unreachable server),
4 not found.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.panel import Panel
from rich.table import Table

from assistant.cli.admin import feedback_app, users_app
from assistant.cli.common import EXIT_CODES, State, console, err_console, fail, get_assistant, get_settings, print_json  # noqa: F401 - shared by the commands
from assistant.cli.models import models_app
from assistant.domain.errors import BeaconError, InvalidInput

app = typer.Typer(help="Beacon: grounded, cited answers on trafficking-prevention guidance.", no_args_is_help=True, add_completion=False)
docs_app = typer.Typer(help="List, review, trust or remove documents in the library.", no_args_is_help=True)
app.add_typer(docs_app, name="docs")
app.add_typer(users_app, name="users")
app.add_typer(feedback_app, name="feedback")
app.add_typer(models_app, name="models")

@app.callback()
def main_options(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", envvar="BEACON_DATA_DIR", help="Folder of the library (Chroma store and indexes)."),
) -> None:
    State.data_dir = data_dir
    State.assistant = None


MULTILINGUAL_AT_INGEST = 5000  # new chunks `beacon ingest` embeds with e5 itself (~12 min on 2 cores)


@app.command()
def ingest(
    sources: list[str] = typer.Argument(None, help="Files, folders (recursive) or http(s) URLs."),
    manifest: Optional[Path] = typer.Option(
        None, "--manifest", help="A sources.toml listing documents to fetch and ingest, with their status, supersedes, amends, valid_from and collections if it states them.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Add or update documents (PDF, DOCX, HTML, Markdown, text, URLs) in the library, then embed
    up to 5,000 new chunks into the multilingual index (more are left to `beacon serve`)."""
    inputs, stated = list(sources or []), {}
    try:
        if manifest is not None:
            from ingest.manifest import manifest_urls, manifest_versions

            inputs += manifest_urls(manifest)
            stated = manifest_versions(manifest)
        if not inputs:
            raise InvalidInput("Nothing to ingest: give files, folders or URLs (or --manifest FILE).")
        beacon = get_assistant()
        if as_json:
            reports = beacon.ingest(inputs, stated=stated)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console, transient=True) as progress:
                task = progress.add_task("Ingesting", total=None)

                def on_progress(done: int, total: int, report) -> None:
                    progress.update(task, completed=done, total=total, description=f"Ingesting {Path(report.source).name[:40]}")

                reports = beacon.ingest(inputs, on_progress, stated=stated)
        # The multilingual index (questions in other languages, and one more vote for English
        # ones) follows the library: its new chunks are embedded now rather than at the first question.
        if as_json:
            left = beacon.refresh_multilingual_index(MULTILINGUAL_AT_INGEST)
        else:
            with err_console.status("Updating the multilingual index (new chunks only)…"):
                left = beacon.refresh_multilingual_index(MULTILINGUAL_AT_INGEST)
            if left:
                err_console.print(
                    f"{left} chunks are not in the multilingual index yet (over {MULTILINGUAL_AT_INGEST} at ~7 a second): "
                    "`beacon serve` builds it in the background; until then other languages wait for it and English questions go without its vote."
                )
    except BeaconError as exc:
        fail(exc)
    if as_json:
        print_json({"documents": [r.model_dump() for r in reports]})
    else:
        table = Table("status", "document", "chunks", "detail")
        colors = {"added": "green", "updated": "cyan", "unchanged": "dim", "failed": "red"}
        for r in reports:
            table.add_row(f"[{colors[r.status]}]{r.status}[/]", r.title or r.source, str(r.chunks), r.error or r.source)
        console.print(table)
        counts = {s: sum(r.status == s for r in reports) for s in colors}
        console.print(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing ingested")
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(1)


@docs_app.command("list")
def docs_list(as_json: bool = typer.Option(False, "--json", help="Print the list as JSON.")) -> None:
    """Show the documents in the library with their chunk counts."""
    try:
        documents = get_assistant().list_documents()
    except BeaconError as exc:
        fail(exc)
    if as_json:
        print_json({"documents": [d.model_dump() for d in documents]})
        return
    table = Table("doc_id", "title", "type", "year", "status", "chunks", "flagged", "trusted", "source")
    for d in documents:
        flagged = f"[red]{d.flagged}[/]" if d.flagged and not d.trusted else str(d.flagged or "")
        status = "" if d.status == "in_force" else d.status
        table.add_row(d.doc_id, d.title[:60], d.doc_type, str(d.year or ""), status, str(d.chunks), flagged, "yes" if d.trusted else "", d.source)
    console.print(table)
    flagged = sum(d.flagged for d in documents)
    review = f"; {flagged} flagged passages (`beacon docs show DOC_ID`)" if flagged else ""
    console.print(f"{len(documents)} documents, {sum(d.chunks for d in documents)} chunks{review}", highlight=False, soft_wrap=True)


@docs_app.command("show")
def docs_show(
    doc_id: str = typer.Argument(..., metavar="DOC_ID"),
    as_json: bool = typer.Option(False, "--json", help="Print the document and its flagged passages as JSON."),
) -> None:
    """Show a document's metadata and the passages flagged at ingest as possibly poisoned
    (instructions to avoid the police, pay a fee, call a number, or to the assistant), for review."""
    try:
        beacon = get_assistant()
        passages = beacon.flagged_passages(doc_id)
        document = next((d for d in beacon.list_documents() if d.doc_id == doc_id), None)
    except BeaconError as exc:
        fail(exc)
    rows = [{"position": p.get("position"), "locator": p.get("locator", ""), "flags": p["flags"].split(","), "reasons": p["reasons"], "text": p["text"]} for p in passages]
    if as_json:
        print_json({"document": document.model_dump() if document else None, "flagged": rows})
        return
    if document is not None:
        console.print(f"{document.title}\n{document.doc_id} · {document.source} · {document.chunks} chunks · {'trusted' if document.trusted else 'not trusted'}", highlight=False, soft_wrap=True)
    if not rows:
        console.print("No passage is flagged.")
        return
    verdict = "quoted: the document is trusted" if document and document.trusted else "never quoted in answers unless you trust the document (`beacon docs trust DOC_ID`)"
    console.print(f"{len(rows)} flagged passages, {verdict}:", highlight=False, soft_wrap=True)
    for row in rows:
        console.print(f"\n#{row['position']} {row['locator']}".rstrip(), *(f"  flagged {reason}" for reason in row["reasons"]), sep="\n", highlight=False, soft_wrap=True)
        console.print(Panel(row["text"]), highlight=False)


@docs_app.command("set")
def docs_set(
    doc_id_or_source: str = typer.Argument(..., metavar="DOC_ID_OR_SOURCE", help="A doc_id, a source, or the folder documents were ingested from."),
    status: Optional[str] = typer.Option(None, "--status", help="in_force, superseded or historical."),
    supersedes: Optional[str] = typer.Option(None, "--supersedes", help="Doc ids or symbols (comma-separated) of the texts it replaces."),
    amends: Optional[str] = typer.Option(None, "--amends", help="Doc ids or symbols (comma-separated) of the texts it changes."),
    valid_from: Optional[str] = typer.Option(None, "--valid-from", help="When it took effect: YYYY, YYYY-MM or YYYY-MM-DD."),
    collection: list[str] = typer.Option([], "--collection", help="Put it in this collection (repeatable; replaces its collections)."),
) -> None:
    """Say how documents relate in time (status, supersedes, amends, valid from) or which
    collections they belong to, as front matter, the sources manifest and the Library tab do.
    Kept when the document is ingested again (its front matter wins)."""
    fields = {"status": status, "supersedes": supersedes, "amends": amends, "valid_from": valid_from, "collections": collection or None}
    try:
        changes = get_assistant().set_document(doc_id_or_source, {k: v for k, v in fields.items() if v is not None})
    except BeaconError as exc:
        fail(exc)
    changed = sum(c for _, c in changes)
    console.print(f"Updated {changed} documents ({len(changes) - changed} already were so): {', '.join(d for d, _ in changes)}.", highlight=False, soft_wrap=True)


@docs_app.command("collections")
def docs_collections(as_json: bool = typer.Option(False, "--json", help="Print the collections as JSON.")) -> None:
    """List the collections and their documents (`ask --collection NAME` limits an answer to one)."""
    try:
        collections = get_assistant().collections()
    except BeaconError as exc:
        fail(exc)
    if as_json:
        print_json({"collections": collections})
        return
    if not collections:
        console.print("No collections yet: `beacon docs set DOC_ID --collection NAME` makes one.")
    for name, members in collections.items():
        console.print(f"[bold]{name}[/] ({len(members)}): {', '.join(members)}", highlight=False, soft_wrap=True)


@docs_app.command("trust")
def docs_trust(
    doc_id_or_source: str = typer.Argument(..., metavar="DOC_ID_OR_SOURCE", help="A doc_id, a source, or the folder documents were ingested from."),
    untrust: bool = typer.Option(False, "--untrust", help="Withdraw the trust: flagged passages are left out of answers again."),
) -> None:
    """Vouch for documents: their flagged passages (phone numbers, payments, instructions) may be
    quoted in answers. Kept when the document is ingested again."""
    try:
        changes = get_assistant().set_trusted(doc_id_or_source, not untrust)
    except BeaconError as exc:
        fail(exc)
    state = "untrusted" if untrust else "trusted"
    changed = sum(c for _, c in changes)
    console.print(f"Marked {changed} documents {state} ({len(changes) - changed} already were): {', '.join(d for d, _ in changes)}.", highlight=False, soft_wrap=True)


@docs_app.command("remove")
def docs_remove(doc_id_or_source: str = typer.Argument(..., metavar="DOC_ID_OR_SOURCE")) -> None:
    """Delete a document (by id or by the source it was ingested from) and all its chunks."""
    try:
        removed, chunks = get_assistant().remove_document(doc_id_or_source)
    except BeaconError as exc:
        fail(exc)
    console.print(f"Removed {removed} ({chunks} chunks).")


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question, in quotes."),
    as_json: bool = typer.Option(False, "--json", help="Print the full answer as JSON."),
    k: Optional[int] = typer.Option(None, "--k", help="Chunks to retrieve (default BEACON_TOP_K)."),
    source: Optional[str] = typer.Option(None, "--source", help="Only use this source (as listed by `docs list`)."),
    doc_type: Optional[str] = typer.Option(None, "--doc-type", help="Only use documents of this type."),
    year: Optional[int] = typer.Option(None, "--year", help="Only use documents of this year."),
    collection: Optional[str] = typer.Option(None, "--collection", help="Only use the documents of this collection (`docs collections`)."),
) -> None:
    """Ask a question; the answer cites the library or says it cannot answer. A quoted text
    that a newer document amends or supersedes is flagged ("Note on dates") and the newer
    text on the same point is quoted too, unless the question asks about a time."""
    try:
        answer = get_assistant().ask(question, k=k, filters={"source": source, "doc_type": doc_type, "year": year, "collection": collection})
    except BeaconError as exc:
        fail(exc)
    if as_json:
        print_json(answer.model_dump())
        return
    if answer.referral is not None:
        from assistant.answering.referral import format_referral

        console.print(Panel(format_referral(answer.referral), title="Get help now", border_style="red"), highlight=False)
    style = "yellow" if answer.refused else "default"
    console.print(answer.answer, style=style, highlight=False)
    if answer.citations:
        console.print("\n[bold]Sources[/]")
        for c in answer.citations:
            place = (f", {c.locator}" if c.locator else "") + (f" ({c.date})" if c.date else "")
            link = f" — {c.url or c.source}"
            console.print(f"[{c.n}] {c.title}{place}{link}", highlight=False)


@app.command("show")
def show(
    doc_id: str = typer.Argument(..., metavar="DOC_ID", help="A doc_id from `docs list` or a citation."),
    page: Optional[int] = typer.Option(None, "--page", help="Show this page of a PDF."),
    span: Optional[str] = typer.Option(None, "--span", metavar="START:END", help="Show these characters of the stored text (a citation's char_start:char_end)."),
    as_json: bool = typer.Option(False, "--json", help="Print the passage (with its context) as JSON."),
) -> None:
    """Print a passage of a document as Beacon stored it: where a citation points (--span), a
    page (--page), or the whole extracted text."""
    try:
        if page is not None and span is not None:
            raise InvalidInput("Give --page or --span, not both.")
        bounds = None
        if span is not None:
            start, sep, end = span.partition(":")
            if not sep or not start.strip().isdigit() or not end.strip().isdigit():
                raise InvalidInput(f"--span takes START:END character offsets (e.g. 1200:1340), not {span!r}.")
            bounds = (int(start), int(end))
        passage = get_assistant().passage(doc_id, page=page, span=bounds)
    except BeaconError as exc:
        fail(exc)
    if as_json:
        print_json(passage.model_dump())
        return
    where = f"p. {passage.page}, " if passage.page is not None else ""
    console.print(f"[bold]{passage.title}[/] — {passage.source}\n{passage.doc_id}, {where}characters {passage.char_start}:{passage.char_end}", highlight=False, soft_wrap=True)
    if page is None and span is None:
        console.print(passage.text, highlight=False, soft_wrap=True, markup=False)
        return
    from rich.text import Text

    shown = Text("…" if passage.before else "", style="dim")
    shown.append(passage.before, style="dim")
    shown.append(passage.text, style="bold reverse" if span is not None else "")
    shown.append(passage.after, style="dim")
    shown.append("…" if passage.after else "", style="dim")
    console.print(shown, soft_wrap=True)


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", help="Port (default 7860)."),
) -> None:
    """Serve the chat UI in the browser."""
    try:
        beacon = get_assistant()
        if beacon.embedder.needs_export():
            err_console.print(f"Exporting the embedding model to ONNX into {beacon.settings.cache_dir} (once per machine, ~15 s) …")
        import ui

        ui.serve(beacon, host=host or beacon.settings.host, port=port or beacon.settings.port)
    except BeaconError as exc:
        fail(exc)


@app.command("eval")
def eval_command(
    dataset: Optional[Path] = typer.Argument(None, help="JSONL dataset (default: evals/golden.jsonl)."),
    out: Path = typer.Option(Path("evals/out"), "--out", help="Folder for results.jsonl and the reports."),
    k: Optional[int] = typer.Option(None, "--k", help="Chunks to retrieve per question."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    baselines: bool = typer.Option(False, "--baselines", help="Also run the BM25-only and naive dense baselines."),
    fail_under: list[str] = typer.Option([], "--fail-under", help="metric=value; exit 1 when the metric is worse: below the value, or above it for lower-is-better metrics (false_refusal_rate, latency). Repeatable."),
    collection: Optional[str] = typer.Option(None, "--collection", help="Ask every question of this collection's documents only."),
) -> None:
    """Run an evaluation dataset against the current library and write results and reports."""
    from evals.runner import check_gates, default_dataset, parse_gate, run_eval

    try:
        for spec in fail_under:  # a typo in a gate must not cost a whole run
            parse_gate(spec)
        report = run_eval(get_assistant(), dataset or default_dataset(), out, k=k, baselines=baselines, collection=collection)
        failures = check_gates(report, fail_under)
    except BeaconError as exc:
        fail(exc)
    if as_json:
        print_json(report)
    else:
        from evals.report import render_console

        render_console(report, console)
        console.print(f"Results and reports written to {out}/")
    for message in failures:
        err_console.print(f"[bold red]Gate failed:[/] {message}")
    if failures:
        raise typer.Exit(1)


@app.command("check-briefs")
def check_briefs_command(
    paths: list[Path] = typer.Argument(..., help="Brief files (.md) or folders of briefs."),
    library: list[Path] = typer.Option([], "--library", help="Folder or file of documents to compare with (default: the current library plus ../shared/corpus when present). Repeatable."),
    reference: list[Path] = typer.Option([], "--reference", help="File or folder of reference facts with their sources (e.g. ../shared/reference/thb-facts.md): compared for dates, titles and what a source says an event or decision did, not for copied wording. Repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print the reports as JSON."),
) -> None:
    """Check briefs before adding them: copied wording, article strength, timing and scope, as_of, titles, what sources say, figures and dates."""
    from rich.markup import escape

    from assistant.library.briefcheck import check_briefs, library_from_assistant, library_from_paths

    try:
        documents = library_from_paths(library) if library else library_from_assistant(get_assistant(), [Path("../shared/corpus")])
        reports = check_briefs(paths, documents, library_from_paths(reference) if reference else [])
    except BeaconError as exc:
        fail(exc)
    if as_json:
        print_json({"briefs": [r.to_dict() for r in reports], "flagged": sum(not r.ok for r in reports)})
    else:
        for r in reports:
            console.print(f"[green]ok[/] {r.brief}" if r.ok else f"[red]{len(r.findings)} to check[/] {r.brief}", highlight=False)
            for f in r.findings:
                console.print(f"  line {f.line} [bold]{f.check}[/]: {escape(f.message)}\n    {escape(f.excerpt)}", highlight=False)
    if any(not r.ok for r in reports):
        raise typer.Exit(1)


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()


if __name__ == "__main__":
    main()
