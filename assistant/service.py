"""The Assistant: the use cases Beacon offers (ask, ingest, list, remove), over its parts.

It receives every part from the composition root (`assistant.app.build_assistant`) and
holds no logic of its own beyond timing and input validation.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.answering.base import Event, Final, ReferralShown, final_answer
from assistant.answering.extractive import ExtractiveAnswerer
from assistant.answering.newer import cite_newer
from assistant.answering.referral import ReferralTable, referral_for
from assistant.answering.retriever import HybridRetriever, Retrieval
from assistant.answering.timeline import asks_about_past, flag_outdated
from assistant.domain.errors import InvalidInput, NotFound
from assistant.domain.models import Answer, DocumentSummary, IngestReport, Passage, parse_page_starts
from assistant.domain.poison import FLAGS_FIELD, flag_reasons
from assistant.domain.settings import Settings
from assistant.library import pdfpages
from assistant.library.catalogue import LexicalIndex
from assistant.library.embedder import Embedder
from assistant.library.reader import BulkLoader, LibraryReader
from assistant.library.store import ChunkStore
from assistant.records.journal import AuditLog, ChatLog
from ingest.pipeline import Ingestor, ProgressCallback

if TYPE_CHECKING:
    from assistant.answering.followup import FollowUpRewriter
    from assistant.answering.generative import GenerativeAnswerer

MAX_QUESTION_CHARS = 2000
PASSAGE_CONTEXT = 300  # characters shown before and after a passage
MAX_HISTORY = 50
ROLES = ("user", "assistant", "system")


class Assistant:
    def __init__(
        self,
        settings: Settings,
        store: ChunkStore,
        embedder: Embedder,
        lexical: LexicalIndex,
        retriever: HybridRetriever,
        answerer: ExtractiveAnswerer | GenerativeAnswerer,
        ingestor: Ingestor,
        rewriter: FollowUpRewriter,
    ):
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.lexical = lexical
        self.retriever = retriever
        self.answerer = answerer
        self.ingestor = ingestor
        self.rewriter = rewriter

    def ask(
        self,
        question: str,
        k: int | None = None,
        filters: dict[str, Any] | None = None,
        history: list[dict[str, str]] | None = None,
        user: str | None = None,
        min_confidence: float | None = None,
    ) -> Answer:
        """Answer a question; with `history` ([{role, content}, …], oldest first) a follow-up
        such as "and for children?" is made standalone before retrieval. A question that
        discloses danger gets a referral card (`answer.referral`) whatever the library says.
        `min_confidence` overrides the grounding decision's threshold for this question (0:
        never refuse for lack of confidence; QA uses it to see what would have been said)."""
        return final_answer(self.ask_stream(question, k, filters, history, user, min_confidence))

    def ask_stream(
        self,
        question: str,
        k: int | None = None,
        filters: dict[str, Any] | None = None,
        history: list[dict[str, str]] | None = None,
        user: str | None = None,
        min_confidence: float | None = None,
    ) -> Iterator[Event]:
        """`ask`, as events for a chat: `ReferralShown` first (when the question discloses
        danger), then `DraftDelta`s as a generative answerer writes (unverified, to be shown
        as provisional), then one `Final` with the verified `Answer`. The extractive
        answerer has no draft."""
        question = " ".join((question or "").split())
        if not question:
            raise InvalidInput("The question is empty; type a question about the library.")
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidInput(f"The question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}.")
        k = k or self.settings.top_k
        if not 1 <= k <= 50:
            raise InvalidInput(f"k must be between 1 and 50, not {k}.")
        history = _checked_history(history)
        if filters and filters.get("collection") and not self.lexical.snapshot().collection_members(filters["collection"]):
            raise InvalidInput(f"No collection {filters['collection']!r} in the library; `beacon docs collections` lists them.")
        referral = referral_for(question, self.referrals)
        if referral is not None:
            yield ReferralShown(referral)
        start = time.perf_counter()
        standalone = self.rewriter.rewrite(question, history) if history else question
        rewritten_at = time.perf_counter()
        retrieval = self.retriever.retrieve(standalone, k, filters)
        retrieved_at = time.perf_counter()
        if min_confidence is not None and not 0 <= min_confidence <= 1:
            raise InvalidInput(f"min_confidence must be between 0 and 1, not {min_confidence}.")
        answer = None
        for event in self.answerer.stream(retrieval, min_confidence):
            if isinstance(event, Final):
                answer = event.answer
            else:
                yield event
        if answer is None:
            raise RuntimeError(f"the {self.answerer.name} answerer's stream ended without a Final event")
        done = time.perf_counter()
        answer.question = question  # as asked; the standalone form only steers retrieval and the answer
        documents = self.lexical.snapshot().documents()
        if not asks_about_past(standalone):
            cite_newer(answer, documents, lambda text, ids: self._passages_of(text, ids, filters), self.embedder.embed, standalone)
        flag_outdated(answer, documents)
        answer.timings_ms = {
            "retrieve": round((retrieved_at - rewritten_at) * 1000, 1),
            "answer": round((done - retrieved_at) * 1000, 1),
            "total": round((done - start) * 1000, 1),
        }
        if history:
            answer.timings_ms["rewrite"] = round((rewritten_at - start) * 1000, 1)
        answer.referral = referral
        if self.chat_log is not None:
            self.chat_log.record(user or _local_actor(), question, answer.answer, answer.refused, [c.source for c in answer.citations])
        yield Final(answer)

    def _passages_of(self, text: str, doc_ids: list[str], filters: dict[str, Any] | None, k: int = 3) -> list:
        """The best passages for `text` among these documents, within the question's filters
        (its collection too): where `cite_newer` looks for a newer version's wording."""
        filters = dict(filters or {})
        if filters.get("collection"):
            members = set(self.lexical.snapshot().collection_members(filters.pop("collection")))
            doc_ids = [d for d in doc_ids if d in members]
        if filters.get("doc_id"):
            wanted = filters.pop("doc_id")
            doc_ids = [d for d in doc_ids if d in (wanted if isinstance(wanted, (list, tuple)) else [wanted])]
        if not doc_ids:
            return []
        return self.retriever.retrieve(text, k, {**filters, "doc_id": doc_ids}).hits

    def retrieve(self, question: str, k: int | None = None, filters: dict[str, Any] | None = None) -> Retrieval:
        """The passages `ask` would answer from (hybrid BM25 + dense, with their scores), for
        evaluation and inspection; nothing is answered or logged."""
        question = " ".join((question or "").split())
        if not question:
            raise InvalidInput("The question is empty; type a question about the library.")
        return self.retriever.retrieve(question, k or self.settings.top_k, filters)

    def answer_from(self, retrieval: Retrieval, min_confidence: float | None = None) -> Answer:
        """The configured answerer's answer to a retrieval (what `ask` does after retrieving)."""
        return self.answerer.answer(retrieval, min_confidence)

    @property
    def answerer_name(self) -> str:
        """`extractive`, `llamacpp` or `openai`: which answerer `ask` uses."""
        return self.answerer.name

    def chunk_count(self) -> int:
        """How many chunks the library holds."""
        return self.store.count()

    @property
    def library_location(self) -> str:
        """Where the library is stored: a folder, or the Chroma server's address."""
        return self.store.location

    def reader(self) -> LibraryReader:
        """Read-only access to the library's chunks, vectors and BM25, for pipelines that
        answer differently from `ask` (the eval baselines) and for benchmarks."""
        return LibraryReader(self.store, self.embedder, self.lexical)

    def bulk_loader(self) -> BulkLoader:
        """Write chunks embedded elsewhere (benchmarks, migrations) without re-embedding them."""
        return BulkLoader(self.store, self.lexical)

    def multilingual_ready(self) -> bool:
        """Whether the multilingual-e5 index covers the whole library (False when it is off)."""
        index = self.retriever.crosslingual
        return index is not None and index.ready()

    @cached_property
    def referrals(self) -> ReferralTable:
        if self.settings.referrals_file:
            return ReferralTable.load(self.settings.referrals_file)
        return ReferralTable.shipped()

    @cached_property
    def chat_log(self) -> ChatLog | None:
        if not self.settings.chat_log:
            return None
        return ChatLog(self.settings.paths.chat_log, self.settings.chat_log_retention_days)

    @cached_property
    def audit_log(self) -> AuditLog:
        return AuditLog(self.settings.paths.audit_log)

    def ingest(
        self, inputs: list[str], on_progress: ProgressCallback | None = None, actor: str | None = None, stated: dict[str, dict] | None = None,
    ) -> list[IngestReport]:
        """Add or update documents; each is audited with its own write (as `actor`, by default
        the local user), so a batch killed half-way leaves no stored document unaudited.
        `stated` maps a source to the version fields a sources manifest gives it
        (`ingest.manifest.manifest_versions`); they are set, as `set_document` would, on the
        documents ingested from those sources."""
        actor = actor or _local_actor()
        reports = self.ingestor.ingest(inputs, on_progress, actor)
        changed = any(r.status in ("added", "updated") for r in reports)
        for report in reports:
            if report.doc_id and report.status != "failed" and (stated or {}).get(report.source):
                changed |= any(c for _, c in self.ingestor.set_versions(report.doc_id, stated[report.source], actor))
        if changed:
            self.lexical.ensure_current()  # rebuild BM25 now rather than on the next question
        return reports

    def list_documents(self) -> list[DocumentSummary]:
        self.store.refresh()  # a change a killed writer left pending is settled first
        return self.store.list_documents()

    def document(self, doc_id: str) -> DocumentSummary | None:
        """One document's summary by id (None when the library has no such document)."""
        return next((d for d in self.list_documents() if d.doc_id == doc_id), None)

    def remove_document(self, doc_id_or_source: str, actor: str | None = None) -> tuple[str, int]:
        return self.ingestor.remove(doc_id_or_source, actor or _local_actor())

    def set_trusted(self, doc_id_or_source: str, trusted: bool = True, actor: str | None = None) -> list[tuple[str, bool]]:
        """Mark documents (id, source, or the folder they came from) trusted, so their flagged
        passages may be quoted, or untrusted: (doc_id, whether it changed) per document."""
        changes = self.ingestor.trust(doc_id_or_source, trusted, actor or _local_actor())
        if any(changed for _, changed in changes):
            self.lexical.ensure_current()
        return changes

    def set_document(self, doc_id_or_source: str, fields: dict[str, Any], actor: str | None = None) -> list[tuple[str, bool]]:
        """Set a document's status (`in_force`, `superseded`, `historical`), what it supersedes
        or amends, when it took effect, or its collections (`assistant.domain.versions`); a
        bad value is an InvalidInput and nothing is stored. (doc_id, changed) per document."""
        changes = self.ingestor.set_versions(doc_id_or_source, fields, actor or _local_actor())
        if any(changed for _, changed in changes):
            self.lexical.ensure_current()
        return changes

    def collections(self) -> dict[str, list[str]]:
        """Collection name -> the doc ids in it."""
        named: dict[str, list[str]] = {}
        for document in self.list_documents():
            for name in document.collections:
                named.setdefault(name, []).append(document.doc_id)
        return dict(sorted(named.items()))

    def flagged_passages(self, doc_id: str) -> list[dict]:
        """A document's chunks flagged at ingest as possibly poisoned, each with `reasons`, for review."""
        return [{**c, "reasons": flag_reasons(c[FLAGS_FIELD], c["text"])} for c in self.document_chunks(doc_id) if c.get(FLAGS_FIELD)]

    def document_chunks(self, doc_id: str) -> list[dict]:
        """Chunks of one document in order, for previews."""
        got = self.store.collection.get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
        if not got["ids"]:
            raise NotFound(f"No document {doc_id!r} in the library; `beacon docs list` shows the ids.")
        rows = [{"id": i, "text": t, **m} for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(rows, key=lambda r: r.get("position", 0))

    def document_text(self, doc_id: str) -> str:
        """The text Beacon extracted from a document, as stored: citation spans index into it."""
        meta = self._first_chunk(doc_id)
        text = self.ingestor.files.text(meta.get("text_sha256", ""))
        if text is None:
            raise NotFound(
                f"The extracted text of {doc_id!r} is not kept (it was ingested by an older Beacon); "
                f"run `beacon ingest {meta.get('source', 'SOURCE')}` again to keep it."
            )
        return text

    def passage(self, doc_id: str, page: int | None = None, span: tuple[int, int] | None = None) -> Passage:
        """A place in a document: one PDF page (its chunks' extent), a character span of its
        stored text (what a citation gives), or the whole text."""
        text = self.document_text(doc_id)
        meta = self._first_chunk(doc_id)
        if span is not None:
            start, end = span
            if not 0 <= start < end <= len(text):
                raise InvalidInput(f"The span {start}:{end} is outside the document's text (0:{len(text)}).")
        elif page is not None:
            # A chunk may run over a page break: its text is cut where each later page starts.
            pieces = [piece for c in self.document_chunks(doc_id) for piece in _paged_pieces(c)]
            on_page = [(a, b) for a, b, number in pieces if number == page]
            if not on_page:
                pages = sorted({number for _, _, number in pieces})
                raise NotFound(f"{doc_id!r} has no page {page}" + (f"; its pages are {pages[0]}–{pages[-1]}." if pages else " (it is not paged)."))
            start, end = min(a for a, _ in on_page), max(b for _, b in on_page)
        else:
            start, end = 0, len(text)
        return Passage(doc_id=doc_id, title=meta.get("title", ""), source=meta.get("source", ""), page=page, char_start=start, char_end=end,
                       text=text[start:end], before=text[max(0, start - PASSAGE_CONTEXT):start], after=text[end:end + PASSAGE_CONTEXT])

    def original_file(self, doc_id: str) -> Path:
        """The original file of a document as ingested (uploads and fetched URLs included)."""
        meta = self._first_chunk(doc_id)
        path = self.ingestor.files.original(meta.get("sha256", ""))
        if path is None:
            raise NotFound(f"The original of {doc_id!r} is not kept; run `beacon ingest {meta.get('source', 'SOURCE')}` again to keep it.")
        return path

    def page_count(self, doc_id: str) -> int:
        """How many pages a PDF document's original has (InvalidInput for other formats)."""
        return pdfpages.page_count(self._original_pdf(doc_id))

    def render_page(self, doc_id: str, page: int, quote: str | Sequence[str] | None = None) -> pdfpages.RenderedPage:
        """One page of a PDF document's original as a PNG, with the quoted passage(s) highlighted
        over their lines where the page holds them: what the source viewer shows."""
        quotes = [quote] if isinstance(quote, str) else list(quote or ())
        return pdfpages.render_page(self._original_pdf(doc_id), page, quotes)

    def _original_pdf(self, doc_id: str) -> Path:
        path = self.original_file(doc_id)
        if path.suffix.lower() != ".pdf":
            raise InvalidInput(f"{doc_id!r} is not a PDF ({path.suffix or 'no extension'}); `beacon show {doc_id}` prints its text.")
        return path

    def _first_chunk(self, doc_id: str) -> dict:
        chunks = self.store.document_chunks(doc_id)
        if not chunks:
            raise NotFound(f"No document {doc_id!r} in the library; `beacon docs list` shows the ids.")
        return next(iter(chunks.values()))

    def warm_up(self, background: bool = True) -> None:
        """Load the question-side model and the indexes now, so the first question is not the
        slow one; `background=False` leaves the multilingual index to `start_background_jobs`
        (a server calls it once it listens, so the build does not slow its start)."""
        self.embedder.load_query_runtime()
        self.referrals  # noqa: B018 - a broken referral table is a start-up error, not a chat error
        self.store.collection
        self.lexical.ensure_current()
        self.answerer.warm_up()
        if background:
            self.start_background_jobs()

    def refresh_multilingual_index(self, max_new: int | None = None) -> int:
        """Embed the library's new chunks with multilingual-e5 now (~7 chunks/s on 2 cores), so
        English questions get its vote and other languages need not wait. With `max_new`, more
        new chunks than that are left to `beacon serve`'s background build (hours at 100k).
        Returns how many chunks still lack a vector (0 when off or done)."""
        index = self.retriever.crosslingual
        if index is None:
            return 0
        if max_new is not None and (pending := index.pending()) > max_new:
            return pending
        index.build()
        return 0

    def start_background_jobs(self) -> None:
        """Build the multilingual index of the library (once per library change, ~10 chunks/s)
        in a background thread at the lowest CPU priority, so English questions are served at
        once and the first non-English one waits less."""
        if self.retriever.crosslingual is not None:
            threading.Thread(target=at_low_priority, args=(self.retriever.crosslingual.build,), name="beacon-e5-index", daemon=True).start()


def _paged_pieces(chunk: dict) -> list[tuple[int, int, int]]:
    """(start, end, page) in the stored text of each page's part of a PDF chunk (none for a
    chunk without a page or a span)."""
    start, end, page = chunk.get("char_start"), chunk.get("char_end"), chunk.get("page")
    if start is None or end is None or page is None:
        return []
    pieces, at = [], start
    for offset, number in parse_page_starts(chunk.get("page_starts")):
        pieces.append((at, start + offset, page))
        at, page = start + offset, number
    return pieces + [(at, end, page)]


def at_low_priority(job: Callable[[], None]) -> None:
    """Run a background job at the lowest CPU priority (Linux: per thread, inherited by the
    threads it starts), so that it takes the cores only when questions leave them idle.
    Public so that the tests can check the priority a job really runs at."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    job()


def _local_actor() -> str:
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local"


def _checked_history(history: list[dict[str, str]] | None) -> list[dict[str, str]]:
    if not history:
        return []
    if not isinstance(history, list) or not all(isinstance(m, dict) for m in history):
        raise InvalidInput("history must be a list of {'role': ..., 'content': ...} messages.")
    for m in history:
        if m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise InvalidInput(f"Each history message needs a role in {ROLES} and a text content, not {m!r:.80}.")
    return history[-MAX_HISTORY:]
