"""Beacon's web UI (Gradio): chat for trainees, the library for trainers, evaluations for QA.

This module only lays the page out and wires events to the handlers; the parts live in
`assistant.web`: `handlers.BeaconUI` (check role → call the core → present), `presenters`
(HTML and tables), `access` (`@requires`, over `assistant.records.users.CAPABILITIES`), `guard`
(bind address, upload endpoint, sign-in throttle) and `static/` (CSS and JavaScript).

Safety rules the code keeps:
- Every handler checks the caller's role on the server (`@requires`); hiding a tab is only a
  convenience. Without a users file the UI is a single local admin and may only bind to a
  loopback address (`check_bind_address`).
- Document and answer text is escaped before it is rendered (`presenters.escape_text`,
  `presenters.html_text`), and every Markdown component keeps `sanitize_html=True` as a
  second line of defence.
- Browser-supplied file names go through `assistant.records.uploads`, and the URL box accepts
  only http(s) URLs, so neither can reach files on the server.
- Gradio's own upload endpoint is closed to roles without an upload box (`RequestGuard`), and
  failed sign-ins are throttled per account and per address (`authenticator`).
"""

from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from assistant.app import build_users
from assistant.records.feedback import REASONS, FeedbackStore
from assistant.records.uploads import Workspace
from assistant.records.users import UserStore
from assistant.web import asset
from assistant.web.access import Access
from assistant.web.guard import RequestGuard, authenticator, check_bind_address
from assistant.web.handlers import BeaconUI
from assistant.web.presenters import DOC_HEADERS, SOURCES_PLACEHOLDER, STATUS_HEADERS, VIEWER_PLACEHOLDER, WHOLE_LIBRARY

EXAMPLES = [
    "What did the 24th Alliance conference focus on?",
    "What are the 3 Ps of the OSCE Action Plan?",
    "How does the Palermo Protocol define trafficking in persons?",
]


def page_head() -> str:
    """The page's <head> additions: the [n]-marker script (static/beacon.js)."""
    return f"<script>\n{asset('beacon.js')}</script>\n"


def viewer_panel(ui: BeaconUI, prefix: str, markdown: dict) -> list:
    """The source viewer (a PDF page with the quote highlighted, or the text with it marked),
    its previous/next page buttons and the original's download; returns the handlers' outputs."""
    shown = gr.Markdown(VIEWER_PLACEHOLDER, elem_id=f"{prefix}viewer", max_height=640, **markdown)
    state = gr.State(None)
    with gr.Row(visible=False) as nav:
        previous = gr.Button("◀ Previous page", size="sm", elem_id=f"{prefix}viewer-previous")
        following = gr.Button("Next page ▶", size="sm", elem_id=f"{prefix}viewer-next")
    download = gr.DownloadButton("Download the original", visible=False, size="sm", elem_id=f"{prefix}viewer-download")
    outputs = [shown, state, nav, download]
    previous.click(ui.previous_page, [state], outputs, api_visibility="private")
    following.click(ui.next_page, [state], outputs, api_visibility="private")
    return outputs


def build_app(beacon, users: UserStore | None = None, feedback: FeedbackStore | None = None, workspace: Workspace | None = None) -> gr.Blocks:
    """The Blocks app. `users=None` is the single-local-admin mode (no login, loopback only)."""
    ui = BeaconUI(beacon, users, feedback, workspace)
    markdown = {"sanitize_html": True, "latex_delimiters": []}

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
                        collection = gr.Dropdown(label="Answer from", choices=[(WHOLE_LIBRARY, "")], value="", elem_id="collection-pick")
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
                        sources = gr.Markdown(SOURCES_PLACEHOLDER, elem_id="sources", max_height=320, **markdown)
                        pick = gr.Dropdown(label="Open a source of the latest answer", choices=[], elem_id="viewer-pick")
                        viewer = viewer_panel(ui, "", markdown)
                source_request = gr.Textbox(elem_id="source-request", elem_classes=["beacon-hidden"], show_label=False, container=False)
                viewer_request = gr.Textbox(elem_id="viewer-request", elem_classes=["beacon-hidden"], show_label=False, container=False)
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
                                         column_widths=["23%", "8%", "5%", "11%", "5%", "6%", "13%", "9%", "9%", "11%"])
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
                with gr.Accordion("Dates and collections of the selected document", open=True, elem_id="versions"):
                    with gr.Row():
                        status_pick = gr.Dropdown(label="Status", choices=[("in force", "in_force"), ("superseded", "superseded"), ("historical", "historical")], value=None, elem_id="version-status")
                        valid_from = gr.Textbox(label="Valid from (YYYY, YYYY-MM or YYYY-MM-DD)", elem_id="version-valid-from")
                        in_collections = gr.Textbox(label="Collections (comma-separated)", elem_id="version-collections")
                    with gr.Row():
                        supersedes = gr.Textbox(label="Supersedes (doc ids or symbols, comma-separated)", elem_id="version-supersedes")
                        amends = gr.Textbox(label="Amends (doc ids or symbols, comma-separated)", elem_id="version-amends")
                        save_versions = gr.Button("Save dates and collections", scale=0, elem_id="save-versions")
                action_status = gr.Markdown("", elem_id="action-status", **markdown)
                with gr.Row():
                    preview = gr.Markdown("", elem_id="chunk-preview", max_height=640, **markdown)
                    with gr.Column():
                        library_viewer = viewer_panel(ui, "library-", markdown)

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
        send.click(ui.ask, [question, turns, collection], chat_out, api_name="ask").then(ui.viewer_choices, [turns], [pick], api_visibility="private")
        question.submit(ui.ask, [question, turns, collection], chat_out, api_visibility="private").then(ui.viewer_choices, [turns], [pick], api_visibility="private")
        viewer_request.change(ui.open_citation, [viewer_request, turns], viewer, api_visibility="private", show_progress="hidden")
        pick.input(ui.open_citation, [pick, turns], viewer, api_visibility="private")
        closed = (VIEWER_PLACEHOLDER, None, gr.update(visible=False), gr.update(visible=False), gr.update(choices=[], value=None))
        source_request.change(ui.show_sources, [source_request, turns], [sources], api_visibility="private", show_progress="hidden")
        cleared = [chat, turns, sources, copy_text, question, feedback_form, feedback_status]
        clear.click(ui.new_conversation, None, cleared, api_visibility="private").then(lambda: closed, None, [*viewer, pick], api_visibility="private")
        chat.clear(ui.new_conversation, None, cleared, api_visibility="private").then(lambda: closed, None, [*viewer, pick], api_visibility="private")
        collection.focus(ui.collections, [collection], [collection], api_visibility="private")
        copy.click(None, [copy_text], None, js=asset("copy.js"))
        chat.like(ui.on_like, [turns], [feedback_turn, feedback_form, feedback_status], api_visibility="private")
        send_feedback.click(ui.submit_feedback, [feedback_turn, reason, comment, turns], [feedback_turn, feedback_form, feedback_status, reason, comment], api_name="feedback")
        cancel_feedback.click(lambda: (None, gr.update(visible=False)), None, [feedback_turn, feedback_form], api_visibility="private")

        # library (writes queue one at a time: the embedded store has a single writer)
        version_form = [status_pick, supersedes, amends, valid_from, in_collections]
        doc_outputs = [documents, selected, doc_caption, *version_form]  # the form empties when the selection goes
        ingest_outputs = [ingest_summary, status, *doc_outputs]
        ingest_files.click(ui.ingest_files, [files, search], [*ingest_outputs, files], api_name="ingest_files", concurrency_limit=1, concurrency_id="library-write")
        add_url.click(ui.add_url, [url, search], [*ingest_outputs, url], api_name="add_url", concurrency_limit=1, concurrency_id="library-write")
        url.submit(ui.add_url, [url, search], [*ingest_outputs, url], api_visibility="private", concurrency_limit=1, concurrency_id="library-write")
        search.change(ui.library_view, [search], doc_outputs, api_visibility="private", show_progress="hidden")
        refresh.click(ui.library_view, [search], doc_outputs, api_name="library_documents")
        library_tab.select(ui.library_view, [search], doc_outputs, api_visibility="private")
        documents.select(ui.select_row, None, [selected, *version_form], api_visibility="private")  # one response: no late form
        selected.change(ui.preview, [selected], [preview, confirm], api_name="preview_document")
        selected.change(ui.view_document, [selected], library_viewer, api_name="view_document")
        selected.input(ui.version_fields, [selected], version_form, api_visibility="private")  # a pick in the dropdown itself
        save_versions.click(ui.set_versions, [selected, *version_form, search], [action_status, *doc_outputs], api_name="set_document",
                            concurrency_limit=1, concurrency_id="library-write")
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
        app.load(ui.collections, None, [collection], api_visibility="private")
    return app


# -- serving ------------------------------------------------------------------------------------
def load_users(beacon) -> tuple[UserStore | None, Path]:
    """The users store when its file has users; None means the single-local-admin mode."""
    store = build_users(beacon.settings)
    return (store if store.has_users() else None), beacon.settings.paths.users


def launch(beacon, host: str = "127.0.0.1", port: int = 7860, block: bool = True) -> gr.Blocks:
    """Check the bind address against the accounts, warm the core up, start the server and,
    once it listens, the core's background jobs."""
    users, path = load_users(beacon)
    check_bind_address(host, users, path)
    beacon.warm_up(background=False)
    app = build_app(beacon, users=users)
    data_dir = Path(beacon.settings.data_dir).resolve()
    app.queue(default_concurrency_limit=beacon.settings.ui_concurrency)
    app.launch(
        server_name=host,
        server_port=port,
        auth=authenticator(users) if users else None,
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
        css=asset("beacon.css"),
        head=page_head(),
    )
    beacon.start_background_jobs()
    if block:
        app.block_thread()
    return app


def serve(beacon, host: str = "127.0.0.1", port: int = 7860) -> None:
    launch(beacon, host, port, block=True)
