"""The web UI's event handlers: check the caller's role, call the assistant, present the result.

Each public method of `BeaconUI` is one Gradio event. The role check is the `@requires`
decorator; the work is one call into the core (`beacon.<method>`, the workspace for uploaded
files, the eval runner); what comes back is turned into HTML or table rows by
`assistant.web.presenters`. Core errors (`BeaconError`) become toasts whose text says how to
fix the problem.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import gradio as gr

from assistant.answering.base import DraftDelta, Final
from assistant.app import build_feedback, build_workspace
from assistant.domain.errors import BeaconError, InvalidInput
from assistant.domain.models import Answer, IngestReport
from assistant.records.feedback import FeedbackStore
from assistant.records.uploads import Workspace, checked_url
from assistant.records.users import UserStore, can
from assistant.web import presenters as show
from assistant.web.access import Access, requires, user_error

NO_DOCUMENT = "Select a document first."
SERVED_ORIGINALS = "beacon-originals"  # folder under the system temp dir that the download button serves from


def _form_unchanged() -> tuple:
    """The dates-and-collections form left as the trainer has it (one skip per field)."""
    return tuple(gr.skip() for _ in show.version_form(None))


def core_error(exc: BeaconError) -> gr.Error:
    """A core error as a toast: its message already says what to do."""
    return user_error(str(exc))


def served_copies(out_dir: Path) -> tuple[list[tuple[str, str]], str | None]:
    """An eval run's plots (with captions) and HTML report, copied to a temp folder for Gradio
    to serve: the data dir itself is never served."""
    shown = Path(tempfile.mkdtemp(prefix="beacon-eval-"))
    plots = [(str(shutil.copy(png, shown / png.name)), png.stem.replace("_", " ")) for png in sorted(out_dir.glob("*.png"))]
    report_file = out_dir / "report.html"
    return plots, (str(shutil.copy(report_file, shown / "report.html")) if report_file.is_file() else None)


def served_original(original: Path, doc_id: str) -> str:
    """A document's kept original, copied (once per content) to a temp folder for the download
    button, named after the document: the data dir itself is never served."""
    folder = Path(tempfile.gettempdir()) / SERVED_ORIGINALS / original.stem[:32]
    served = folder / f"{doc_id}{original.suffix}"
    if not served.is_file():
        folder.parent.mkdir(mode=0o700, exist_ok=True)  # originals may be internal: not for other local users
        folder.mkdir(mode=0o700, exist_ok=True)
        copy = folder / f".{served.name}.{os.getpid()}.tmp"
        shutil.copyfile(original, copy)
        os.replace(copy, served)
    return str(served)


class BeaconUI:
    """The event handlers. Each checks the caller's role, calls the core once, formats the result."""

    def __init__(self, beacon, users: UserStore | None = None, feedback: FeedbackStore | None = None, workspace: Workspace | None = None):
        self.beacon = beacon
        self.access = Access(users)
        self.feedback = feedback or build_feedback(beacon.settings)
        self.workspace = workspace or build_workspace(beacon.settings)

    # chat
    def on_load(self, request: gr.Request):
        """Who is signed in, and the tabs their role may use."""
        name, role = self.access.identify(request)
        local = self.access.users is None
        return (
            show.format_who(name, role, local),
            gr.update(visible=not local),
            gr.update(visible=can(role, "library")),
            gr.update(visible=can(role, "evals")),
        )

    @requires("chat")
    def ask(self, question: str, turns: list, request: gr.Request, collection: str | None = None):
        """Show the question at once, then the answer, its sources and its copyable text; with a
        `collection` picked, the answer comes only from that collection's documents."""
        turns = list(turns or [])
        filters = {"collection": collection} if collection else None
        question = (question or "").strip()
        if not question:
            yield (gr.skip(),) * 6
            return
        yield "", show.chat_messages(turns, pending=question), gr.skip(), gr.skip(), gr.skip(), gr.update(visible=False)
        try:
            card, draft = "", ""
            for event in self.beacon.ask_stream(question, filters=filters, history=show.conversation(turns), user=self.access.user(request)):
                if isinstance(event, Final):
                    answer = event.answer
                    break
                if isinstance(event, DraftDelta):
                    draft += event.text
                else:
                    card = show.format_referral_card(Answer(question=question, answer="", refused=False, referral=event.referral))
                pending = card + (show.format_draft(draft) if draft else show.SEARCHING)
                yield gr.skip(), show.chat_messages(turns, pending=question, pending_answer=pending), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        except BeaconError as exc:
            turns.append({"question": question, "answer": None, "error": str(exc)})
            yield "", show.chat_messages(turns), turns, show.SOURCES_PLACEHOLDER, "", gr.update(visible=False)
            return
        turns.append({"question": question, "answer": answer, "error": None})
        turn = len(turns) - 1
        yield "", show.chat_messages(turns), turns, show.format_sources(answer, turn), show.format_copy_text(answer), gr.update(visible=False)

    @requires("chat")
    def collections(self, request: gr.Request, selected: str | None = None):
        """The chat's collection picker: the whole library, then each collection trainers made."""
        try:
            choices = show.collection_choices(self.beacon.collections())
        except BeaconError as exc:
            raise core_error(exc) from exc
        kept = selected if selected in {value for _, value in choices} else ""
        return gr.update(choices=choices, value=kept)

    @requires("chat")
    def show_sources(self, requested: str, turns: list, request: gr.Request):
        """The sources of an earlier answer, when one of its markers is clicked."""
        turn = (requested or "").split(":")[0]
        answer = show.turn_answer(turns, turn)
        return show.format_sources(answer, int(turn)) if answer else gr.skip()

    @requires("chat")
    def new_conversation(self, request: gr.Request):
        return [], [], show.SOURCES_PLACEHOLDER, "", "", gr.update(visible=False), ""

    # source viewer (chat and library)
    @requires("chat")
    def viewer_choices(self, turns: list, request: gr.Request):
        """The [n] selector: the citations of the latest answer."""
        turn = len(turns or []) - 1
        return gr.update(choices=show.citation_choices(show.turn_answer(turns, turn), turn), value=None)

    @requires("chat")
    def open_citation(self, requested: str, turns: list, request: gr.Request):
        """Open citation "turn:n" of the conversation in the viewer. Only what an answer cited
        can be opened here: the citation is looked up in the server-held conversation."""
        turn, _, rest = (requested or "").partition(":")
        target = show.citation_target(show.turn_answer(turns, turn), rest.partition(":")[0])
        return self._view(target, request) if target else (gr.skip(),) * 4

    @requires("chat")
    def previous_page(self, state: dict | None, request: gr.Request):
        return self._turn_page(state, -1, request)

    @requires("chat")
    def next_page(self, state: dict | None, request: gr.Request):
        return self._turn_page(state, 1, request)

    @requires("library")
    def view_document(self, doc_id: str | None, request: gr.Request):
        """A library document in the viewer: its first page, or the start of its text."""
        if not doc_id:
            return show.VIEWER_PLACEHOLDER, None, gr.update(visible=False), gr.update(visible=False)
        try:
            document = self.beacon.document(doc_id)
        except BeaconError as exc:
            raise core_error(exc) from exc
        if document is None:
            raise user_error(NO_DOCUMENT, title="Library")
        return self._view({"doc_id": doc_id, "title": document.title or show.display_source(document.source), "page": None, "quotes": [], "spans": []}, request)

    def _turn_page(self, state: dict | None, step: int, request: gr.Request):
        if not state or not state.get("pages"):
            return (gr.skip(),) * 4
        page = min(max(1, int(state["page"]) + step), int(state["pages"]))
        return self._view({**state, "page": page}, request) if page != state["page"] else (gr.skip(),) * 4

    def _view(self, target: dict, request: gr.Request):
        """(viewer HTML, viewer state, previous/next row, download button) for a target: a PDF
        page image with the quote highlighted, else the stored text with the quote marked."""
        doc_id, title = target["doc_id"], target["title"]
        state, html = {**target, "pages": None}, None
        try:
            rendered = self.beacon.render_page(doc_id, int(target.get("page") or 1), target.get("quotes") or [])
            state.update(page=rendered.page, pages=rendered.pages)
            html = show.format_page_view(title, rendered.png, rendered.page, rendered.pages, rendered.highlights, bool(target.get("quotes")))
        except InvalidInput:
            pass  # not a PDF: shown as text
        except BeaconError:
            pass  # the original is not kept (an older ingest) or has no such page: its text is still shown
        if html is None:
            try:
                text = self.beacon.document_text(doc_id)
                where = f"page {target['page']}" if target.get("page") else ""
                html = show.format_text_view(title, text, target.get("spans") or [], where)
            except BeaconError as exc:
                html = show.format_viewer_error(str(exc))
        return html, state, gr.update(visible=bool(state["pages"])), self._download(doc_id, request)

    def _download(self, doc_id: str, request: gr.Request):
        """The original's download button, for the roles that may download originals (the library's)."""
        _, role = self.access.identify(request)
        if not can(role, "library"):
            return gr.update(visible=False, value=None)
        try:
            return gr.update(visible=True, value=served_original(self.beacon.original_file(doc_id), doc_id))
        except (BeaconError, OSError):
            return gr.update(visible=False, value=None)

    # feedback
    @requires("feedback")
    def on_like(self, turns: list, data: gr.LikeData, request: gr.Request):
        """👍 is stored at once; 👎 opens the form that asks why."""
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        turn = int(index) // 2
        answer = show.turn_answer(turns, turn)
        if answer is None or data.liked not in (True, False):
            return gr.skip(), gr.skip(), gr.skip()
        if data.liked is True:
            self.feedback.record(answer, "up", user=self.access.user(request))
            return None, gr.update(visible=False), "Thanks, your rating was recorded."
        return turn, gr.update(visible=True), ""

    @requires("feedback")
    def submit_feedback(self, turn, reason: str, comment: str, turns: list, request: gr.Request):
        answer = show.turn_answer(turns, turn)
        if answer is None:
            raise user_error("Pick an answer first: click the thumbs-down under it.", title="Feedback")
        try:
            self.feedback.record(answer, "down", reason=reason, comment=comment, user=self.access.user(request))
        except BeaconError as exc:
            raise core_error(exc) from exc
        return None, gr.update(visible=False), "Thanks, your report was recorded for QA review.", None, ""

    # library
    @requires("library")
    def library_view(self, query: str, request: gr.Request):
        return self._documents(query)

    def _documents(self, query: str = "", selected: str | None = None):
        """The library table, the dropdown (keeping `selected` if still shown), the caption and
        the dates-and-collections form: left as it is while its document stays selected,
        emptied in the same response when the selection goes. (Loading the form on every change
        of the dropdown instead raced with the row click: a late empty or reloaded form could
        overwrite what the trainer had just typed.)"""
        try:
            documents = self.beacon.list_documents()
        except BeaconError as exc:
            raise core_error(exc) from exc
        shown = show.filter_documents(documents, query)
        kept = selected if selected in {d.doc_id for d in shown} else None
        form = _form_unchanged() if kept else show.version_form(None)
        return show.documents_table(shown), gr.update(choices=show.document_choices(shown), value=kept), show.library_caption(shown, len(documents)), *form

    def _ingest(self, inputs: list[str], progress: gr.Progress, actor: str) -> list[IngestReport]:
        if not inputs:
            return []
        progress((0, len(inputs)), desc="Starting")

        def on_progress(done: int, total: int, report: IngestReport) -> None:
            progress((done, total), desc=f"{report.status}: {show.display_source(report.source)[:60]}")

        try:
            reports = self.beacon.ingest(inputs, on_progress, actor=actor)
        except BeaconError as exc:
            raise core_error(exc) from exc
        if any(r.status in ("added", "updated") for r in reports):
            self.beacon.start_background_jobs()  # the multilingual index follows the library (a vote for English questions too)
        return reports

    def _ingest_view(self, reports: list[IngestReport], query: str, selected: str | None = None):
        return show.summarize_reports(reports), show.status_table(reports), *self._documents(query, selected)

    @requires("library")
    def ingest_files(self, files: list | None, query: str, request: gr.Request, progress=gr.Progress()):
        """Save the uploads under <data_dir>/uploads with safe, distinct names, then ingest them;
        an upload that fails is removed again (or the version it replaced put back)."""
        if not files:
            raise user_error("Choose one or more files to upload first.", title="Library")
        uploads, failed = [], []
        for f in files:
            uploaded = Path(getattr(f, "name", None) or str(f))
            try:
                uploads.append(self.workspace.save_upload(uploaded.name, uploaded))
            except (BeaconError, OSError) as exc:
                failed.append(IngestReport(source=uploaded.name, status="failed", error=str(exc)))
        reports = []
        try:
            reports = self._ingest([str(u.path) for u in uploads], progress, self.access.user(request))
        finally:
            status = {r.source: r.status for r in reports}
            for upload in uploads:
                self.workspace.settle_upload(upload, ingested=status.get(str(upload.path), "failed") != "failed")
        return (*self._ingest_view(failed + reports, query), None)

    @requires("library")
    def add_url(self, url: str, query: str, request: gr.Request, progress=gr.Progress()):
        try:
            url = checked_url(url)
        except InvalidInput as exc:
            raise core_error(exc) from exc
        return (*self._ingest_view(self._ingest([url], progress, self.access.user(request)), query), "")

    @requires("library")
    def preview(self, doc_id: str | None, request: gr.Request):
        if not doc_id:
            return "", gr.update(visible=False)
        try:
            chunks = self.beacon.document_chunks(doc_id)
            document = self.beacon.document(doc_id)
        except BeaconError as exc:
            raise core_error(exc) from exc
        return show.format_chunks(document, chunks), gr.update(visible=False)

    @requires("library")
    def select_row(self, data: gr.SelectData, request: gr.Request):
        """The clicked row's document and its form, in one response."""
        row = getattr(data, "row_value", None) or []
        if not row:
            return gr.skip(), *_form_unchanged()
        return row[-1], *self.version_fields(row[-1], request)

    @requires("library")
    def ask_delete(self, doc_id: str | None, request: gr.Request):
        if not doc_id:
            raise user_error(NO_DOCUMENT, title="Library")
        return gr.update(visible=True), show.format_delete_question(doc_id)

    @requires("library")
    def delete(self, doc_id: str | None, query: str, request: gr.Request):
        if not doc_id:
            raise user_error(NO_DOCUMENT, title="Library")
        try:
            removed, chunks = self.beacon.remove_document(doc_id, actor=self.access.user(request))
        except BeaconError as exc:
            raise core_error(exc) from exc
        return f"Removed {removed} ({chunks} chunks).", *self._documents(query), "", gr.update(visible=False)

    @requires("library")
    def trust(self, doc_id: str | None, query: str, request: gr.Request):
        """Vouch for the selected document: its flagged passages may then be quoted."""
        return self._set_trusted(doc_id, True, query, request)

    @requires("library")
    def untrust(self, doc_id: str | None, query: str, request: gr.Request):
        return self._set_trusted(doc_id, False, query, request)

    def _set_trusted(self, doc_id: str | None, trusted: bool, query: str, request: gr.Request):
        if not doc_id:
            raise user_error(NO_DOCUMENT, title="Library")
        try:
            self.beacon.set_trusted(doc_id, trusted, actor=self.access.user(request))
        except BeaconError as exc:
            raise core_error(exc) from exc
        preview, _ = self.preview(doc_id, request)
        return show.format_trust_change(doc_id, trusted), *self._documents(query, selected=doc_id), preview

    @requires("library")
    def version_fields(self, doc_id: str | None, request: gr.Request):
        """The selected document's status, relations, date and collections, for the form."""
        document = self.beacon.document(doc_id) if doc_id else None
        return show.version_form(document)

    @requires("library")
    def set_versions(self, doc_id: str | None, status: str | None, supersedes: str, amends: str, valid_from: str, collections: str, query: str, request: gr.Request):
        """Save the form as `beacon docs set` does: validated in the core (a bad value is a toast
        and nothing is stored), journaled as the signed-in trainer."""
        if not doc_id:
            raise user_error(NO_DOCUMENT, title="Library")
        fields = {"supersedes": supersedes or "", "amends": amends or "", "valid_from": valid_from or "", "collections": collections or ""}
        if status:
            fields["status"] = status
        try:
            self.beacon.set_document(doc_id, fields, actor=self.access.user(request))
            document = self.beacon.document(doc_id)
        except BeaconError as exc:
            raise core_error(exc) from exc
        return show.format_version_change(doc_id, document), *self._documents(query, selected=doc_id)

    @requires("library")
    def reingest(self, doc_id: str | None, query: str, request: gr.Request, progress=gr.Progress()):
        """Ingest a document again from its source (unchanged bytes are skipped by the core)."""
        document = self.beacon.document(doc_id) if doc_id else None
        if document is None:
            raise user_error(NO_DOCUMENT, title="Library")
        return self._ingest_view(self._ingest([document.source], progress, self.access.user(request)), query, selected=doc_id)

    # evals
    @requires("evals")
    def eval_datasets(self, request: gr.Request, selected: str | None = None):
        try:
            from evals.runner import default_dataset

            default = Path(default_dataset())
        except ImportError:
            default = None
        paths = self.workspace.eval_datasets(default)
        choices = [(show.dataset_label(p, self.workspace.eval_datasets_dir), str(p)) for p in paths]
        value = selected if selected in {str(p) for p in paths} else (str(paths[0]) if paths else None)
        return gr.update(choices=choices, value=value)

    @requires("evals")
    def upload_dataset(self, file, request: gr.Request):
        if not file:
            return gr.skip()
        uploaded = Path(getattr(file, "name", None) or str(file))
        try:
            saved = self.workspace.save_eval_dataset(uploaded.name, uploaded)
        except BeaconError as exc:
            raise core_error(exc) from exc
        return self.eval_datasets(request, selected=str(saved))

    @requires("evals")
    def run_evals(self, dataset: str | None, k, baselines: bool, request: gr.Request, progress=gr.Progress()):
        try:
            from evals.runner import default_dataset, run_eval
        except ImportError as exc:
            raise user_error(f"The eval suite is not available here ({exc}); install Beacon with its evals package.", title="Evals") from exc
        allowed = {str(p) for p in self.workspace.eval_datasets(Path(default_dataset()))}
        if not dataset or dataset not in allowed:
            raise user_error("Choose one of the listed datasets (or upload a .jsonl dataset).", title="Evals")
        dataset_path = Path(dataset)
        out_dir = self.workspace.new_eval_run(dataset_path)
        progress(None, desc=f"Evaluating {dataset_path.name}")
        try:
            report = run_eval(self.beacon, dataset_path, out_dir, k=int(k) if k else None, baselines=bool(baselines))
        except BeaconError as exc:
            raise core_error(exc) from exc
        plots, download = served_copies(out_dir)
        return (
            show.format_eval_summary(report, dataset_path, out_dir), show.eval_metric_table(report),
            show.format_metric_definitions(report), plots, download,
        )
