"""The Assistant: the use cases Beacon offers (ask, ingest, list, remove), over its parts.

It receives every part from the composition root (`assistant.factory.build_assistant`) and
holds no logic of its own beyond timing and input validation.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generator

from assistant.answerer import ExtractiveAnswerer
from assistant.embedder import Embedder
from assistant.errors import InvalidInput, NotFound
from assistant.journal import AUDIT_FILE_NAME, CHAT_LOG_FILE_NAME, AuditLog, ChatLog
from assistant.lexical import LexicalIndex
from assistant.models import Answer, DocumentSummary, IngestReport
from assistant.poison import FLAGS_FIELD, flag_reasons
from assistant.referral import Referral, ReferralTable, referral_for
from assistant.retriever import HybridRetriever
from assistant.settings import Settings
from assistant.store import ChunkStore
from ingest.pipeline import Ingestor, ProgressCallback

if TYPE_CHECKING:
    from assistant.followup import FollowUpRewriter
    from assistant.generative import GenerativeAnswerer

SHIPPED_REFERRALS = Path(__file__).resolve().parents[1] / "knowledge" / "referrals.toml"
MAX_QUESTION_CHARS = 2000
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
        rewriter: FollowUpRewriter | None = None,
    ):
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.lexical = lexical
        self.retriever = retriever
        self.answerer = answerer
        self.ingestor = ingestor
        if rewriter is None:
            from assistant.followup import FollowUpRewriter

            rewriter = FollowUpRewriter()
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
        return run_steps(self.ask_stream(question, k, filters, history, user, min_confidence))[1]

    def ask_stream(
        self,
        question: str,
        k: int | None = None,
        filters: dict[str, Any] | None = None,
        history: list[dict[str, str]] | None = None,
        user: str | None = None,
        min_confidence: float | None = None,
    ) -> Generator[Referral | str, None, Answer]:
        """`ask`, step by step, for a chat: yields the safety card first (when the question
        discloses danger), then the draft text as a generative answerer writes it (unverified,
        to be shown as provisional), and returns the final, verified `Answer`
        (`answer = yield from beacon.ask_stream(q)`). The extractive answerer yields no draft."""
        question = " ".join((question or "").split())
        if not question:
            raise InvalidInput("The question is empty; type a question about the library.")
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidInput(f"The question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}.")
        k = k or self.settings.top_k
        if not 1 <= k <= 50:
            raise InvalidInput(f"k must be between 1 and 50, not {k}.")
        history = _checked_history(history)
        referral = referral_for(question, self.referrals)
        if referral is not None:
            yield referral
        start = time.perf_counter()
        standalone = self.rewriter.rewrite(question, history) if history else question
        rewritten_at = time.perf_counter()
        retrieval = self.retriever.retrieve(standalone, k, filters)
        retrieved_at = time.perf_counter()
        if min_confidence is not None and not 0 <= min_confidence <= 1:
            raise InvalidInput(f"min_confidence must be between 0 and 1, not {min_confidence}.")
        if hasattr(self.answerer, "stream"):
            answer = yield from self.answerer.stream(retrieval, min_confidence)
        else:
            answer = self.answerer.answer(retrieval, min_confidence)
        done = time.perf_counter()
        answer.question = question  # as asked; the standalone form only steers retrieval and the answer
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
        return answer

    @cached_property
    def referrals(self) -> ReferralTable:
        path = self.settings.referrals_file or (SHIPPED_REFERRALS if SHIPPED_REFERRALS.exists() else None)
        return ReferralTable.load(path)

    @cached_property
    def chat_log(self) -> ChatLog | None:
        if not self.settings.chat_log:
            return None
        return ChatLog(Path(self.settings.data_dir) / CHAT_LOG_FILE_NAME, self.settings.chat_log_retention_days)

    @cached_property
    def audit_log(self) -> AuditLog:
        return AuditLog(Path(self.settings.data_dir) / AUDIT_FILE_NAME)

    def ingest(self, inputs: list[str], on_progress: ProgressCallback | None = None, actor: str | None = None) -> list[IngestReport]:
        """Add or update documents; each is audited with its own write (as `actor`, by default
        the local user), so a batch killed half-way leaves no stored document unaudited."""
        reports = self.ingestor.ingest(inputs, on_progress, actor or _local_actor())
        if any(r.status in ("added", "updated") for r in reports):
            self.lexical.ensure_current()  # rebuild BM25 now rather than on the next question
        return reports

    def list_documents(self) -> list[DocumentSummary]:
        self.store.refresh()  # a change a killed writer left pending is settled first
        return self.store.list_documents()

    def remove_document(self, doc_id_or_source: str, actor: str | None = None) -> tuple[str, int]:
        return self.ingestor.remove(doc_id_or_source, actor or _local_actor())

    def set_trusted(self, doc_id_or_source: str, trusted: bool = True, actor: str | None = None) -> list[tuple[str, bool]]:
        """Mark documents (id, source, or the folder they came from) trusted, so their flagged
        passages may be quoted, or untrusted: (doc_id, whether it changed) per document."""
        changes = self.ingestor.trust(doc_id_or_source, trusted, actor or _local_actor())
        if any(changed for _, changed in changes):
            self.lexical.ensure_current()
        return changes

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

    def warm_up(self, background: bool = True) -> None:
        """Load the question-side model and the indexes now, so the first question is not the
        slow one; `background=False` leaves the multilingual index to `start_background_jobs`
        (a server calls it once it listens, so the build does not slow its start)."""
        self.embedder.load_query_runtime()
        self.referrals  # noqa: B018 - a broken referral table is a start-up error, not a chat error
        self.store.collection
        self.lexical.ensure_current()
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
            threading.Thread(target=_at_low_priority, args=(self.retriever.crosslingual.build,), name="beacon-e5-index", daemon=True).start()


def _at_low_priority(job: Callable[[], None]) -> None:
    """Run a background job at the lowest CPU priority (Linux: per thread, inherited by the
    threads it starts), so that it takes the cores only when questions leave them idle."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    job()


def run_steps(stream: Generator) -> tuple[list, Any]:
    """Drive a step generator (`ask_stream`, an answerer's `stream`) to its end:
    (what it yielded, what it returned)."""
    steps = []
    while True:
        try:
            steps.append(next(stream))
        except StopIteration as done:
            return steps, done.value


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
