"""Beacon's web UI (Gradio): chat for trainees, the library for trainers, evaluations for QA.

The UI receives the Assistant and the small stores it needs (users, feedback, workspace
folders) and only maps events to calls and formats what comes back: nothing here retrieves,
chunks or builds prompts.

Safety rules the code below keeps:
- Every handler checks the caller's role on the server (`Access.require`); hiding a tab is
  only a convenience. Without a users file the UI is a single local admin and may only bind
  to a loopback address.
- Document and answer text is escaped before it is rendered (`escape_text`, `_h`), and every
  Markdown component keeps `sanitize_html=True` as a second line of defence.
- Browser-supplied file names go through `assistant.records.uploads`, and the URL box accepts
  only http(s) URLs, so neither can reach files on the server.
- Gradio's own upload endpoint is closed to roles without an upload box (`RequestGuard`), and
  failed sign-ins are throttled per account and per address (`LoginThrottle`).
"""

import html
import ipaddress
import re
import shutil
import tempfile
from contextvars import ContextVar
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse

from assistant.answering.base import DraftDelta, Final
from assistant.domain.errors import BeaconError, ConfigError, InvalidInput
from assistant.records.feedback import REASONS, FeedbackStore, feedback_store
from assistant.domain.models import Answer, DocumentSummary, IngestReport
from assistant.domain.poison import FLAGS_FIELD, flag_reasons
from assistant.records.users import LoginThrottle, UserStore, can, users_file
from assistant.records.uploads import Workspace, checked_url

EXAMPLES = [
    "What did the 24th Alliance conference focus on?",
    "What are the 3 Ps of the OSCE Action Plan?",
    "How does the Palermo Protocol define trafficking in persons?",
]
SOURCES_PLACEHOLDER = "<p class='beacon-muted'>Sources of the latest answer appear here; click a [n] marker in an answer to jump to its source.</p>"
CAPABILITY_LABELS = {"chat": "the chat", "feedback": "feedback", "library": "the library", "evals": "evaluations", "upload": "uploading files"}
REQUIRED_ROLES = {"chat": "any signed-in user", "feedback": "any signed-in user", "library": "trainer or admin", "evals": "qa or admin", "upload": "trainer, qa or admin"}
MAX_PREVIEW_CHUNKS = 60
DOC_HEADERS = ["title", "type", "year", "chunks", "format", "source", "ingested", "review", "doc_id"]
STATUS_HEADERS = ["status", "document", "chunks", "detail"]


# -- formatting ---------------------------------------------------------------------------------
def escape_text(text: str) -> str:
    """Plain text safe for Markdown rendering: HTML is escaped, Markdown links are kept inert."""
    return html.escape(text or "", quote=False).replace("[", "\\[").replace("]", "\\]")


def _h(text) -> str:
    """Text for an HTML context (attribute-safe); used inside one-line HTML blocks."""
    return html.escape(str(text if text is not None else ""), quote=True)


def _lines(text: str) -> str:
    """Escaped text with line breaks, on one line, so Markdown leaves the HTML block alone."""
    return "<br>".join(_h(line) for line in (text or "").splitlines())


def display_source(source: str) -> str:
    """How a source is named to readers: URLs as they are, local files by their file name only."""
    if source.startswith(("http://", "https://")):
        return source
    return re.split(r"[\\/]", source)[-1] or source


def _source_link(url: str, source: str) -> str:
    link = url or source
    if link.startswith(("http://", "https://")):
        return f'<a href="{_h(link)}" target="_blank" rel="noopener noreferrer">{_h(link)}</a>'
    return f"<code>{_h(display_source(link))}</code>"


def _highlight(snippet: str, sentences: list[str]) -> str:
    """Escaped snippet (one line, <br> for breaks) with the quoted sentences in <mark>."""
    escaped = _lines(snippet)
    for sentence in sentences:
        words = [re.escape(_h(w)) for w in sentence.split()]
        if not words:
            continue
        pattern = r"(?:\s|<br>)+".join(words)
        escaped = re.sub(pattern, lambda m: f"<mark>{m.group(0)}</mark>", escaped, count=1)
    return escaped


def format_referral_card(answer: Answer) -> str:
    """The safety card, shown above the answer when the question discloses danger."""
    r = answer.referral
    if r is None:
        return ""
    where = f" ({_h(r.country)})" if r.country else " (EU-wide emergency number)"
    hotline = f"<p><strong>{_h(r.hotline_name or 'Anti-trafficking hotline')}:</strong> {_h(r.hotline)}</p>" if r.hotline else ""
    steps = "".join(f"<li>{_h(step)}</li>" for step in r.what_to_do)
    return (
        '<div class="beacon-referral" role="alert"><p class="beacon-referral-title">🆘 If you are in danger now, call '
        f"<strong>{_h(r.emergency)}</strong>{where}.</p>{hotline}<ul>{steps}</ul></div>"
    )


def format_answer(answer: Answer, turn: int = 0) -> str:
    """The chat bubble: the safety card if any, then answer sentences with [n] markers linking
    to the sources panel."""
    return format_referral_card(answer) + _format_answer_body(answer, turn)


def _format_answer_body(answer: Answer, turn: int) -> str:
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
    return " ".join(parts) if parts else escape_text(answer.answer)


def format_refusal(answer: Answer) -> str:
    """A refusal looks like one: a warning box with the reason; the closest documents are listed."""
    reason = answer.refusal_reason or answer.answer.split("\n\n")[0]
    closest = _closest_documents(answer)[:3]
    items = "".join(f"<li>{_h(title)}{(' — ' + _h(loc)) if loc else ''}</li>" for title, loc, _ in closest)
    listing = f"<p>Closest documents (not enough to answer):</p><ul>{items}</ul>" if items else ""
    return (
        '<div class="beacon-refusal"><p class="beacon-refusal-title">⚠️ Not answered: the library does not support an answer.</p>'
        f"<p>{_lines(reason)}</p>{listing}</div>"
    )


def _closest_documents(answer: Answer) -> list[tuple[str, str, str]]:
    seen, found = set(), []
    for r in answer.retrieved:
        if r.doc_id not in seen:
            seen.add(r.doc_id)
            found.append((r.title or display_source(r.source), r.locator, r.source))
    return found


def format_sources(answer: Answer, turn: int = 0) -> str:
    """The sources panel: one entry per citation (title, locator, link, highlighted snippet)."""
    if answer.refused:
        closest = _closest_documents(answer)
        if not closest:
            return "<p class='beacon-muted'>No sources: nothing in the library matched.</p>"
        items = "".join(
            f"<li><strong>{_h(title)}</strong>{(' — ' + _h(loc)) if loc else ''}<br>{_source_link('', source)}</li>"
            for title, loc, source in closest
        )
        return f"<div class='beacon-sources beacon-closest'><p><strong>Closest documents</strong> (not enough to answer):</p><ul>{items}</ul></div>"
    blocks = []
    for c in answer.citations:
        quoted = [s.text for s in answer.sentences if c.n in s.citations]
        place = f" — {_h(c.locator)}" if c.locator else ""
        blocks.append(
            f'<div class="beacon-source" id="src-{turn}-{c.n}">'
            f'<div class="beacon-source-head"><span class="beacon-n">[{c.n}]</span> <strong>{_h(c.title or display_source(c.source))}</strong>{place}</div>'
            f'<div class="beacon-source-link">{_source_link(c.url, c.source)}</div>'
            f"<blockquote>{_highlight(c.text, quoted)}</blockquote></div>"
        )
    return "<div class='beacon-sources'>" + "".join(blocks) + "</div>" if blocks else SOURCES_PLACEHOLDER


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
    return f'<div class="beacon-error">⚠️ {_lines(message)}</div>'


def format_reports(reports: list[IngestReport]) -> list[list]:
    return [[r.status, r.title or display_source(r.source), r.chunks, r.error or display_source(r.source)] for r in reports]


def summarize_reports(reports: list[IngestReport]) -> str:
    counts = {s: sum(r.status == s for r in reports) for s in ("added", "updated", "unchanged", "failed")}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing ingested"


def filter_documents(documents: list[DocumentSummary], query: str) -> list[DocumentSummary]:
    words = (query or "").lower().split()
    if not words:
        return documents
    return [d for d in documents if all(w in f"{d.title} {d.source} {d.doc_type} {d.year or ''} {d.doc_id} {d.symbol}".lower() for w in words)]


def format_review(document: DocumentSummary) -> str:
    """Flagged passages and trust, as the Library table shows them."""
    flagged = f"{document.flagged} flagged" if document.flagged else ""
    return " · ".join(x for x in (flagged, "trusted" if document.trusted else "") if x)


def format_documents(documents: list[DocumentSummary]) -> list[list]:
    return [
        [d.title, d.doc_type, d.year or "", d.chunks, d.format, display_source(d.url or d.source), d.ingested_at[:16].replace("T", " "), format_review(d), d.doc_id]
        for d in documents
    ]


def format_chunks(document: DocumentSummary | None, chunks: list[dict]) -> str:
    """Chunk preview: each chunk's position, locator and text, escaped."""
    head = ""
    if document is not None:
        meta = " · ".join(x for x in (document.doc_type, str(document.year or ""), document.format, f"{document.chunks} chunks", format_review(document)) if x)
        head = f"<div class='beacon-doc-head'><strong>{_h(document.title)}</strong><br><span class='beacon-muted'>{_h(meta)}</span><br>{_source_link(document.url, document.source)}</div>"
        if document.flagged:
            fate = "quoted in answers: you trust this document" if document.trusted else "never quoted in answers unless you trust this document"
            head += f"<p class='beacon-flag'>{document.flagged} passages flagged as possibly poisoned (shown first), {fate}.</p>"
    # Flagged passages first: they are what a trainer has to review.
    shown = sorted(chunks, key=lambda c: not c.get(FLAGS_FIELD))[:MAX_PREVIEW_CHUNKS]
    blocks = "".join(
        f"<div class='beacon-chunk'><div class='beacon-chunk-head'>#{c.get('position', i)}"
        f"{(' · ' + _h(c.get('locator'))) if c.get('locator') else ''}"
        f"{(' · ' + _h(c.get('heading'))) if c.get('heading') and c.get('heading') not in (c.get('locator') or '') else ''}"
        f" · {len(c.get('text', ''))} chars</div>"
        f"{''.join(f'<div class=beacon-flag>⚑ {_h(reason)}</div>' for reason in flag_reasons(c.get(FLAGS_FIELD, ''), c.get('text', '')))}"
        f"<div class='beacon-chunk-text'>{_lines(c.get('text', ''))}</div></div>"
        for i, c in enumerate(shown)
    )
    more = f"<p class='beacon-muted'>… {len(chunks) - len(shown)} more chunks not shown.</p>" if len(chunks) > len(shown) else ""
    return f"<div class='beacon-preview'>{head}{blocks}{more}</div>"


def _number(value) -> str:
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
    rows = [[m, *(_number(values.get(m)) for values in systems.values())] for m in names]
    return {"headers": ["metric", *systems], "data": rows or [["(no metrics)", *([""] * len(systems))]]}


def format_metric_definitions(report: dict) -> str:
    definitions = report.get("metric_definitions")
    if not isinstance(definitions, dict) or not definitions:
        return ""
    items = "".join(f"<li><code>{_h(name)}</code>: {_h(text)}</li>" for name, text in definitions.items())
    return f"<ul class='beacon-definitions'>{items}</ul>"


def format_eval_summary(report: dict, dataset: Path, out_dir: Path) -> str:
    facts = [f"dataset <strong>{_h(dataset.name)}</strong>"]
    labels = {"n_questions": "questions", "n_answerable": "answerable", "n_unanswerable": "unanswerable", "k": "k", "answerer": "answerer", "duration_s": "seconds"}
    facts += [f"{label}: {_h(report[key])}" for key, label in labels.items() if report.get(key) is not None]
    failures = report.get("failures") or []
    failed = f"<br>Failed questions ({len(failures)}): {_h(', '.join(map(str, failures[:30])))}{' …' if len(failures) > 30 else ''}" if failures else "<br>No failed questions."
    return (
        f"<p><strong>Evaluation finished.</strong> {' · '.join(facts)}{failed}<br>"
        f"<span class='beacon-muted'>Results saved in eval-runs/{_h(out_dir.name)} under the data folder.</span></p>"
    )


# -- access -------------------------------------------------------------------------------------
def _error(message: str, title: str = "Beacon") -> gr.Error:
    """A toast for the user; Gradio renders toasts as HTML, so the message is escaped first."""
    return gr.Error(html.escape(message, quote=False), title=title)


def _fail(exc: BeaconError) -> gr.Error:
    return _error(str(exc))


class Access:
    """Who is calling: the role of the request's signed-in user, or admin when there are no accounts."""

    def __init__(self, users: UserStore | None):
        self.users = users

    def identify(self, request: gr.Request | None) -> tuple[str, str | None]:
        if self.users is None:
            return "local", "admin"
        name = getattr(request, "username", None) if request is not None else None
        return (name or "", self.users.role_of(name) if name else None)

    def require(self, request: gr.Request | None, capability: str) -> str:
        """The caller's name if their role grants `capability`; otherwise the call is refused."""
        name, role = self.identify(request)
        if not can(role, capability):
            raise _error(
                f"Not allowed: {CAPABILITY_LABELS[capability]} needs the role {REQUIRED_ROLES[capability]}"
                + (f"; you are signed in as {name} ({role or 'no role'})." if name else "; sign in first."),
                title="Access denied",
            )
        return name


# -- handlers -----------------------------------------------------------------------------------
class BeaconUI:
    """The event handlers. Each checks the caller's role, calls the core once, formats the result."""

    def __init__(self, beacon, users: UserStore | None = None, feedback: FeedbackStore | None = None, workspace: Workspace | None = None):
        self.beacon = beacon
        self.access = Access(users)
        self.feedback = feedback or feedback_store(beacon.settings)
        self.workspace = workspace or Workspace(beacon.settings.data_dir)

    # chat
    def on_load(self, request: gr.Request):
        name, role = self.access.identify(request)
        if self.access.users is None:
            who = "<span class='beacon-muted'>Local mode: no accounts, full access from this computer only.</span>"
        else:
            who = f"<span class='beacon-muted'>Signed in as <strong>{_h(name)}</strong> ({_h(role or 'no role')})</span>"
        library, evals = can(role, "library"), can(role, "evals")
        return (
            who,
            gr.update(visible=self.access.users is not None),
            gr.update(visible=library),
            gr.update(visible=evals),
        )

    def ask(self, question: str, turns: list, request: gr.Request):
        """Show the question at once, then the answer, its sources and its copyable text."""
        name = self.access.require(request, "chat")
        turns = list(turns or [])
        question = (question or "").strip()
        if not question:
            yield (gr.skip(),) * 6
            return
        yield "", chat_messages(turns, pending=question), gr.skip(), gr.skip(), gr.skip(), gr.update(visible=False)
        try:
            card, draft = "", ""
            for event in self.beacon.ask_stream(question, history=conversation(turns), user=name):
                if isinstance(event, Final):
                    answer = event.answer
                    break
                if isinstance(event, DraftDelta):
                    draft += event.text
                else:
                    card = format_referral_card(Answer(question=question, answer="", refused=False, referral=event.referral))
                pending = card + (format_draft(draft) if draft else "<em class='beacon-muted'>Searching the library…</em>")
                yield gr.skip(), chat_messages(turns, pending=question, pending_answer=pending), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        except BeaconError as exc:
            turns.append({"question": question, "answer": None, "error": str(exc)})
            yield "", chat_messages(turns), turns, SOURCES_PLACEHOLDER, "", gr.update(visible=False)
            return
        turns.append({"question": question, "answer": answer, "error": None})
        turn = len(turns) - 1
        yield "", chat_messages(turns), turns, format_sources(answer, turn), format_copy_text(answer), gr.update(visible=False)

    def show_sources(self, requested: str, turns: list, request: gr.Request):
        """The sources of an earlier answer, when one of its markers is clicked."""
        self.access.require(request, "chat")
        turn = (requested or "").split(":")[0]
        answer = _turn_answer(turns, turn)
        return format_sources(answer, int(turn)) if answer else gr.skip()

    def new_conversation(self, request: gr.Request):
        self.access.require(request, "chat")
        return [], [], SOURCES_PLACEHOLDER, "", "", gr.update(visible=False), ""

    # feedback
    def on_like(self, turns: list, data: gr.LikeData, request: gr.Request):
        """👍 is stored at once; 👎 opens the form that asks why."""
        name = self.access.require(request, "feedback")
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        turn = int(index) // 2
        answer = _turn_answer(turns, turn)
        if answer is None or data.liked not in (True, False):
            return gr.skip(), gr.skip(), gr.skip()
        if data.liked is True:
            self.feedback.record(answer, "up", user=name)
            return None, gr.update(visible=False), "Thanks, your rating was recorded."
        return turn, gr.update(visible=True), ""

    def submit_feedback(self, turn, reason: str, comment: str, turns: list, request: gr.Request):
        name = self.access.require(request, "feedback")
        answer = _turn_answer(turns, turn)
        if answer is None:
            raise _error("Pick an answer first: click the thumbs-down under it.", title="Feedback")
        try:
            self.feedback.record(answer, "down", reason=reason, comment=comment, user=name)
        except BeaconError as exc:
            raise _fail(exc) from exc
        return None, gr.update(visible=False), "Thanks, your report was recorded for QA review.", None, ""

    # library
    def library_view(self, query: str, request: gr.Request):
        self.access.require(request, "library")
        return self._documents(query)

    def _documents(self, query: str = "", selected: str | None = None):
        try:
            documents = self.beacon.list_documents()
        except BeaconError as exc:
            raise _fail(exc) from exc
        shown = filter_documents(documents, query)
        choices = [(f"{d.title[:80]} ({d.doc_id})", d.doc_id) for d in shown]
        ids = {d.doc_id for d in shown}
        caption = f"{len(shown)} of {len(documents)} documents, {sum(d.chunks for d in shown)} chunks"
        return (
            {"headers": DOC_HEADERS, "data": format_documents(shown)},
            gr.update(choices=choices, value=selected if selected in ids else None),
            caption,
        )

    def _ingest(self, inputs: list[str], failed: list[IngestReport], progress: gr.Progress, query: str, actor: str = ""):
        return self._ingest_view(failed + self._run_ingest(inputs, progress, actor), query)

    def _run_ingest(self, inputs: list[str], progress: gr.Progress, actor: str) -> list[IngestReport]:
        if not inputs:
            return []
        progress((0, len(inputs)), desc="Starting")

        def on_progress(done: int, total: int, report: IngestReport) -> None:
            progress((done, total), desc=f"{report.status}: {display_source(report.source)[:60]}")

        try:
            reports = self.beacon.ingest(inputs, on_progress, actor=actor)
        except BeaconError as exc:
            raise _fail(exc) from exc
        if any(r.status in ("added", "updated") for r in reports):
            self.beacon.start_background_jobs()  # the multilingual index follows the library (a vote for English questions too)
        return reports

    def _ingest_view(self, reports: list[IngestReport], query: str):
        table, dropdown, caption = self._documents(query)
        status = {"headers": STATUS_HEADERS, "data": format_reports(reports)}
        return summarize_reports(reports), status, table, dropdown, caption

    def ingest_files(self, files: list | None, query: str, request: gr.Request, progress=gr.Progress()):
        """Save the uploads under <data_dir>/uploads with safe, distinct names, then ingest them;
        an upload that fails is removed again (or the version it replaced put back)."""
        name = self.access.require(request, "library")
        if not files:
            raise _error("Choose one or more files to upload first.", title="Library")
        uploads, failed = [], []
        for f in files:
            uploaded = Path(getattr(f, "name", None) or str(f))
            try:
                uploads.append(self.workspace.save_upload(uploaded.name, uploaded))
            except (BeaconError, OSError) as exc:
                failed.append(IngestReport(source=uploaded.name, status="failed", error=str(exc)))
        reports = []
        try:
            reports = self._run_ingest([str(u.path) for u in uploads], progress, actor=name)
        finally:
            status = {r.source: r.status for r in reports}
            for upload in uploads:
                self.workspace.settle_upload(upload, ingested=status.get(str(upload.path), "failed") != "failed")
        return (*self._ingest_view(failed + reports, query), None)

    def add_url(self, url: str, query: str, request: gr.Request, progress=gr.Progress()):
        name = self.access.require(request, "library")
        try:
            url = checked_url(url)
        except InvalidInput as exc:
            raise _fail(exc) from exc
        return (*self._ingest([url], [], progress, query, actor=name), "")

    def preview(self, doc_id: str | None, request: gr.Request):
        self.access.require(request, "library")
        if not doc_id:
            return "", gr.update(visible=False)
        try:
            chunks = self.beacon.document_chunks(doc_id)
            document = next((d for d in self.beacon.list_documents() if d.doc_id == doc_id), None)
        except BeaconError as exc:
            raise _fail(exc) from exc
        return format_chunks(document, chunks), gr.update(visible=False)

    def select_row(self, data: gr.SelectData, request: gr.Request):
        self.access.require(request, "library")
        row = getattr(data, "row_value", None) or []
        return row[-1] if row else gr.skip()

    def ask_delete(self, doc_id: str | None, request: gr.Request):
        self.access.require(request, "library")
        if not doc_id:
            raise _error("Select a document first.", title="Library")
        return gr.update(visible=True), f"Delete <strong>{_h(doc_id)}</strong> and all its chunks from the library?"

    def delete(self, doc_id: str | None, query: str, request: gr.Request):
        name = self.access.require(request, "library")
        if not doc_id:
            raise _error("Select a document first.", title="Library")
        try:
            removed, chunks = self.beacon.remove_document(doc_id, actor=name)
        except BeaconError as exc:
            raise _fail(exc) from exc
        table, dropdown, caption = self._documents(query)
        return f"Removed {removed} ({chunks} chunks).", table, dropdown, caption, "", gr.update(visible=False)

    def trust(self, doc_id: str | None, query: str, request: gr.Request):
        """Vouch for the selected document: its flagged passages may then be quoted."""
        return self._set_trusted(doc_id, True, query, request)

    def untrust(self, doc_id: str | None, query: str, request: gr.Request):
        return self._set_trusted(doc_id, False, query, request)

    def _set_trusted(self, doc_id: str | None, trusted: bool, query: str, request: gr.Request):
        name = self.access.require(request, "library")
        if not doc_id:
            raise _error("Select a document first.", title="Library")
        try:
            self.beacon.set_trusted(doc_id, trusted, actor=name)
        except BeaconError as exc:
            raise _fail(exc) from exc
        table, dropdown, caption = self._documents(query, selected=doc_id)
        preview, _ = self.preview(doc_id, request)
        return f"{'Trusted' if trusted else 'No longer trusted'}: {_h(doc_id)}.", table, dropdown, caption, preview

    def reingest(self, doc_id: str | None, query: str, request: gr.Request, progress=gr.Progress()):
        """Ingest a document again from its source (unchanged bytes are skipped by the core)."""
        name = self.access.require(request, "library")
        document = next((d for d in self.beacon.list_documents() if d.doc_id == doc_id), None) if doc_id else None
        if document is None:
            raise _error("Select a document first.", title="Library")
        summary, status, table, _, caption = self._ingest([document.source], [], progress, query, actor=name)
        _, dropdown, _ = self._documents(query, selected=doc_id)
        return summary, status, table, dropdown, caption

    # evals
    def eval_datasets(self, request: gr.Request, selected: str | None = None):
        self.access.require(request, "evals")
        try:
            from evals.runner import default_dataset

            default = Path(default_dataset())
        except ImportError:
            default = None
        paths = self.workspace.eval_datasets(default)
        choices = [(_dataset_label(p, self.workspace), str(p)) for p in paths]
        value = selected if selected in {str(p) for p in paths} else (str(paths[0]) if paths else None)
        return gr.update(choices=choices, value=value)

    def upload_dataset(self, file, request: gr.Request):
        self.access.require(request, "evals")
        if not file:
            return gr.skip()
        uploaded = Path(getattr(file, "name", None) or str(file))
        try:
            saved = self.workspace.save_eval_dataset(uploaded.name, uploaded)
        except BeaconError as exc:
            raise _fail(exc) from exc
        return self.eval_datasets(request, selected=str(saved))

    def run_evals(self, dataset: str | None, k, baselines: bool, request: gr.Request, progress=gr.Progress()):
        self.access.require(request, "evals")
        try:
            from evals.runner import default_dataset, run_eval
        except ImportError as exc:
            raise _error(f"The eval suite is not available here ({exc}); install Beacon with its evals package.", title="Evals") from exc
        allowed = {str(p) for p in self.workspace.eval_datasets(Path(default_dataset()))}
        if not dataset or dataset not in allowed:
            raise _error("Choose one of the listed datasets (or upload a .jsonl dataset).", title="Evals")
        k = int(k) if k else None
        dataset_path = Path(dataset)
        out_dir = self.workspace.new_eval_run(dataset_path)
        progress(None, desc=f"Evaluating {dataset_path.name}")
        try:
            report = run_eval(self.beacon, dataset_path, out_dir, k=k, baselines=bool(baselines))
        except BeaconError as exc:
            raise _fail(exc) from exc
        # Artifacts are handed to Gradio from a temp copy: the data dir itself is never served.
        shown = Path(tempfile.mkdtemp(prefix="beacon-eval-"))
        plots = []
        for png in sorted(out_dir.glob("*.png")):
            plots.append((str(shutil.copy(png, shown / png.name)), png.stem.replace("_", " ")))
        report_file = out_dir / "report.html"
        download = str(shutil.copy(report_file, shown / "report.html")) if report_file.is_file() else None
        return (
            format_eval_summary(report, dataset_path, out_dir), eval_metric_table(report),
            format_metric_definitions(report), plots, download,
        )


def _turn_answer(turns: list, turn) -> Answer | None:
    try:
        t = (turns or [])[int(turn)]
    except (TypeError, ValueError, IndexError):
        return None
    return t.get("answer") if isinstance(t, dict) else None


def _dataset_label(path: Path, workspace: Workspace) -> str:
    where = "uploaded" if workspace.eval_datasets_dir in path.parents else "bundled"
    return f"{path.name} ({where})"


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
        messages.append({"role": "assistant", "content": pending_answer or "<em class='beacon-muted'>Searching the library…</em>"})
    return messages


def conversation(turns: list) -> list[dict]:
    """Earlier answered turns as plain-text history, so follow-up questions are understood."""
    history = []
    for t in turns or []:
        answer = t.get("answer")
        if answer is not None and not answer.refused:
            history += [{"role": "user", "content": t["question"]}, {"role": "assistant", "content": answer.answer}]
    return history


# -- page ---------------------------------------------------------------------------------------
CSS = """
.beacon-hidden { display: none !important; }
.beacon-muted { color: var(--body-text-color-subdued); }
.beacon-flag { color: var(--error-text-color, #b91c1c); font-size: 0.88em; }
.beacon-refusal { border-left: 4px solid #d97706; background: rgba(217, 119, 6, 0.08); padding: 0.4em 0.8em; border-radius: 4px; }
.beacon-refusal-title { font-weight: 600; margin-top: 0; }
.beacon-referral { border-left: 4px solid #dc2626; background: rgba(220, 38, 38, 0.08); padding: 0.4em 0.8em; border-radius: 4px; margin-bottom: 0.6em; }
.beacon-referral-title { font-weight: 600; margin-top: 0; }
.beacon-error { border-left: 4px solid #dc2626; padding: 0.4em 0.8em; }
a.cite { text-decoration: none; font-size: 0.8em; vertical-align: super; padding: 0 1px; font-weight: 600; }
.beacon-source { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 0.5em 0.8em; margin-bottom: 0.6em; transition: background 0.4s; }
.beacon-source.beacon-flash { background: rgba(250, 204, 21, 0.35); outline: 2px solid #eab308; }
.beacon-source blockquote { margin: 0.4em 0 0; font-size: 0.92em; }
.beacon-source mark { background: rgba(250, 204, 21, 0.55); color: inherit; }
.beacon-n { font-weight: 700; }
.beacon-chunk { border-top: 1px solid var(--border-color-primary); padding: 0.4em 0; }
.beacon-chunk-head { font-size: 0.85em; color: var(--body-text-color-subdued); }
.beacon-chunk-text { font-size: 0.92em; }
"""

# Clicking an [n] marker: jump to that source in the panel; for an older answer whose sources
# are not shown, ask the server for them first (through the hidden #source-request box).
HEAD = """
<script>
(() => {
  const flash = (el) => {
    el.scrollIntoView({behavior: "smooth", block: "nearest"});
    el.classList.add("beacon-flash");
    setTimeout(() => el.classList.remove("beacon-flash"), 2500);
  };
  document.addEventListener("click", (event) => {
    const link = event.target.closest ? event.target.closest('a[href^="#src-"]') : null;
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const id = link.getAttribute("href").slice(1);
    const m = id.match(/^src-(\\d+)-(\\d+)$/);
    if (!m) return;
    const shown = document.getElementById(id);
    if (shown) { flash(shown); return; }
    const box = document.querySelector("#source-request textarea, #source-request input");
    if (!box) return;
    box.value = m[1] + ":" + Date.now();  // always a change, even for the same answer again
    box.dispatchEvent(new Event("input", {bubbles: true}));
    let tries = 0;
    const wait = setInterval(() => {
      const el = document.getElementById(id);
      if (el || ++tries > 50) { clearInterval(wait); if (el) flash(el); }
    }, 100);
  }, true);
})();
</script>
"""

COPY_JS = """
async (text) => {
  if (!text) return;
  try { await navigator.clipboard.writeText(text); }
  catch (e) {
    const area = document.createElement("textarea");
    area.value = text; document.body.appendChild(area); area.select();
    document.execCommand("copy"); area.remove();
  }
}
"""


def build_app(beacon, users: UserStore | None = None, feedback: FeedbackStore | None = None, workspace: Workspace | None = None) -> gr.Blocks:
    """The Blocks app. `users=None` is the single-local-admin mode (no login, loopback only)."""
    ui = BeaconUI(beacon, users, feedback, workspace)
    markdown = dict(sanitize_html=True, latex_delimiters=[])

    with gr.Blocks(title="Beacon", analytics_enabled=False, delete_cache=(3600, 86400)) as app:
        turns = gr.State([])
        feedback_turn = gr.State(None)
        with gr.Row():
            gr.Markdown("## Beacon — trafficking-prevention guidance, grounded in the library", **markdown)
            who = gr.Markdown("", elem_id="who", **markdown)
            logout = gr.Button("Log out", link="/logout", size="sm", visible=False, scale=0, min_width=90, elem_id="logout")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat", elem_id="tab-chat"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chat = gr.Chatbot(
                            label="Chat", show_label=False, height=520, elem_id="chat", buttons=[], placeholder="Ask a question about the library.",
                            feedback_options=("Like", "Dislike"), **markdown,
                        )
                        question = gr.Textbox(label="Your question", placeholder="Ask about OSCE commitments, the Palermo Protocol, prevention…", elem_id="question", max_length=2000)
                        with gr.Row():
                            send = gr.Button("Ask", variant="primary", elem_id="ask")
                            clear = gr.Button("New conversation", elem_id="new-conversation")
                            copy = gr.Button("Copy with sources", elem_id="copy-answer")
                        feedback_status = gr.Markdown("", elem_id="feedback-status", **markdown)
                        with gr.Group(visible=False, elem_id="feedback-form") as feedback_form:
                            gr.Markdown("**What was wrong with this answer?** QA reviews every report.", **markdown)
                            reason = gr.Radio(list(REASONS), label="Reason", elem_id="feedback-reason")
                            comment = gr.Textbox(label="Comment (optional)", lines=2, max_length=2000, elem_id="feedback-comment")
                            with gr.Row():
                                send_feedback = gr.Button("Send feedback", variant="primary", elem_id="send-feedback")
                                cancel_feedback = gr.Button("Cancel", elem_id="cancel-feedback")
                        gr.Examples(EXAMPLES, inputs=question)
                    with gr.Column(scale=2):
                        gr.Markdown("### Sources", **markdown)
                        sources = gr.Markdown(SOURCES_PLACEHOLDER, elem_id="sources", **markdown)
                source_request = gr.Textbox(elem_id="source-request", elem_classes=["beacon-hidden"], show_label=False, container=False)
                copy_text = gr.Textbox(elem_id="copy-text", elem_classes=["beacon-hidden"], show_label=False, container=False)

            with gr.Tab("Library", id="library", visible=False, elem_id="tab-library") as library_tab:
                with gr.Row():
                    with gr.Column():
                        files = gr.File(label="Upload documents (PDF, DOCX, HTML, Markdown, text)", file_count="multiple",
                                        file_types=[".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt", ".text"], elem_id="upload")
                        ingest_files = gr.Button("Ingest uploaded files", variant="primary", elem_id="ingest-files")
                    with gr.Column():
                        url = gr.Textbox(label="…or add a web page / PDF by URL", placeholder="https://…", elem_id="url")
                        add_url = gr.Button("Add URL", elem_id="add-url")
                ingest_summary = gr.Markdown("", elem_id="ingest-summary", **markdown)
                status = gr.Dataframe(headers=STATUS_HEADERS, label="Last ingestion", interactive=False, wrap=True, elem_id="ingest-status")
                gr.Markdown("### Documents", **markdown)
                with gr.Row():
                    search = gr.Textbox(label="Search title, source, type, year", scale=4, elem_id="doc-search")
                    refresh = gr.Button("Refresh", scale=0)
                doc_caption = gr.Markdown("", elem_id="doc-caption", **markdown)
                documents = gr.Dataframe(headers=DOC_HEADERS, label="Library", interactive=False, wrap=True, max_height=360, elem_id="documents",
                                         column_widths=["27%", "9%", "6%", "6%", "7%", "14%", "10%", "9%", "12%"])
                with gr.Row():
                    selected = gr.Dropdown(label="Selected document", choices=[], scale=4, elem_id="doc-select")
                    reingest = gr.Button("Re-ingest", scale=0, elem_id="reingest")
                    trust = gr.Button("Trust", scale=0, elem_id="trust")
                    untrust = gr.Button("Untrust", scale=0, elem_id="untrust")
                    delete = gr.Button("Delete…", variant="stop", scale=0, elem_id="delete")
                with gr.Group(visible=False, elem_id="delete-confirm") as confirm:
                    confirm_text = gr.Markdown("", **markdown)
                    with gr.Row():
                        confirm_delete = gr.Button("Delete for good", variant="stop", elem_id="confirm-delete")
                        cancel_delete = gr.Button("Cancel")
                action_status = gr.Markdown("", elem_id="action-status", **markdown)
                preview = gr.Markdown("", elem_id="chunk-preview", max_height=520, **markdown)

            with gr.Tab("Evals", id="evals", visible=False, elem_id="tab-evals") as evals_tab:
                with gr.Row():
                    dataset = gr.Dropdown(label="Dataset", choices=[], scale=3, elem_id="eval-dataset")
                    k = gr.Number(label="k (0 or empty: BEACON_TOP_K)", value=None, precision=0, scale=1, elem_id="eval-k")
                    baselines = gr.Checkbox(label="Also run the baselines", value=False, scale=1)
                with gr.Row():
                    dataset_file = gr.File(label="Upload a dataset (.jsonl)", file_types=[".jsonl"], scale=3, height=120, elem_id="eval-dataset-file")
                    run = gr.Button("Run evaluation", variant="primary", scale=1, elem_id="run-eval")
                eval_summary = gr.Markdown("", elem_id="eval-summary", **markdown)
                metrics = gr.Dataframe(headers=["metric", "beacon"], label="Metrics", interactive=False, elem_id="eval-metrics")
                with gr.Accordion("What the metrics mean", open=False):
                    definitions = gr.Markdown("", elem_id="eval-definitions", **markdown)
                plots = gr.Gallery(label="Plots", columns=2, height="auto", object_fit="contain", elem_id="eval-plots", allow_preview=True)
                report_file = gr.File(label="Full report (HTML)", interactive=False, elem_id="eval-report")

        # chat
        chat_out = [question, chat, turns, sources, copy_text, feedback_form]
        send.click(ui.ask, [question, turns], chat_out, api_name="ask")
        question.submit(ui.ask, [question, turns], chat_out, api_visibility="private")
        source_request.change(ui.show_sources, [source_request, turns], [sources], api_visibility="private", show_progress="hidden")
        cleared = [chat, turns, sources, copy_text, question, feedback_form, feedback_status]
        clear.click(ui.new_conversation, None, cleared, api_visibility="private")
        chat.clear(ui.new_conversation, None, cleared, api_visibility="private")
        copy.click(None, [copy_text], None, js=COPY_JS)
        chat.like(ui.on_like, [turns], [feedback_turn, feedback_form, feedback_status], api_visibility="private")
        send_feedback.click(ui.submit_feedback, [feedback_turn, reason, comment, turns], [feedback_turn, feedback_form, feedback_status, reason, comment], api_name="feedback")
        cancel_feedback.click(lambda: (None, gr.update(visible=False)), None, [feedback_turn, feedback_form], api_visibility="private")

        # library (writes queue one at a time: the embedded store has a single writer)
        doc_outputs = [documents, selected, doc_caption]
        ingest_outputs = [ingest_summary, status, documents, selected, doc_caption]
        ingest_files.click(ui.ingest_files, [files, search], [*ingest_outputs, files], api_name="ingest_files", concurrency_limit=1, concurrency_id="library-write")
        add_url.click(ui.add_url, [url, search], [*ingest_outputs, url], api_name="add_url", concurrency_limit=1, concurrency_id="library-write")
        url.submit(ui.add_url, [url, search], [*ingest_outputs, url], api_visibility="private", concurrency_limit=1, concurrency_id="library-write")
        search.change(ui.library_view, [search], doc_outputs, api_visibility="private", show_progress="hidden")
        refresh.click(ui.library_view, [search], doc_outputs, api_name="library_documents")
        library_tab.select(ui.library_view, [search], doc_outputs, api_visibility="private")
        documents.select(ui.select_row, None, [selected], api_visibility="private")
        selected.change(ui.preview, [selected], [preview, confirm], api_name="preview_document")
        delete.click(ui.ask_delete, [selected], [confirm, confirm_text], api_visibility="private")
        cancel_delete.click(lambda: gr.update(visible=False), None, [confirm], api_visibility="private")
        confirm_delete.click(ui.delete, [selected, search], [action_status, *doc_outputs, preview, confirm], api_name="delete_document", concurrency_limit=1, concurrency_id="library-write")
        reingest.click(ui.reingest, [selected, search], ingest_outputs, api_name="reingest_document", concurrency_limit=1, concurrency_id="library-write")
        trust_outputs = [action_status, *doc_outputs, preview]
        trust.click(ui.trust, [selected, search], trust_outputs, api_name="trust_document", concurrency_limit=1, concurrency_id="library-write")
        untrust.click(ui.untrust, [selected, search], trust_outputs, api_name="untrust_document", concurrency_limit=1, concurrency_id="library-write")

        # evals
        evals_tab.select(ui.eval_datasets, None, [dataset], api_visibility="private")
        dataset_file.upload(ui.upload_dataset, [dataset_file], [dataset], api_visibility="private")
        run.click(ui.run_evals, [dataset, k, baselines], [eval_summary, metrics, definitions, plots, report_file], api_name="run_eval", concurrency_limit=1)

        app.load(ui.on_load, None, [who, logout, library_tab, evals_tab], api_visibility="private")
    return app


# -- serving ------------------------------------------------------------------------------------
CLIENT_ADDRESS: ContextVar[str] = ContextVar("beacon_client_address", default="")
UPLOAD_PATH = "/gradio_api/upload"


class RequestGuard:
    """ASGI middleware between Gradio's server and its routes.

    Gradio's own upload endpoint takes files from any signed-in user and serves them back, so a
    trainee could store arbitrary files: it is refused to roles without an upload box. The
    caller's address (after uvicorn's trusted-proxy handling) is noted for the login throttle.
    """

    def __init__(self, app, access: Access):
        self.app = app
        self.access = access

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        noted = CLIENT_ADDRESS.set((scope.get("client") or ("",))[0])
        try:
            if scope["method"] == "POST" and scope["path"].rstrip("/").endswith(UPLOAD_PATH) and not self._may_upload(scope):
                message = f"Not allowed: uploading files needs the role {REQUIRED_ROLES['upload']}."
                return await PlainTextResponse(message, status_code=403)(scope, receive, send)
            return await self.app(scope, receive, send)
        finally:
            CLIENT_ADDRESS.reset(noted)

    def _may_upload(self, scope) -> bool:
        if self.access.users is None:
            return True
        gradio_app, cookies = scope["app"], HTTPConnection(scope).cookies
        token = cookies.get(f"access-token-{gradio_app.cookie_id}") or cookies.get(f"access-token-unsecure-{gradio_app.cookie_id}")
        name = gradio_app.tokens.get(token) if token else None
        return can(self.access.users.role_of(name), "upload")


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind_address(host: str, users: UserStore | None = None, users_path: Path | None = None) -> None:
    """Without accounts the UI is a single local admin, so it serves only this machine."""
    if users is None and not _is_loopback(host):
        where = f" (stored in {users_path})" if users_path else ""
        raise ConfigError(
            f"Refusing to serve on {host} without user accounts: anyone who can reach it would manage the library. "
            f"Create accounts first with `beacon users add NAME --role admin`{where}, or bind to 127.0.0.1."
        )


def load_users(beacon) -> tuple[UserStore | None, Path]:
    """The users store when its file has users; None means the single-local-admin mode."""
    path = users_file(beacon.settings)
    store = UserStore(path)
    return (store if store.has_users() else None), path


def launch(beacon, host: str = "127.0.0.1", port: int = 7860, block: bool = True) -> gr.Blocks:
    """Check the bind address against the accounts, warm the core up, start the server and,
    once it listens, the core's background jobs."""
    users, path = load_users(beacon)
    check_bind_address(host, users, path)
    beacon.warm_up(background=False)
    app = build_app(beacon, users=users)
    data_dir = Path(beacon.settings.data_dir).resolve()

    throttle = LoginThrottle()

    def authenticate(username: str, password: str) -> bool:
        return throttle.sign_in(users, username, password, CLIENT_ADDRESS.get()) is not None

    app.queue(default_concurrency_limit=beacon.settings.ui_concurrency)
    app.launch(
        server_name=host,
        server_port=port,
        auth=authenticate if users else None,
        auth_message="<strong>Beacon</strong>: sign in with the account your Beacon admin created (<code>beacon users add</code>).",
        prevent_thread_lock=True,
        show_error=False,
        quiet=not block,
        ssr_mode=False,
        mcp_server=False,
        enable_monitoring=False,
        footer_links=[],
        max_file_size=int(beacon.settings.max_file_mb * 1024 * 1024),
        app_kwargs={"middleware": [Middleware(RequestGuard, access=Access(users))]},
        blocked_paths=[str(data_dir), str(path.resolve())],
        theme=gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]),
        css=CSS,
        head=HEAD,
    )
    beacon.start_background_jobs()
    if block:
        app.block_thread()
    return app


def serve(beacon, host: str = "127.0.0.1", port: int = 7860) -> None:
    launch(beacon, host, port, block=True)
