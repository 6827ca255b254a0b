"""What the web UI shows: the core's answers, documents and reports as HTML or table rows.

Pure functions of their arguments: no Gradio events, no calls into the core. Text from
documents and answers is escaped before it is rendered (`escape_text` for Markdown contexts,
`html_text` inside HTML blocks), so a title or a chunk can never become markup.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from assistant.answering.timeline import DATE_NOTE
from assistant.domain.models import Answer, Citation, DocumentSummary, IngestReport
from assistant.domain.poison import FLAGS_FIELD, flag_reasons

SOURCES_PLACEHOLDER = "<p class='beacon-muted'>Sources of the latest answer appear here; click a [n] marker in an answer to jump to its source.</p>"
SEARCHING = "<em class='beacon-muted'>Searching the library…</em>"
MAX_PREVIEW_CHUNKS = 60
DOC_HEADERS = ["title", "type", "year", "status", "chunks", "format", "source", "ingested", "review", "doc_id"]
WHOLE_LIBRARY = "Whole library"  # the chat's collection picker: no collection
STATUS_HEADERS = ["status", "document", "chunks", "detail"]


# -- text ---------------------------------------------------------------------------------------
def escape_text(text: str) -> str:
    """Plain text safe for Markdown rendering: HTML is escaped, Markdown links are kept inert."""
    return html.escape(text or "", quote=False).replace("[", "\\[").replace("]", "\\]")


def html_text(text) -> str:
    """Text for an HTML context (attribute-safe); used inside one-line HTML blocks."""
    return html.escape(str(text if text is not None else ""), quote=True)


def html_lines(text: str) -> str:
    """Escaped text with line breaks, on one line, so Markdown leaves the HTML block alone."""
    return "<br>".join(html_text(line) for line in (text or "").splitlines())


def display_source(source: str) -> str:
    """How a source is named to readers: URLs as they are, local files by their file name only."""
    if source.startswith(("http://", "https://")):
        return source
    return re.split(r"[\\/]", source)[-1] or source


def source_link(url: str, source: str) -> str:
    """An anchor for http(s) links only; anything else (a server path) is shown by file name."""
    link = url or source
    if link.startswith(("http://", "https://")):
        return f'<a href="{html_text(link)}" target="_blank" rel="noopener noreferrer">{html_text(link)}</a>'
    return f"<code>{html_text(display_source(link))}</code>"


def highlight(snippet: str, sentences: list[str]) -> str:
    """Escaped snippet (one line, <br> for breaks) with the quoted sentences in <mark>."""
    escaped = html_lines(snippet)
    for sentence in sentences:
        words = [re.escape(html_text(w)) for w in sentence.split()]
        if not words:
            continue
        pattern = r"(?:\s|<br>)+".join(words)
        escaped = re.sub(pattern, lambda m: f"<mark>{m.group(0)}</mark>", escaped, count=1)
    return escaped


# -- chat ---------------------------------------------------------------------------------------
def format_referral_card(answer: Answer) -> str:
    """The safety card, shown above the answer when the question discloses danger."""
    r = answer.referral
    if r is None:
        return ""
    where = f" ({html_text(r.country)})" if r.country else " (EU-wide emergency number)"
    hotline = f"<p><strong>{html_text(r.hotline_name or 'Anti-trafficking hotline')}:</strong> {html_text(r.hotline)}</p>" if r.hotline else ""
    steps = "".join(f"<li>{html_text(step)}</li>" for step in r.what_to_do)
    return (
        '<div class="beacon-referral" role="alert"><p class="beacon-referral-title">🆘 If you are in danger now, call '
        f"<strong>{html_text(r.emergency)}</strong>{where}.</p>{hotline}<ul>{steps}</ul></div>"
    )


def format_answer(answer: Answer, turn: int = 0) -> str:
    """The chat bubble: the safety card if any, then answer sentences with [n] markers linking
    to the sources panel."""
    return format_referral_card(answer) + format_answer_body(answer, turn)


def format_answer_body(answer: Answer, turn: int) -> str:
    if answer.refused:
        return format_refusal(answer)
    parts = []
    for sentence in answer.sentences:
        text = escape_text(sentence.text)
        if not sentence.supported and "[unverified]" not in sentence.text:
            text += " <em>(unverified)</em>"
        markers = "".join(
            f'<a class="cite" href="#src-{turn}-{n}" title="Show source {n}">[{n}]</a>' for n in sentence.citations
        )
        parts.append(f"{text} {markers}".strip())
    return (" ".join(parts) if parts else escape_text(answer.answer)) + format_date_note(answer)


def format_date_note(answer: Answer) -> str:
    """The answer's note that a text it quotes has a newer version (`timeline.flag_outdated`)."""
    _, found, note = answer.answer.partition(f"\n\n{DATE_NOTE}: ")
    return f'<p class="beacon-dates">⚠️ <strong>{DATE_NOTE}:</strong> {escape_text(note)}</p>' if found and note.strip() else ""


def format_refusal(answer: Answer) -> str:
    """A refusal looks like one: a warning box with the reason; the closest documents are listed."""
    reason = answer.refusal_reason or answer.answer.split("\n\n")[0]
    closest = closest_documents(answer)[:3]
    items = "".join(f"<li>{html_text(title)}{(' — ' + html_text(loc)) if loc else ''}</li>" for title, loc, _ in closest)
    listing = f"<p>Closest documents (not enough to answer):</p><ul>{items}</ul>" if items else ""
    return (
        '<div class="beacon-refusal"><p class="beacon-refusal-title">⚠️ Not answered: the library does not support an answer.</p>'
        f"<p>{html_lines(reason)}</p>{listing}</div>"
    )


def closest_documents(answer: Answer) -> list[tuple[str, str, str]]:
    """(title, locator, source) of each retrieved document once, best first."""
    seen, found = set(), []
    for r in answer.retrieved:
        if r.doc_id not in seen:
            seen.add(r.doc_id)
            found.append((r.title or display_source(r.source), r.locator, r.source))
    return found


def format_sources(answer: Answer, turn: int = 0) -> str:
    """The sources panel: one entry per citation (title, locator, link, highlighted snippet)."""
    if answer.refused:
        closest = closest_documents(answer)
        if not closest:
            return "<p class='beacon-muted'>No sources: nothing in the library matched.</p>"
        items = "".join(
            f"<li><strong>{html_text(title)}</strong>{(' — ' + html_text(loc)) if loc else ''}<br>{source_link('', source)}</li>"
            for title, loc, source in closest
        )
        return f"<div class='beacon-sources beacon-closest'><p><strong>Closest documents</strong> (not enough to answer):</p><ul>{items}</ul></div>"
    blocks = []
    for c in answer.citations:
        quoted = [s.text for s in answer.sentences if c.n in s.citations]
        place = f" — {html_text(c.locator)}" if c.locator else ""
        blocks.append(
            f'<div class="beacon-source" id="src-{turn}-{c.n}">'
            f'<div class="beacon-source-head"><span class="beacon-n">[{c.n}]</span> <strong>{html_text(c.title or display_source(c.source))}</strong>{place}'
            f'<a class="beacon-open" href="#view-{turn}-{c.n}" title="Open the source at this passage">open ▸</a></div>'
            f'<div class="beacon-source-link">{source_link(c.url, c.source)}</div>'
            f"{format_citation_dates(c)}"
            f"<blockquote>{highlight(c.text, quoted)}</blockquote></div>"
        )
    return "<div class='beacon-sources'>" + "".join(blocks) + "</div>" if blocks else SOURCES_PLACEHOLDER


def format_citation_dates(citation: Citation) -> str:
    """A citation's date, and what in the library supersedes or amends it."""
    date = f"dated {html_text(citation.date)}" if citation.date else ""
    status = "" if citation.status == "in_force" else html_text(citation.status.replace("_", " "))
    head = " · ".join(x for x in (date, status) if x)
    newer = "".join(f"<div class='beacon-newer'>⚠️ {html_text(note)}</div>" for note in citation.newer)
    return f"<div class='beacon-source-date beacon-muted'>{head}</div>{newer}" if head or newer else ""


def format_copy_text(answer: Answer) -> str:
    """Plain text to paste elsewhere: the answer with its [n] markers and the numbered sources."""
    if answer.refused or not answer.citations:
        return answer.answer
    lines = [answer.answer.strip(), "", "Sources:"]
    for c in answer.citations:
        parts = [c.title or display_source(c.source)] + ([c.locator] if c.locator else []) + [c.url or c.source]
        lines.append(f"[{c.n}] " + " — ".join(parts))
    return "\n".join(lines)


def format_error(message: str) -> str:
    return f'<div class="beacon-error">⚠️ {html_lines(message)}</div>'


def format_draft(draft: str) -> str:
    """A generated answer while it is being written: shown as text, marked as not yet checked."""
    return f"{escape_text(draft)} <em class='beacon-muted'>(writing… citations are checked when it is done)</em>"


def chat_messages(turns: list, pending: str | None = None, pending_answer: str | None = None) -> list[dict]:
    """The chat as Gradio messages, rebuilt from the conversation state."""
    messages = []
    for i, t in enumerate(turns):
        messages.append({"role": "user", "content": escape_text(t["question"])})
        content = format_answer(t["answer"], i) if t.get("answer") is not None else format_error(t.get("error") or "")
        messages.append({"role": "assistant", "content": content})
    if pending is not None:
        messages.append({"role": "user", "content": escape_text(pending)})
        messages.append({"role": "assistant", "content": pending_answer or SEARCHING})
    return messages


def conversation(turns: list) -> list[dict]:
    """Earlier answered turns as plain-text history, so follow-up questions are understood."""
    history = []
    for t in turns or []:
        answer = t.get("answer")
        if answer is not None and not answer.refused:
            history += [{"role": "user", "content": t["question"]}, {"role": "assistant", "content": answer.answer}]
    return history


def turn_answer(turns: list, turn) -> Answer | None:
    """The answer of one turn of the conversation state (None for a bad index or an error turn)."""
    try:
        t = (turns or [])[int(turn)]
    except (TypeError, ValueError, IndexError):
        return None
    return t.get("answer") if isinstance(t, dict) else None


def format_who(name: str, role: str | None, local: bool) -> str:
    """The header line naming the signed-in user (or the single-local-admin mode)."""
    if local:
        return "<span class='beacon-muted'>Local mode: no accounts, full access from this computer only.</span>"
    return f"<span class='beacon-muted'>Signed in as <strong>{html_text(name)}</strong> ({html_text(role or 'no role')})</span>"


# -- library ------------------------------------------------------------------------------------
def format_reports(reports: list[IngestReport]) -> list[list]:
    return [[r.status, r.title or display_source(r.source), r.chunks, r.error or display_source(r.source)] for r in reports]


def summarize_reports(reports: list[IngestReport]) -> str:
    counts = {s: sum(r.status == s for r in reports) for s in ("added", "updated", "unchanged", "failed")}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing ingested"


def status_table(reports: list[IngestReport]) -> dict:
    return {"headers": STATUS_HEADERS, "data": format_reports(reports)}


def filter_documents(documents: list[DocumentSummary], query: str) -> list[DocumentSummary]:
    """The documents whose title, source, type, year or id contain every word of the search box."""
    words = (query or "").lower().split()
    if not words:
        return documents
    return [d for d in documents if all(w in f"{d.title} {d.source} {d.doc_type} {d.year or ''} {d.doc_id} {d.symbol}".lower() for w in words)]


def format_review(document: DocumentSummary) -> str:
    """Flagged passages and trust, as the Library table shows them."""
    flagged = f"{document.flagged} flagged" if document.flagged else ""
    return " · ".join(x for x in (flagged, "trusted" if document.trusted else "") if x)


def format_status(document: DocumentSummary) -> str:
    """Status, date and collections, as the Library table shows them ("superseded · from 2005 · EU law")."""
    since = f"from {document.valid_from}" if document.valid_from else ""
    return " · ".join(x for x in (document.status.replace("_", " "), since, ", ".join(document.collections)) if x)


def version_form(document: DocumentSummary | None) -> tuple[str | None, str, str, str, str]:
    """The Library tab's dates-and-collections form for a document: status, supersedes, amends,
    valid from, collections (lists comma-separated, as `beacon docs set` takes them)."""
    if document is None:
        return None, "", "", "", ""
    return document.status, ", ".join(document.supersedes), ", ".join(document.amends), document.valid_from, ", ".join(document.collections)


def format_version_change(doc_id: str, document: DocumentSummary | None) -> str:
    shown = format_status(document) if document is not None else ""
    return f"Saved dates and collections of {html_text(doc_id)}" + (f": {html_text(shown)}." if shown else ".")


def collection_choices(collections: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(label, value) pairs of the chat's collection picker; the whole library is the value ''."""
    return [(WHOLE_LIBRARY, "")] + [(f"{name} ({len(members)} documents)", name) for name, members in collections.items()]


def format_documents(documents: list[DocumentSummary]) -> list[list]:
    return [
        [d.title, d.doc_type, d.year or "", format_status(d), d.chunks, d.format, display_source(d.url or d.source), d.ingested_at[:16].replace("T", " "), format_review(d), d.doc_id]
        for d in documents
    ]


def documents_table(documents: list[DocumentSummary]) -> dict:
    return {"headers": DOC_HEADERS, "data": format_documents(documents)}


def document_choices(documents: list[DocumentSummary]) -> list[tuple[str, str]]:
    """(label, doc_id) pairs for the selected-document dropdown."""
    return [(f"{d.title[:80]} ({d.doc_id})", d.doc_id) for d in documents]


def library_caption(shown: list[DocumentSummary], total: int) -> str:
    return f"{len(shown)} of {total} documents, {sum(d.chunks for d in shown)} chunks"


def format_chunks(document: DocumentSummary | None, chunks: list[dict]) -> str:
    """Chunk preview: each chunk's position, locator and text, escaped."""
    head = ""
    if document is not None:
        meta = " · ".join(x for x in (document.doc_type, str(document.year or ""), document.format, f"{document.chunks} chunks", format_review(document)) if x)
        head = f"<div class='beacon-doc-head'><strong>{html_text(document.title)}</strong><br><span class='beacon-muted'>{html_text(meta)}</span><br>{source_link(document.url, document.source)}</div>"
        if document.flagged:
            fate = "quoted in answers: you trust this document" if document.trusted else "never quoted in answers unless you trust this document"
            head += f"<p class='beacon-flag'>{document.flagged} passages flagged as possibly poisoned (shown first), {fate}.</p>"
    # Flagged passages first: they are what a trainer has to review.
    shown = sorted(chunks, key=lambda c: not c.get(FLAGS_FIELD))[:MAX_PREVIEW_CHUNKS]
    blocks = "".join(
        f"<div class='beacon-chunk'><div class='beacon-chunk-head'>#{c.get('position', i)}"
        f"{(' · ' + html_text(c.get('locator'))) if c.get('locator') else ''}"
        f"{(' · ' + html_text(c.get('heading'))) if c.get('heading') and c.get('heading') not in (c.get('locator') or '') else ''}"
        f" · {len(c.get('text', ''))} chars</div>"
        f"{''.join(f'<div class=beacon-flag>⚑ {html_text(reason)}</div>' for reason in flag_reasons(c.get(FLAGS_FIELD, ''), c.get('text', '')))}"
        f"<div class='beacon-chunk-text'>{html_lines(c.get('text', ''))}</div></div>"
        for i, c in enumerate(shown)
    )
    more = f"<p class='beacon-muted'>… {len(chunks) - len(shown)} more chunks not shown.</p>" if len(chunks) > len(shown) else ""
    return f"<div class='beacon-preview'>{head}{blocks}{more}</div>"


def format_delete_question(doc_id: str) -> str:
    return f"Delete <strong>{html_text(doc_id)}</strong> and all its chunks from the library?"


def format_trust_change(doc_id: str, trusted: bool) -> str:
    return f"{'Trusted' if trusted else 'No longer trusted'}: {html_text(doc_id)}."


# -- evals --------------------------------------------------------------------------------------
def format_number(value) -> str:
    """A metric value for the table: 3 decimals for ratios, 1 for larger numbers, n/a for none."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return str(value) if isinstance(value, int) else (f"{value:.3f}" if abs(value) <= 1 else f"{value:.1f}")


def eval_metric_table(report: dict) -> dict:
    """The report's metrics as a table: one row per metric, one column per system (beacon, baselines)."""
    systems = report.get("systems")
    if not isinstance(systems, dict) or not systems:
        flat = {k: v for k, v in report.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        systems = {"beacon": report.get("metrics") if isinstance(report.get("metrics"), dict) else flat}
    systems = {name: values for name, values in systems.items() if isinstance(values, dict)}
    names = list(dict.fromkeys(m for values in systems.values() for m in values))
    rows = [[m, *(format_number(values.get(m)) for values in systems.values())] for m in names]
    return {"headers": ["metric", *systems], "data": rows or [["(no metrics)", *([""] * len(systems))]]}


def format_metric_definitions(report: dict) -> str:
    definitions = report.get("metric_definitions")
    if not isinstance(definitions, dict) or not definitions:
        return ""
    items = "".join(f"<li><code>{html_text(name)}</code>: {html_text(text)}</li>" for name, text in definitions.items())
    return f"<ul class='beacon-definitions'>{items}</ul>"


def format_eval_summary(report: dict, dataset: Path, out_dir: Path) -> str:
    facts = [f"dataset <strong>{html_text(dataset.name)}</strong>"]
    labels = {"n_questions": "questions", "n_answerable": "answerable", "n_unanswerable": "unanswerable", "k": "k", "answerer": "answerer", "duration_s": "seconds"}
    facts += [f"{label}: {html_text(report[key])}" for key, label in labels.items() if report.get(key) is not None]
    failures = report.get("failures") or []
    failed = f"<br>Failed questions ({len(failures)}): {html_text(', '.join(map(str, failures[:30])))}{' …' if len(failures) > 30 else ''}" if failures else "<br>No failed questions."
    return (
        f"<p><strong>Evaluation finished.</strong> {' · '.join(facts)}{failed}<br>"
        f"<span class='beacon-muted'>Results saved in eval-runs/{html_text(out_dir.name)} under the data folder.</span></p>"
    )


def dataset_label(path: Path, uploads_dir: Path) -> str:
    """A dataset as the Evals dropdown names it: its file name, and whether a user uploaded it."""
    where = "uploaded" if uploads_dir in path.parents else "bundled"
    return f"{path.name} ({where})"


# -- source viewer ------------------------------------------------------------------------------
VIEWER_PLACEHOLDER = "<p class='beacon-muted'>Click a [n] marker (or pick it above) to open the source at the quoted passage.</p>"
MAX_VIEW_CHARS = 20_000  # of a long text, the window around the passage that is shown
VIEW_CONTEXT = 6_000  # characters shown before the passage in such a window


def citation_target(answer: Answer | None, n) -> dict | None:
    """Where citation `n` of an answer points, for the viewer: its document, page, the quoted
    sentences (the text to highlight on a PDF page) and their spans in the stored text (the
    cited chunk's text and span when no sentence gives them)."""
    try:
        citation = next(c for c in (answer.citations if answer else []) if c.n == int(n))
    except (StopIteration, TypeError, ValueError):
        return None
    quoted = [s for s in answer.sentences if citation.n in s.citations and s.doc_id in (None, citation.doc_id)]
    spans = [(s.char_start, s.char_end) for s in quoted if s.char_start is not None and s.char_end is not None]
    if not spans and citation.char_start is not None and citation.char_end is not None:
        spans = [(citation.char_start, citation.char_end)]
    page = next((s.page for s in quoted if s.page), None) or citation.page
    return {"doc_id": citation.doc_id, "title": citation.title or display_source(citation.source), "page": page,
            "quotes": [s.quote or s.text for s in quoted] or [citation.text], "spans": spans}


def citation_choices(answer: Answer | None, turn: int) -> list[tuple[str, str]]:
    """(label, "turn:n") for each citation of an answer: the viewer's [n] selector."""
    if answer is None or answer.refused:
        return []
    return [(f"[{c.n}] {(c.title or display_source(c.source))[:60]}", f"{turn}:{c.n}") for c in answer.citations]


def _viewer_head(title: str, where: str) -> str:
    return f"<div class='beacon-viewer-head'><strong>{html_text(title)}</strong> <span class='beacon-muted'>{html_text(where)}</span></div>"


def format_page_view(title: str, png: bytes, page: int, pages: int, highlights: list, quoted: bool) -> str:
    """A rendered PDF page with its highlight already painted; an invisible anchor at the first
    highlighted line lets the page script scroll to it."""
    image = base64.b64encode(png).decode("ascii")
    anchor = f"<span class='beacon-viewer-target' style='top:{max(0.0, highlights[0][1] * 100 - 5):.1f}%'></span>" if highlights else ""
    note = "<p class='beacon-muted'>The quoted text was not found on this page's text layer; it may run over from another page.</p>" if quoted and not highlights else ""
    return (
        f"<div class='beacon-viewer' data-view='page-{page}'>{_viewer_head(title, f'page {page} of {pages}')}{note}"
        f"<div class='beacon-page'><img src='data:image/png;base64,{image}' alt='{html_text(f'Page {page} of {title}')}'>{anchor}</div></div>"
    )


def _text_html(text: str) -> str:
    return html_text(text.replace("\r\n", "\n")).replace("\n", "<br>")


def format_text_view(title: str, text: str, spans: list[tuple[int, int]], where: str = "") -> str:
    """A document's stored text, escaped, with the quoted spans in <mark> (the first one is the
    scroll target); a long text is cut to a window around the first span."""
    spans = sorted((max(0, s), min(len(text), e)) for s, e in spans if s is not None and e is not None and s < e)
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    first = merged[0][0] if merged else 0
    start = max(0, first - VIEW_CONTEXT) if len(text) > MAX_VIEW_CHARS else 0
    end = min(len(text), start + MAX_VIEW_CHARS)
    parts = [f"<p class='beacon-muted'>… {start:,} characters before.</p>"] if start else []
    at = start
    for i, (s, e) in enumerate(merged):
        s, e = max(s, start), min(e, end)
        if s >= e:
            continue
        target = " class='beacon-viewer-target'" if i == 0 else ""
        parts += [_text_html(text[at:s]), f"<mark{target}>{_text_html(text[s:e])}</mark>"]
        at = e
    parts.append(_text_html(text[at:end]))
    if end < len(text):
        parts.append(f"<p class='beacon-muted'>… {len(text) - end:,} characters after.</p>")
    return f"<div class='beacon-viewer' data-view='text'>{_viewer_head(title, where)}<div class='beacon-text'>{''.join(parts)}</div></div>"


def format_viewer_error(message: str) -> str:
    return f"<div class='beacon-viewer'><p class='beacon-muted'>⚠️ {html_lines(message)}</p></div>"
